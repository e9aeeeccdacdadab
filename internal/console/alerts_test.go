package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestAlertPagesFollowRoles: read-only people see alerts, rules and watchlists but no triage,
// bulk, rule or member forms; analysts triage and change members but neither save rules nor
// create watchlists; every form needs the session's CSRF token; what people type is escaped.
func TestAlertPagesFollowRoles(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)

	reader := newBrowser(t, srv.URL)
	reader.login("rita", readerPassword)
	for path, hidden := range map[string]string{"/rules": `href="/rules/new"`, "/watchlists": `action="/watchlists"`, "/watchlists/1": `id="add-member"`, "/rules/1": `id="backtest"`} {
		resp, page := reader.get(path)
		if resp.StatusCode != http.StatusOK || strings.Contains(page, hidden) {
			t.Errorf("read-only %s: %d, shows %s: %v", path, resp.StatusCode, hidden, strings.Contains(page, hidden))
		}
	}
	if _, page := reader.get("/alerts"); !strings.Contains(page, `href="/alerts"`) || !strings.Contains(page, `href="/watchlists"`) || !strings.Contains(page, `href="/rules"`) {
		t.Errorf("navigation lacks the alert pages")
	}

	analyst := newBrowser(t, srv.URL)
	atok := analyst.login("ana", analystPassword)
	if resp, _ := analyst.post("/watchlists/1/members", url.Values{"email": {"x@corp.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("add a member without CSRF: %d", resp.StatusCode)
	}
	if resp, _ := analyst.post("/rules", url.Values{"csrf": {atok}, "name": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst saves a rule: %d", resp.StatusCode)
	}
	resp, page := analyst.post("/watchlists/1/members", url.Values{"csrf": {atok}, "email": {"<script>alert(1)</script>"}})
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(page, "<script>alert(1)") || !strings.Contains(page, "&lt;script&gt;") {
		t.Errorf("a bad address: %d, escaped? %s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `class="err"`) || !strings.Contains(page, "is not an email address") {
		t.Errorf("the API's message is not beside the field")
	}
	resp, _ = analyst.post("/watchlists/1/members", url.Values{"csrf": {atok}, "email": {"leaver@corp.example"}, "departure_date": {"2026-12-31"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("add a member: %d", resp.StatusCode)
	}
	if _, page := analyst.get("/watchlists/1"); !strings.Contains(page, "leaver@corp.example") || !strings.Contains(page, "2026-12-31") {
		t.Errorf("the member is not listed")
	}
	// The person's page shows the change made by hand in their history: what, when, by whom.
	if _, page := analyst.get("/people/leaver@corp.example"); !regexp.MustCompile(`id="person-history"[^\n]*added on <a href="/watchlists/1">departing_employee</a> \(departure 2026-12-31\) by hand, \w+</li>`).MatchString(page) {
		t.Errorf("the person's history lacks the change by hand")
	}
	// Alerts searched by text and exported as CSV by analysts; not exported by read-only users.
	if resp, page := analyst.get("/alerts?q=nobody-matches&from=2026-01-01"); resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="nobody-matches"`) ||
		!strings.Contains(page, `href="/alerts/export?from=2026-01-01&amp;q=nobody-matches"`) {
		t.Errorf("alert search: %d", resp.StatusCode)
	}
	if resp, page := analyst.get("/alerts/export?q=x"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(page, "id,created_at,rule_id,rule,") ||
		!strings.Contains(resp.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("alert export: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	if resp, _ := reader.get("/alerts/export"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only alert export: %d", resp.StatusCode)
	}
	if _, page := reader.get("/alerts"); strings.Contains(page, `id="export-alerts"`) {
		t.Errorf("read-only users are offered the export")
	}
	// Risks not covered: analysts read them (drafts shown as queries), read-only users may not;
	// the admin's draft link opens the new rule form prefilled.
	if resp, page := analyst.get("/rules/uncovered?days=3"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Risks not covered") ||
		!strings.Contains(page, "<strong>3</strong> days") {
		t.Errorf("analyst, risks not covered: %d", resp.StatusCode)
	}
	if resp, _ := reader.get("/rules/uncovered"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only, risks not covered: %d", resp.StatusCode)
	}
	if resp, page := analyst.get("/rules/uncovered?days=500"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "between 1 and 90") {
		t.Errorf("days=500: %d", resp.StatusCode)
	}
	admin := newBrowser(t, srv.URL)
	admin.login("alice", adminPassword)
	q := url.Values{"name": {"Uncovered: off_hours"}, "query": {"indicator:off_hours severity>=high"}, "kind": {"threshold"}, "severity": {"high"}}
	if resp, page := admin.get("/rules/new?" + q.Encode()); resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="Uncovered: off_hours"`) ||
		!strings.Contains(page, "indicator:off_hours severity&gt;=high") {
		t.Errorf("prefilled draft: %d", resp.StatusCode)
	}
}
