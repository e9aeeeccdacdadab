package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/app"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/store"
)

// The demo's departing employee (issue 16, "Demo mode"): a Box user on the departing employee
// watchlist, leaving in two weeks, who moves files out (a public link, then a share with a personal
// address) one every few minutes, so the shipped rule "Departing employee exfiltration" raises an
// alert with its events, risk and timeline within minutes of the demo's start, without setup.
const (
	demoDepartingFiles = 12
	demoPersonalMail   = "jordan.k.private@gmail.com"
)

// demoDepartingFirst is when the departing employee first acts (after the Box connection has
// started its stream), demoDepartingEvery how often then; variables: tests make them sooner.
var (
	demoDepartingFirst = 30 * time.Second
	demoDepartingEvery = 3 * time.Minute
)

// demoDepartingNames are the files the departing employee takes.
var demoDepartingNames = []string{"customer-list-2026.xlsx", "pricing-strategy-q3.pptx", "roadmap-confidential.pdf",
	"salary-bands.xlsx", "source-snapshot.zip", "board-deck-draft.pptx"}

// addDemoDeparting puts the demo's departing employee on the built-in departing employee watchlist
// (again on a restarted demo: the departure date moves with the clock) and returns them.
func addDemoDeparting(ctx context.Context, a *app.App, emu *boxemu.Emulator) (boxemu.User, error) {
	u, ok := demoDepartingUser(emu)
	if !ok {
		return u, fmt.Errorf("demo: the Box emulator has no active user to be the departing employee")
	}
	ws, err := a.Store.ListWatchlists(ctx)
	if err != nil {
		return u, err
	}
	for _, w := range ws {
		if w.Type != "departing_employee" || w.Name != "departing_employee" {
			continue
		}
		leaves := a.Clock.Now().AddDate(0, 0, 14).Format("2006-01-02")
		_, err := a.Store.PutWatchlistMembers(ctx, w.ID, []store.WatchlistMember{{Email: strings.ToLower(u.Login), DepartureDate: leaves,
			Notes: "Demo: resigned to join a competitor; moves files out by public link and to a personal address", AddedBy: "demo"}})
		return u, err
	}
	return u, fmt.Errorf("demo: the built-in departing employee watchlist is missing (migration 0016)")
}

// demoDepartingUser is the second active user (the first is the admin).
func demoDepartingUser(emu *boxemu.Emulator) (boxemu.User, bool) {
	n := 0
	for _, u := range emu.Users() {
		if u.Status != "active" || u.RootFolderID == "" {
			continue
		}
		if n++; n == 2 {
			return u, true
		}
	}
	return boxemu.User{}, false
}

// runDemoDeparting has the departing employee upload a file and share it by public link, then share
// another with their personal address, alternately, every demoDepartingEvery (the first soon after
// the start), demoDepartingFiles times.
func runDemoDeparting(ctx context.Context, emu *boxemu.Emulator, u boxemu.User, log *slog.Logger) {
	wait := demoDepartingFirst
	for i := 0; i < demoDepartingFiles; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = demoDepartingEvery
		name := demoDepartingNames[i%len(demoDepartingNames)]
		if i >= len(demoDepartingNames) {
			name = fmt.Sprintf("%d-%s", i/len(demoDepartingNames)+1, name)
		}
		id, _ := emu.Upload(u.ID, u.RootFolderID, name, []byte("demo content of "+name+"\n"))
		if id == "" {
			log.Warn("demo: the departing employee could not upload", "user", u.Login, "file", name)
			continue
		}
		if i%2 == 0 {
			emu.ShareLink(u.ID, id, "open")
		} else {
			emu.Collaborate(u.ID, "file", id, demoPersonalMail, "viewer")
		}
	}
}
