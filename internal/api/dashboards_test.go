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
)

// TestDashboards: both dashboards answer with one point per bucket for every vector, top lists,
// a drill-down and bounded answers; bad parameters are refused with what is wrong; the landing
// page is the Risk Exposure dashboard until an admin picks health, which a reader cannot.
func TestDashboards(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now().UTC()
	mk := func(v string, ago time.Duration, who string, a event.Action) *event.FileEvent {
		return &event.FileEvent{Timestamp: now.Add(-ago).Truncate(time.Microsecond),
			Event: event.Meta{Action: a, Observer: event.ObserverBox, ConnectionID: 1, VendorIDs: []string{v}},
			User:  event.User{Email: who}, File: event.File{ID: v, Name: v + ".xlsx", Category: event.CategorySpreadsheet},
			Risk: event.Risk{Score: 4, Severity: event.SeverityModerate}}
	}
	pub := mk("pub", 2*time.Hour, "bob@corp.example", event.ActionShared)
	pub.Sharing = event.Sharing{LinkScope: event.LinkAnyone}
	mail := mk("mail", 3*time.Hour, "carol@corp.example", event.ActionEmailed)
	mail.Email.Recipients = []string{"x@gmail.com"}
	old := mk("old", 20*24*time.Hour, "bob@corp.example", event.ActionDownloaded)
	if _, err := f.app.Store.InsertEvents(ctx, []*event.FileEvent{pub, mail, old}, false); err != nil {
		t.Fatal(err)
	}
	reader := f.userToken(t, auth.RoleReadOnly)

	code, body := f.do(t, reader, "GET", "/api/v1/dashboards/risk-exposure?range=24h", nil)
	if code != http.StatusOK {
		t.Fatalf("risk exposure: %d %s", code, body)
	}
	var ex client.RiskExposure
	json.Unmarshal(body, &ex)
	if ex.Range.Step != "hour" || len(ex.Series) != 4 || len(ex.Series[0].Points) < 24 || len(ex.Series[0].Points) > 25 {
		t.Fatalf("24h: range %+v, %d series of %d points", ex.Range, len(ex.Series), len(ex.Series[0].Points))
	}
	totals := map[string]int64{}
	for _, s := range ex.Series {
		totals[s.Name] = s.Total
	}
	if totals["public_link"] != 1 || totals["email"] != 1 || totals["endpoint"] != 0 {
		t.Errorf("24h totals %v (the download 20 days ago is outside)", totals)
	}
	if len(ex.TopPeople) != 2 || len(ex.TopDestinations) != 1 || ex.TopDestinations[0].Value != "gmail.com" {
		t.Errorf("top people %+v, destinations %+v", ex.TopPeople, ex.TopDestinations)
	}
	code, body = f.do(t, reader, "GET", "/api/v1/dashboards/risk-exposure?range=30d&person=BOB@corp.example", nil)
	json.Unmarshal(body, &ex)
	totals = map[string]int64{}
	for _, s := range ex.Series {
		totals[s.Name] = s.Total
	}
	if code != 200 || ex.Range.Step != "day" || ex.DrillKind != "person" || totals["public_link"] != 1 || totals["endpoint"] != 1 || totals["email"] != 0 {
		t.Errorf("bob over 30 days: %d %+v totals %v", code, ex.Range, totals)
	}

	code, body = f.do(t, reader, "GET", "/api/v1/dashboards/insider-risk?range=30d", nil)
	var tr client.InsiderRiskTrends
	json.Unmarshal(body, &tr)
	if code != 200 || len(tr.People.Points) < 30 || len(tr.Vectors) != 3 || len(tr.Categories) != 1 || tr.Categories[0].Events != 3 {
		t.Errorf("insider risk: %d %s", code, body)
	}

	for q, want := range map[string]string{
		"range=forever":                      "range",
		"range=400d":                         "at most 366 days",
		"range=30d&step=hour":                "step",
		"step=minute":                        "step",
		"top=0":                              "top",
		"top=101":                            "top",
		"from=yesterday":                     "from",
		"to=2026-11-01":                      "from",
		"range=7d&from=2026-11-01":           "range",
		"from=2026-11-02&to=2026-11-01":      "before",
		"vector=usb":                         "vector",
		"person=a@b.example&device=d/1":      "one of person, device and destination",
		"person=" + strings.Repeat("a", 400): "320",
		"person=a%00b@corp.example":          "NUL",
		"destination=%ff.example":            "UTF-8",
	} {
		code, body := f.do(t, reader, "GET", "/api/v1/dashboards/risk-exposure?"+q, nil)
		if code != http.StatusBadRequest || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %s, want 400 naming %q", q, code, body, want)
		}
	}

	// The landing page.
	code, body = f.do(t, reader, "GET", "/api/v1/settings/landing-page", nil)
	if code != 200 || !strings.Contains(string(body), `"risk_exposure"`) {
		t.Errorf("default landing page: %d %s", code, body)
	}
	if code, _ := f.do(t, reader, "PUT", "/api/v1/settings/landing-page", client.LandingPage{Page: "health"}); code != http.StatusForbidden {
		t.Errorf("a reader set the landing page: %d", code)
	}
	if code, body := f.do(t, f.admin, "PUT", "/api/v1/settings/landing-page", client.LandingPage{Page: "home"}); code != http.StatusBadRequest || !strings.Contains(string(body), "risk_exposure or health") {
		t.Errorf("bad landing page: %d %s", code, body)
	}
	if code, body := f.do(t, f.admin, "PUT", "/api/v1/settings/landing-page", client.LandingPage{Page: "health"}); code != 200 {
		t.Errorf("set landing page: %d %s", code, body)
	}
	if code, body := f.do(t, reader, "GET", "/api/v1/settings/landing-page", nil); code != 200 || !strings.Contains(string(body), `"health"`) {
		t.Errorf("landing page after the change: %d %s", code, body)
	}
}
