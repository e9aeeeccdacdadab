package googledrive

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	gemu "github.com/telltale-dev/telltale/internal/emulator/google"
)

// googleVendor runs the conformance suite against the Google emulator. Ground truth is the
// emulator's Activities; each is identified by the id the Reports API record of its action gets
// (Adapt's VendorID of the record's primary event), which the stored event carries whether it was
// first stored from the drive's changes feed (then enriched by the record) or from the record.
type googleVendor struct {
	t   *testing.T
	emu *gemu.Emulator
	url string
}

// streamRetention: Drive page tokens older than this are refused (the emulator's
// ChangeRetention; Drive documents no expiry, so the harness sets one to exercise the resync).
const streamRetention = 7 * 24 * time.Hour

// newGoogleVendor lists Reports records 1 to 20 minutes late (Google: 30 minutes to 3 hours;
// TestMergeOneEventPerAction runs with those), so that the suite's polls see both feeds.
func newGoogleVendor(t *testing.T, clk *clock.Fake) connectortest.Vendor {
	return googleVendorWith(t, clk, time.Minute, 20*time.Minute)
}

func googleVendorWith(t *testing.T, clk *clock.Fake, lagMin, lagMax time.Duration) *googleVendor {
	emu := gemu.New(gemu.Options{Seed: 21, Clock: clk, Users: 8, SuspendedUsers: 1, ArchivedUsers: 1, Groups: 3, FilesPerUser: 10,
		FoldersPerUser: 2, SharedDrives: 2, FilesPerDrive: 6, RateLimitPerMinute: -1, TokenTTL: time.Hour,
		ChangeRetention: streamRetention, ReportsLagMin: lagMin, ReportsLagMax: lagMax})
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return &googleVendor{t: t, emu: emu, url: srv.URL}
}

func (v *googleVendor) Connection() (string, map[string]string, map[string]string) {
	// No pace (rate_limit 0): on the suite's injected clock each paced request would wait for the
	// clock to be moved (a second a round), so a poll of many drives would take hours of fake
	// time; throttles are still honoured, and the pace itself is measured by the benchmark (a).
	return "C01emu7x9", map[string]string{"admin_email": v.emu.Users()[0].Email, "customer": "C01emu7x9", "rate_limit": "0",
			"token_url": v.url + "/token", "drive_url": v.url + "/drive/v3/", "directory_url": v.url + "/"},
		map[string]string{"service_account_key": string(v.emu.ServiceAccountKey(v.url + "/token"))}
}

// Owners lists the administrator last: the suite makes the first half of the active users'
// drives inaccessible, and Telltale acts as the administrator for discovery.
func (v *googleVendor) Owners() (active, inactive []string) {
	var admin string
	for _, u := range v.emu.Users() {
		switch {
		case u.Admin:
			admin = u.Email
		case u.Suspended || u.Archived:
			inactive = append(inactive, u.Email)
		default:
			active = append(active, u.Email)
		}
	}
	return append(active, admin), inactive
}

func (v *googleVendor) Files() map[string]int { return v.emu.FileCounts() }

// Groups are the groups' users, nested groups' members included (a group scope covers them,
// R2.5).
func (v *googleVendor) Groups() map[string][]string {
	gs := v.emu.Groups()
	byEmail := map[string]gemu.Group{}
	for _, g := range gs {
		byEmail[g.Email] = g
	}
	var expand func(g gemu.Group, seen map[string]bool) []string
	expand = func(g gemu.Group, seen map[string]bool) []string {
		var out []string
		for _, m := range g.Members {
			if sub, ok := byEmail[m]; ok {
				if !seen[m] {
					seen[m] = true
					out = append(out, expand(sub, seen)...)
				}
				continue
			}
			out = append(out, m)
		}
		return out
	}
	out := map[string][]string{}
	for _, g := range gs {
		out[g.Name] = expand(g, map[string]bool{g.Email: true})
	}
	return out
}

func (v *googleVendor) AddToGroup(group, email string) {
	if err := v.emu.AddToGroup(group, email); err != nil {
		v.t.Fatal(err)
	}
}

// RemoveFromGroup removes the member from the group, or from the nested group it belongs through.
func (v *googleVendor) RemoveFromGroup(group, email string) {
	if v.emu.RemoveFromGroup(group, email) == nil {
		return
	}
	for _, g := range v.emu.Groups() {
		if g.Name == group {
			for _, m := range g.Members {
				if v.emu.RemoveFromGroup(m, email) == nil {
					return
				}
			}
		}
	}
	v.t.Fatalf("%s is not a member of %s, directly or through a nested group", email, group)
}

func (v *googleVendor) AddUser(name string) string {
	u := v.emu.AddUser(name)
	if _, err := v.emu.Upload(u.Email, "", "first.docx", "", []byte("hello from a new hire")); err != nil {
		v.t.Fatal(err)
	}
	return u.Email
}

func (v *googleVendor) Act(n int) []connectortest.Truth {
	before := len(v.emu.Activities())
	v.emu.Step(n)
	acts := v.emu.Activities()[before:]
	// What a push-woken changes stream stores of a file is its state at the poll: the file's
	// actions of this batch are one event at least when one of them surely changes what the
	// index compares (new, new content, new name, new parent, trashed) and none deletes it (a
	// file made and deleted between two polls never shows; an already trashed one deleted shows
	// nothing new). Sharing changes show only where the targets differ (not a role change, not on
	// a shared drive): left to the polls, as downloads and views are.
	shows, deleted := map[string]bool{}, map[string]bool{}
	for _, a := range acts {
		switch a.Name {
		case "upload", "create", "edit", "rename", "move", "trash":
			shows[a.FileID] = true
		case "delete":
			deleted[a.FileID] = true
		}
	}
	var out []connectortest.Truth
	for _, a := range acts {
		tr := truthOf(a)
		if tr.PushFile != "" && (!shows[a.FileID] || deleted[a.FileID]) {
			tr.PushFile, tr.NoPush = "", true
		}
		out = append(out, tr)
	}
	return out
}

// truthOf is an activity as the suite's ground truth: identified by its Reports record's id, file
// activity when its event name is mapped (and, for a folder, when it is sharing).
func truthOf(a gemu.Activity) connectortest.Truth {
	r, mapped := lookup(a.Name)
	sharing := r.kind == kindUserAccess || r.kind == kindVisibility || r.kind == kindAccessScope || r.kind == kindMembership
	tr := connectortest.Truth{VendorID: reportsRecordID(a), Owner: strings.ToLower(a.Owner), Actor: a.Actor, Kind: a.Name,
		File: mapped && (a.DocType != "folder" || sharing), Shared: a.DriveID != ""}
	// A push wakes the drive's changes stream, which stores the action as an event on its file
	// (the Reports record, hours later, enriches it); downloads and views are not in the changes
	// feed, and folders are not files there: only the Reports stream's polls collect those.
	if a.Feed && a.DocType != "folder" {
		tr.PushFile = a.FileID
	} else {
		tr.NoPush = true
	}
	return tr
}

// reportsRecordID is Adapt's VendorID for the activity's primary event (the first of its record).
func reportsRecordID(a gemu.Activity) string {
	at, _ := time.Parse(time.RFC3339Nano, a.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	return at.UTC().Format(time.RFC3339Nano) + "/" + a.Qualifier + "/0/" + a.Name
}

func (v *googleVendor) Faults(rate, duplicates float64, reorder bool) {
	// The Reports stream re-reads its overlap window on every poll, and Google lists records out of
	// order: duplicates and reordering are the feed's own, whatever is asked.
	v.emu.SetFaults(gemu.Faults{Rate: rate, Kinds: []string{"500", "502", "503", "429", "truncate", "drop"}})
}

func (v *googleVendor) FaultsInjected() int64 { return int64(v.emu.Stats().Faults) }
func (v *googleVendor) RateLimit(perMinute int) {
	v.emu.SetRateLimit(perMinute, 10) // a burst of 10, as the suite expects
}
func (v *googleVendor) Throttled() int64               { return int64(v.emu.Stats().Throttled) }
func (v *googleVendor) RetriedEarly() int64            { return int64(v.emu.Stats().EarlyRetries) }
func (v *googleVendor) StreamRetention() time.Duration { return streamRetention }

func (v *googleVendor) Inaccessible(emails []string, yes bool) {
	for _, e := range emails {
		v.emu.SetDriveDisabled(e, yes)
	}
}

func (v *googleVendor) DuringIndex(fn func()) { v.emu.DuringIndex(fn) }

// DropPushes loses the emulator's channel notifications (message numbers still advance, as for a
// notification Google sent that never arrived).
func (v *googleVendor) DropPushes(drop bool)   { v.emu.LosePushes(drop) }
func (v *googleVendor) PushesDelivered() int64 { return int64(v.emu.Stats().PushDeliveries) }
func (v *googleVendor) ExpireCursor()          { v.emu.ExpireNextPageToken() }
func (v *googleVendor) CursorsExpired() int64  { return int64(v.emu.Stats().ExpiredPageTokens) }

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{Connector: New(), NewVendor: newGoogleVendor})
}
