package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestAlertsAndRulesCommands: rules list shows the templates; rules create refuses a bad query with
// the parser's suggestion; rules test backtests; alerts list, show and update (one, and several
// at once) work over the API.
func TestAlertsAndRulesCommands(t *testing.T) {
	a, url := startServer(t)
	ctx := context.Background()
	out, errs, code := run(t, url, "", "rules", "list")
	if code != 0 || !strings.Contains(out, "Public link to a sensitive file") {
		t.Fatalf("rules list: %d %s %s", code, out, errs)
	}
	_, errs, code = run(t, url, "", "rules", "create", "bad", "--query", "action:shared actr:bob", "--params", `{"value":1}`)
	if code == 0 || !strings.Contains(errs, `did you mean "actor"?`) {
		t.Fatalf("bad rule: %d %s", code, errs)
	}
	out, errs, code = run(t, url, "", "rules", "create", "Downloads", "--query", "action:downloaded", "--params", `{"value":2}`, "--severity", "high")
	if code != 0 || !strings.Contains(out, `created rule "Downloads"`) {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}

	if err := a.Alerts.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := a.Store.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var evs []*event.FileEvent
	for i := range 4 {
		evs = append(evs, &event.FileEvent{Timestamp: now.Add(-time.Duration(i) * time.Minute),
			Event: event.Meta{Action: event.ActionDownloaded, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{fmt.Sprint("v", i)}},
			User:  event.User{Email: fmt.Sprintf("p%d@corp.example", i%2)}, File: event.File{ID: fmt.Sprint("f", i), Name: fmt.Sprint("file", i, ".pdf")}})
	}
	if _, err := a.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := a.Alerts.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	out, errs, code = run(t, url, "", "rules", "test", "Downloads", "--days", "1")
	if code != 0 || !strings.HasPrefix(out, "2 alerts") || !strings.Contains(out, "p0@corp.example") {
		t.Fatalf("rules test: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "alerts", "list", "--state", "open", "-o", "json")
	var l client.AlertList
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Items) != 2 {
		t.Fatalf("alerts list: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "alerts", "show", l.Items[0].ID)
	if code != 0 || !strings.Contains(out, "file") || !strings.Contains(out, "raised") || !strings.Contains(out, "Downloads") {
		t.Fatalf("alerts show: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "alerts", "update", l.Items[0].ID, "--state", "in_progress", "--assignee", "admin", "--note", "looking")
	if code != 0 || !strings.Contains(out, "in_progress") {
		t.Fatalf("update one: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "alerts", "update", l.Items[0].ID, l.Items[1].ID, "--state", "resolved", "--resolution", "false_positive")
	if code != 0 || !strings.Contains(out, "2 alerts changed") {
		t.Fatalf("bulk: %d %s %s", code, out, errs)
	}
	out, _, _ = run(t, url, "", "alerts", "list", "--state", "resolved", "-o", "csv")
	if strings.Count(out, "false_positive")+strings.Count(out, "resolved") < 2 {
		t.Errorf("resolved csv: %s", out)
	}
}
