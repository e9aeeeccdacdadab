package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestBrowserHealth drives the health page in headless Chromium as a read-only user, over real
// data: a Box connection collecting from the emulator (its stream's progress recorded by
// collection), a deauthorized Google Drive connection (a blind spot, listed first) whose audit
// feed missed files, a rule that never fired, a watchlist member without a monitored source, and
// two devices of which one is silent. Every warning shows; the feeds warning goes once the late
// audit records are counted. Every page passes axe-core.
func TestBrowserHealth(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true, func(c *config.Config) { c.DeviceSilent = time.Hour })
	ctx := context.Background()
	api := client.New(ta.URL, bootstrapToken)
	st := ta.App.Store
	box, err := api.CreateConnection(ctx, ta.boxConnection("Box"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := st.CreateConnection(ctx, store.Connection{Name: "Old Drive", Service: "google_drive", ServiceType: "cloud", Status: "deauthorized", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	hour := now.Add(-15 * time.Hour).Truncate(time.Hour)
	var counts []store.FeedCount
	for _, f := range []string{"f1", "f2", "f3", "f4"} {
		counts = append(counts, store.FeedCount{ConnectionID: old.ID, Hour: hour, FileID: f, Feed: "changes", N: 1})
		if f != "f1" {
			counts = append(counts, store.FeedCount{ConnectionID: old.ID, Hour: hour, FileID: f, Feed: "reports", N: 1})
		}
	}
	if err := st.AddFeedCounts(ctx, counts); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordThrottle(ctx, store.Throttle{ConnectionID: old.ID, At: now.Add(-3 * time.Hour), Until: now.Add(-3*time.Hour + 90*time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAlertRule(ctx, store.AlertRule{Name: "Never fires", Query: "file.name:nothing", Kind: "threshold", Params: []byte(`{}`), Severity: "low",
		Enabled: true, CreatedAt: now.AddDate(0, 0, -30), UpdatedAt: now.AddDate(0, 0, -30)}); err != nil {
		t.Fatal(err)
	}
	wls, err := api.Watchlists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.AddWatchlistMembers(ctx, wls.Items[0].ID, []client.WatchlistMember{{Email: "nobody@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	sec, err := st.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "s", Prefix: "p", Hash: []byte("h"), ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for i, seen := range []time.Time{now.Add(-time.Minute), now.Add(-2 * time.Hour)} {
		if _, err := st.CreateDevice(ctx, store.Device{PublicKey: []byte{byte(i)}, SecretID: sec.ID, HostName: "h", EnrolledAt: seen, LastCheckInAt: seen}); err != nil {
			t.Fatal(err)
		}
	}
	// Collection records the Box stream's pages: wait for one.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		h, err := api.Health(ctx)
		if err == nil && len(h.Connections) == 2 && h.Connections[1].StreamsTotal > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream of the Box connection recorded: %+v %v", h.Connections, err)
		}
	}

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "rita"), chromedp.SendKeys(chromedp.CSS("#password"), readerPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second) // sign-in lands on the dashboard

	u.step = "health"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/health"]`)))
	u.waitText("h1", "Environment health", 10*time.Second)
	u.waitText("#blind-spots", "1 blind spot", time.Second)
	if row := u.text("#health-connections tbody tr:nth-child(1)"); !strings.Contains(row, "Old Drive") || !strings.Contains(row, "Blind spot") || !strings.Contains(row, "1 in 24 h (2m0s)") {
		t.Errorf("first row (the blind spot, throttled once): %q", row)
	}
	if row := u.text("#health-connections tbody tr:nth-child(2)"); !strings.Contains(row, "Box") || !strings.Contains(row, "Monitoring") && !strings.Contains(row, "indexing") {
		t.Errorf("second row: %q", row)
	}
	warns := u.text("#warnings")
	for _, want := range []string{"feeds_disagree", "1 of 4 files", "rule_never_fired", "Never fires", "watchlist_unmonitored", "nobody@corp.example"} {
		if !strings.Contains(warns, want) {
			t.Errorf("warnings lack %q: %s", want, warns)
		}
	}
	u.waitText("#completeness", "changes: 4 reports: 3", time.Second)
	u.waitText("#device-coverage", "1 of 2 active devices checked in within 1h0m0s (50%)", time.Second)
	if got := u.text("#conn-" + box.ID); !strings.Contains(got, "streams (") {
		t.Errorf("Box details: %q", got)
	}
	u.do(chromedp.Click(chromedp.CSS("#conn-" + box.ID + " summary")))
	u.waitText("#conn-"+box.ID, "most lagging first", 5*time.Second)
	u.checkPage("health-warnings")

	u.step = "the late audit records arrive"
	if err := st.AddFeedCounts(ctx, []store.FeedCount{{ConnectionID: old.ID, Hour: hour, FileID: "f1", Feed: "reports", N: 1}}); err != nil {
		t.Fatal(err)
	}
	u.open("/health")
	u.waitText("#completeness", "changes: 4 reports: 4", 10*time.Second)
	if w := u.text("#warnings"); strings.Contains(w, "feeds_disagree") || !strings.Contains(w, "rule_never_fired") {
		t.Errorf("after the late records: %s", w)
	}
	u.checkClean()
}
