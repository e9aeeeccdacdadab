package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/internal/agent"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestBrowserDevices drives the devices pages in headless Chromium: an admin creates a deployment
// secret (shown once), two real agents enrol with it (one outdated) beside a device that went
// silent; the list flags them, sorts by OS and filters by flag; deactivating the device of a
// person in an open case is refused with the reason; another is deactivated and reactivated; the
// secret is revoked and reactivated. Every page passes axe-core.
func TestBrowserDevices(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true, func(c *config.Config) { c.AgentVersion = "1.4.0"; c.DeviceSilent = time.Hour })
	ctx := context.Background()

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second)

	u.step = "create a deployment secret"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/devices"]`)))
	u.waitText("h1", "Devices", 10*time.Second)
	u.waitText("main", "No devices", time.Second)
	u.do(chromedp.Click(chromedp.CSS(`main a[href="/devices/secrets"]`)))
	u.waitText("h1", "Deployment secrets", 10*time.Second)
	u.do(chromedp.Clear(chromedp.CSS("#expires_in")), chromedp.SendKeys(chromedp.CSS("#expires_in"), "500d"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Finance laptops"), chromedp.Click(chromedp.CSS(`form[action="/devices/secrets"] button`)))
	u.waitText("#page-error", "at most 366d", 10*time.Second)
	u.do(chromedp.Clear(chromedp.CSS("#expires_in")), chromedp.SendKeys(chromedp.CSS("#expires_in"), "30d"), chromedp.Click(chromedp.CSS(`form[action="/devices/secrets"] button`)))
	secret := u.waitText("#secret-value", "tds_", 10*time.Second)
	u.waitText("#secrets", "Finance laptops", time.Second)
	u.checkPage("deployment-secrets")
	u.open("/devices/secrets")
	if strings.Contains(u.text("main"), secret) {
		t.Error("the secret is shown again")
	}

	u.step = "agents enrol"
	for _, a := range []struct{ host, version, email string }{{"ann-laptop", "1.4.0", "ann@corp.example"}, {"bob-desktop", "1.2.0", "bob@corp.example"}} {
		o := agent.Options{StateDir: t.TempDir(), Version: a.version, HostName: a.host, UserEmail: a.email, OS: "linux", Arch: "amd64"}
		if _, err := agent.Enroll(ctx, ta.URL, secret, o); err != nil {
			t.Fatal(err)
		}
		ag, err := agent.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ag.CheckIn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	l, _ := ta.App.Store.ListDeploymentSecrets(ctx)
	if _, err := ta.App.Store.CreateDevice(ctx, store.Device{PublicKey: []byte("k-silent"), SecretID: l[0].ID, HostName: "cara-mac", OS: "darwin", AgentVersion: "1.4.0",
		Person: "cara@corp.example", EnrolledAt: time.Now().Add(-48 * time.Hour), LastCheckInAt: time.Now().Add(-3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	u.step = "devices list with flags"
	u.open("/devices")
	u.waitText("#devices", "ann-laptop", 10*time.Second)
	if row := u.text("#devices tbody tr:nth-child(1)"); !strings.Contains(row, "cara-mac") || !strings.Contains(row, "silent") {
		t.Errorf("first row (oldest check-in) %q", row)
	}
	bob := u.eval(`[...document.querySelectorAll("#devices tbody tr")].find(r => r.innerText.includes("bob-desktop")).innerText`)
	if !strings.Contains(bob, "outdated") || strings.Contains(bob, "silent") {
		t.Errorf("bob's row %q", bob)
	}
	ann := u.eval(`[...document.querySelectorAll("#devices tbody tr")].find(r => r.innerText.includes("ann-laptop")).innerText`)
	if strings.Contains(ann, "outdated") || strings.Contains(ann, "silent") {
		t.Errorf("ann's row %q", ann)
	}
	u.checkPage("devices")

	u.step = "sort by OS"
	u.do(chromedp.Click(chromedp.CSS("#sort-os")))
	u.waitText(`th[aria-sort="ascending"]`, "OS", 10*time.Second)
	if first := u.text("#devices tbody tr:nth-child(1)"); !strings.Contains(first, "cara-mac") {
		t.Errorf("by OS, first %q", first)
	}
	u.do(chromedp.Click(chromedp.CSS("#sort-os")))
	u.waitText(`th[aria-sort="descending"]`, "OS", 10*time.Second)
	if last := u.text("#devices tbody tr:nth-child(3)"); !strings.Contains(last, "cara-mac") {
		t.Errorf("by OS descending, last %q", last)
	}

	u.step = "filter outdated"
	u.open("/devices")
	u.do(chromedp.SetValue(chromedp.CSS(`select[name="flag"]`), "outdated"), chromedp.Click(chromedp.CSS(`form.filters button`)))
	u.waitText("#devices-count", "1 of 1", 10*time.Second)
	u.waitText("#devices", "bob-desktop", time.Second)

	u.step = "deactivation refused for a person in an open case"
	c, err := ta.App.Store.CreateCase(ctx, store.Case{Title: "Exfil", State: store.CaseOpen, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ta.App.Store.AddCaseItems(ctx, c.ID, store.CaseItems{People: []string{"ann@corp.example"}}, "alice", time.Now())
	u.open("/devices?host=ann")
	u.do(chromedp.Click(chromedp.CSS(`#devices button[aria-label="Deactivate ann-laptop"]`)))
	u.waitText("#page-error", "is in open case", 10*time.Second)
	u.checkPage("device-deactivation-refused")

	u.step = "deactivate and reactivate"
	u.open("/devices?host=bob")
	u.do(chromedp.Click(chromedp.CSS(`#devices button[aria-label="Deactivate bob-desktop"]`)))
	u.waitText("main", "is deactivated", 10*time.Second)
	u.open("/devices?state=inactive")
	u.waitText("#devices", "inactive (by alice)", 10*time.Second)
	u.do(chromedp.Click(chromedp.CSS(`#devices button[aria-label="Reactivate bob-desktop"]`)))
	u.waitText("main", "is active again", 10*time.Second)

	u.step = "revoke and reactivate the secret"
	u.open("/devices/secrets")
	u.do(chromedp.Click(chromedp.CSS(`#secrets button[aria-label="Revoke Finance laptops"]`)))
	u.waitText("main", "is revoked", 10*time.Second)
	u.waitText("#secrets", "revoked", time.Second)
	u.do(chromedp.Click(chromedp.CSS(`#secrets button[aria-label="Reactivate Finance laptops"]`)))
	u.waitText("main", "is active again", 10*time.Second)
	u.waitText("#secrets", "active", time.Second)
	u.checkClean()

	audit, _ := ta.App.Store.ListAudit(ctx, store.AuditFilter{Limit: 100})
	seen := map[string]bool{}
	for _, e := range audit {
		seen[e.Action+" "+e.Outcome] = true
	}
	for _, want := range []string{"deployment_secret.create ok", "deployment_secret.create 422 Unprocessable Entity", "device.enroll ok", "device.deactivate 409 Conflict",
		"device.deactivate ok", "device.reactivate ok", "deployment_secret.revoke ok", "deployment_secret.reactivate ok"} {
		if !seen[want] {
			t.Errorf("not in the audit log: %s", want)
		}
	}
}
