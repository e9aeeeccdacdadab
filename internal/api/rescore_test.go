package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestRescoreAPI: an admin starts a re-score job over a range (a bad range is refused naming
// the field; a second job while one runs is refused; a reader may look but not start); the job
// applies the settings saved when it started and shows its progress; starting and cancelling
// are audited.
func TestRescoreAPI(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, err := f.app.Store.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	e := &event.FileEvent{Timestamp: at, Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{"v1"}},
		User: event.User{Email: "bob@corp.example"}, File: event.File{ID: "f1", Name: "main.go", Category: event.CategoryOf("main.go", "")},
		Sharing: event.Sharing{LinkScope: event.LinkAnyone},
		Risk:    event.Risk{Score: 7, Severity: event.SeverityHigh, Indicators: []string{"public_link", "category_source_code"}}}
	if _, err := f.app.Store.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
		t.Fatal(err)
	}
	code, body := f.do(t, f.admin, "PUT", "/api/v1/settings", client.Settings{TrustedDomains: []string{"corp.example"}, RetentionDays: 30,
		Risk: &client.RiskSettings{Weights: map[string]int{"public_link": 9}}, TrustedActivities: []client.TrustedActivity{{Kind: "recipient", Value: "ann@ally.example", Reason: "NDA"}}})
	if code != 200 {
		t.Fatalf("settings: %d %s", code, body)
	}
	reader := f.userToken(t, auth.RoleReadOnly)
	req := client.RescoreRequest{From: at.Add(-time.Hour), To: at.Add(time.Hour)}
	if code, _ := f.do(t, reader, "POST", "/api/v1/risk/rescore", req); code != http.StatusForbidden {
		t.Errorf("a reader started a job: %d", code)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/risk/rescore", client.RescoreRequest{From: at, To: at.Add(-time.Hour)})
	if p := problem(t, body); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "to" || !strings.Contains(p.Errors[0].Message, "is not after from") {
		t.Errorf("an empty range: %d %s", code, body)
	}
	if js, _ := f.app.Store.ListRescoreJobs(ctx, 0); len(js) != 0 {
		t.Fatalf("a refused request made a job: %+v", js)
	}
	var j client.RescoreJob
	code, body = f.do(t, f.admin, "POST", "/api/v1/risk/rescore", req)
	json.Unmarshal(body, &j)
	if code != http.StatusCreated || j.State != "running" || j.Total != 1 || j.Risk == nil || j.Risk.Weights["public_link"] != 9 || j.CreatedBy == "" ||
		len(j.TrustedActivities) != 1 || j.TrustedActivities[0].Value != "ann@ally.example" {
		t.Fatalf("start: %d %s", code, body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/risk/rescore", req); code != http.StatusConflict || !strings.Contains(string(body), "running already") {
		t.Errorf("a second job: %d %s", code, body)
	}
	id := j.ID
	for done := false; !done; {
		n, _ := json.Number(id).Int64()
		if done, err = f.app.Rescore.Step(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	code, body = f.do(t, reader, "GET", "/api/v1/risk/rescore/"+id, nil)
	json.Unmarshal(body, &j)
	if code != 200 || j.State != "done" || j.Scanned != 1 || j.Changed != 1 || j.FinishedAt == nil {
		t.Errorf("after running: %d %s", code, body)
	}
	if got, _ := f.app.Store.GetEvent(ctx, e.Event.ID); got.Risk.Score != 12 || got.Risk.Severity != event.SeverityCritical {
		t.Errorf("the event after the job: %+v", got.Risk)
	}
	var list client.RescoreJobs
	code, body = f.do(t, reader, "GET", "/api/v1/risk/rescore", nil)
	json.Unmarshal(body, &list)
	if code != 200 || len(list.Items) != 1 || list.Items[0].ID != id {
		t.Errorf("list: %d %s", code, body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/risk/rescore/"+id+"/cancel", nil); code != http.StatusConflict {
		t.Errorf("cancelling a finished job: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/risk/rescore", req)
	json.Unmarshal(body, &j)
	code, body = f.do(t, f.admin, "POST", "/api/v1/risk/rescore/"+j.ID+"/cancel", nil)
	if json.Unmarshal(body, &j); code != 200 || j.State != "cancelled" {
		t.Errorf("cancel: %d %s", code, body)
	}
	if code, _ := f.do(t, f.admin, "GET", "/api/v1/risk/rescore/999", nil); code != http.StatusNotFound {
		t.Errorf("no such job: %d", code)
	}
	for _, action := range []string{"risk.rescore", "risk.rescore_cancel"} {
		_, body = f.do(t, f.admin, "GET", "/api/v1/audit?action="+action, nil)
		var audit client.AuditList
		json.Unmarshal(body, &audit)
		if len(audit.Items) == 0 {
			t.Errorf("no %s in the audit log: %s", action, body)
		}
	}
}
