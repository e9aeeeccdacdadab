package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/bench"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestPushWakesLeaseHolder: two `telltale serve` nodes on one PostgreSQL collect from the Box
// emulator, which sends a webhook for every upload to the nodes' public URL: a loopback proxy
// whose target the test chooses. The connection's one activity stream is in one node's share;
// uploads alternate between the two nodes as the webhook's target, so half of them reach the node
// that does not run the stream. The nodes look for due work every 15 s (TELLTALE_WORK_POLL) and
// poll Box every 10 min, so only the webhook can bring an event in quickly. Without NOTIFY
// (TELLTALE_WORK_NOTIFY=false) a push to the other node waits for the holder's poll; with it every
// upload is stored (its insert time, stamped by the store) within 2 s of the upload. Both are
// measured and logged; the test fails when a push takes longer than 2 s with NOTIFY, and when none
// took longer without it (then it could not tell).
func TestPushWakesLeaseHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	const (
		workPoll = 15 * time.Second
		fast     = 2 * time.Second
	)
	emu := boxemu.New(boxemu.Options{Seed: 11, Users: 4, FilesPerUser: 10, FoldersPerUser: 2, Depth: 1, RateLimitPerMinute: -1, MaxFileSize: 512})
	emuURL := serveLoopback(t, emu.Handler(), emu.Close)
	var target atomic.Pointer[url.URL]
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target.Load()) }}
	publicURL := serveLoopback(t, proxy, func() {})
	bin := buildBinary(t)

	token := "wake-test-bootstrap-token-0123456789"
	key := randomKey(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	env := func(i int, workPoll time.Duration, notify bool) []string {
		return []string{"TELLTALE_DATA_DIR=" + dirs[i], "TELLTALE_DATABASE=" + dsn, "TELLTALE_BOOTSTRAP_TOKEN=" + token, "TELLTALE_SECRET_KEY=" + key,
			"TELLTALE_LOG_LEVEL=warn", "TELLTALE_ALLOW_LOOPBACK_VENDORS=true", "TELLTALE_PUBLIC_URL=" + publicURL,
			"TELLTALE_POLL_INTERVAL=10m", "TELLTALE_DISCOVERY_INTERVAL=10m", "TELLTALE_WORK_LEASE=8s",
			"TELLTALE_WORK_POLL=" + workPoll.String(), fmt.Sprintf("TELLTALE_WORK_NOTIFY=%t", notify)}
	}
	nodes := make([]*node, 2)
	start := func(workPoll time.Duration, notify bool) {
		for i := range nodes {
			if nodes[i] != nil {
				nodes[i].cmd.Process.Signal(syscall.SIGTERM)
				nodes[i].cmd.Wait()
			}
		}
		for i := range nodes {
			nodes[i] = startNode(t, bin, env(i, workPoll, notify))
		}
		u, _ := url.Parse(nodes[0].url)
		target.Store(u)
		// Both nodes count each other after their first heartbeats (every lease/4 = 2 s).
		time.Sleep(5 * time.Second)
	}
	// Set up quickly: connection, indexing, webhooks on every user's top-level folders.
	start(200*time.Millisecond, true)
	conn := map[string]any{
		"name": "Box wake", "service": "box", "tenant_id": "900001",
		"settings": map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com",
			"api_url": emuURL, "rate_limit": "0"},
		"credentials": map[string]string{"client_secret": "emu-client-secret", "webhook_primary_key": "emu-primary-key"},
	}
	code, resp, err := api(ctx, nodes[0].url, token, "POST", "/api/v1/connections", conn)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("creating the connection: %d %s %v", code, resp, err)
	}
	var c struct{ ID string }
	json.Unmarshal(resp, &c)
	waitStatus(t, nodes[0], token, c.ID, "monitoring")
	var active []boxemu.User
	for _, u := range emu.Users() {
		if u.Status == "active" {
			active = append(active, u)
		}
	}
	folders, err := bench.BoxTopFolders(ctx, emuURL, active)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, fs := range folders {
		want += len(fs)
	}
	for deadline := time.Now().Add(60 * time.Second); emu.Webhooks() < want; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d webhooks registered after 60 s\n%s\n%s", emu.Webhooks(), want, nodes[0].stderr, nodes[1].stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}

	st, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var seq int
	// round uploads one file with the webhook going to node i and returns the time from the
	// upload to the event's insert time, or wait if it was not stored by then.
	round := func(i int, wait time.Duration) time.Duration {
		after, err := st.NewestEventID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(nodes[i].url)
		target.Store(u)
		user := active[seq%len(active)]
		fs := folders[user.ID]
		seq++
		at := time.Now()
		_, a := emu.Upload(user.ID, fs[seq%len(fs)], fmt.Sprintf("wake-%03d.txt", seq), []byte(fmt.Sprintf("wake probe %d", seq)))
		if a.EventID == "" {
			t.Fatalf("the emulator refused upload %d", seq)
		}
		for time.Since(at) < wait {
			evs, err := st.ListEvents(ctx, store.EventFilter{AfterID: after, Limit: 100, IncludeHeld: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				for _, v := range e.Event.VendorIDs {
					if v == a.EventID {
						return e.Event.Inserted.Sub(at)
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		return wait
	}
	measure := func(label string, rounds int, wait time.Duration) (lat [2][]time.Duration) {
		for r := range rounds {
			i := r % 2
			d := round(i, wait)
			lat[i] = append(lat[i], d)
			time.Sleep(300 * time.Millisecond)
		}
		t.Logf("%s: push to node 0: %v; push to node 1: %v (work poll %s)", label, rounded(lat[0]), rounded(lat[1]), workPoll)
		return lat
	}

	start(workPoll, false)
	off := measure("without NOTIFY", 4, workPoll+5*time.Second)
	start(workPoll, true)
	on := measure("with NOTIFY", 8, 10*time.Second)

	slowOff := 0
	for _, ds := range off {
		for _, d := range ds {
			if d > fast {
				slowOff++
			}
		}
	}
	if slowOff == 0 {
		t.Errorf("without NOTIFY every push was stored within %s: the stream was not left to one node's share, so the test cannot tell", fast)
	}
	var all []time.Duration
	for i, ds := range on {
		for _, d := range ds {
			all = append(all, d)
			if d > fast {
				t.Errorf("with NOTIFY, a push to node %d was stored after %s, want <= %s (work poll %s)", i, d.Round(time.Millisecond), fast, workPoll)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	t.Logf("with NOTIFY: median %s, max %s over %d pushes", all[len(all)/2].Round(time.Millisecond), all[len(all)-1].Round(time.Millisecond), len(all))
	if t.Failed() {
		t.Logf("node 0:\n%s\nnode 1:\n%s", nodes[0].stderr, nodes[1].stderr)
	}
}

func rounded(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond).String()
	}
	return out
}
