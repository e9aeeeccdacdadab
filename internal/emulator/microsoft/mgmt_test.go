package microsoft

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/kit/faults"
)

const testPublisher = "46b472a7-c68e-4adf-8ade-3db49497518e"

// manageToken is a Management Activity API token (scope manage.office.com).
func (h *harness) manageToken() string {
	h.t.Helper()
	st, m := h.token(h.emu.TenantID(), map[string]string{"scope": ScopeManage})
	if st != 200 {
		h.t.Fatalf("token: %d %v", st, m)
	}
	return m["access_token"].(string)
}

type mresp struct {
	status int
	header http.Header
	raw    []byte
}

func (r mresp) code() string {
	var m struct{ Error struct{ Code string } }
	json.Unmarshal(r.raw, &m)
	return m.Error.Code
}

func (r mresp) array() []map[string]any {
	var out []map[string]any
	json.Unmarshal(r.raw, &out)
	return out
}

// mg calls the Management API: op is relative to the feed root ("subscriptions/list?...") or an
// absolute URL; PublisherIdentifier is added unless the query already names one or noPub.
func (h *harness) mg(tok, method, op string, noPub ...bool) mresp {
	h.t.Helper()
	u := op
	if !strings.HasPrefix(op, "http") {
		u = h.srv.URL + "/api/v1.0/" + h.emu.TenantID() + "/activity/feed/" + op
	}
	if len(noPub) == 0 && !strings.Contains(u, "PublisherIdentifier") {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "PublisherIdentifier=" + testPublisher
	}
	req, _ := http.NewRequest(method, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return mresp{resp.StatusCode, resp.Header, raw}
}

// feed reads every record the subscription lists for a window, following NextPageUri, and
// returns them with the number of pages (with a fresh token: tests move the clock by hours).
func (h *harness) feed(_, window string) ([]map[string]any, int) {
	h.t.Helper()
	return h.feedOf(ContentSharePoint, window)
}

func (h *harness) feedOf(ct, window string) ([]map[string]any, int) {
	h.t.Helper()
	tok := h.manageToken()
	var out []map[string]any
	pages := 0
	u := "subscriptions/content?contentType=" + ct + window
	for u != "" {
		r := h.mg(tok, "GET", u)
		if r.status != 200 {
			h.t.Fatalf("content: %d %s", r.status, r.raw)
		}
		pages++
		for _, c := range r.array() {
			b := h.mg(tok, "GET", c["contentUri"].(string))
			if b.status != 200 {
				h.t.Fatalf("blob: %d %s", b.status, b.raw)
			}
			out = append(out, b.array()...)
		}
		u = r.header.Get("NextPageUri")
	}
	return out, pages
}

func TestManageSubscriptions(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.manageToken()
	if r := h.mg(tok, "POST", "subscriptions/start?contentType=Audit.SharePoint"); r.status != 200 || !strings.Contains(string(r.raw), `"status":"enabled"`) {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	if r := h.mg(tok, "POST", "subscriptions/start?contentType=Audit.SharePoint"); r.status != 400 || r.code() != "AF20024" {
		t.Fatalf("start again: %d %s", r.status, r.raw)
	}
	r := h.mg(tok, "GET", "subscriptions/list")
	if l := r.array(); r.status != 200 || len(l) != 1 || l[0]["contentType"] != "Audit.SharePoint" || l[0]["status"] != "enabled" || l[0]["webhook"] != nil {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	if r := h.mg(tok, "POST", "subscriptions/stop?contentType=Audit.SharePoint"); r.status != 200 || len(r.raw) != 0 {
		t.Fatalf("stop: %d %s", r.status, r.raw)
	}
	if r := h.mg(tok, "GET", "subscriptions/list"); r.array()[0]["status"] != "disabled" {
		t.Fatalf("list after stop: %s", r.raw)
	}
	if r := h.mg(tok, "POST", "subscriptions/stop?contentType=Audit.SharePoint"); r.status != 400 || r.code() != "AF20022" {
		t.Fatalf("stop again: %d %s", r.status, r.raw)
	}
	if r := h.mg(tok, "GET", "subscriptions/content?contentType=Audit.SharePoint"); r.code() != "AF20022" {
		t.Fatalf("content while stopped: %d %s", r.status, r.raw)
	}
	// "a waiting period of 15 minutes is required before another request can be made"
	if r := h.mg(tok, "POST", "subscriptions/start?contentType=Audit.SharePoint"); r.status != 403 || r.code() != "AF429" {
		t.Fatalf("restart within 15 minutes: %d %s", r.status, r.raw)
	}
	h.clk.Advance(15 * time.Minute)
	if r := h.mg(tok, "POST", "subscriptions/start?contentType=Audit.SharePoint"); r.status != 200 {
		t.Fatalf("restart: %d %s", r.status, r.raw)
	}
	for q, code := range map[string]string{"": "AF20001", "?contentType=Audit.Nope": "AF20020"} {
		if r := h.mg(tok, "POST", "subscriptions/start"+q); r.status != 400 || r.code() != code {
			t.Errorf("start%s: %d %s", q, r.status, r.raw)
		}
	}
	// Authentication and tenant.
	if r := h.mg(h.bearer(), "GET", "subscriptions/list"); r.status != 401 {
		t.Errorf("a Graph token: %d %s", r.status, r.raw)
	}
	if r := h.mg("", "GET", "subscriptions/list"); r.status != 401 {
		t.Errorf("no token: %d %s", r.status, r.raw)
	}
	u := h.srv.URL + "/api/v1.0/" + h.emu.Domain() + "/activity/feed/subscriptions/list"
	if r := h.mg(tok, "GET", u); r.code() != "AF20013" {
		t.Errorf("tenant by name: %d %s", r.status, r.raw)
	}
	u = h.srv.URL + "/api/v1.0/41463f53-8812-40f4-890f-865bf6e35190/activity/feed/subscriptions/list"
	if r := h.mg(tok, "GET", u); r.code() != "AF20010" {
		t.Errorf("another tenant: %d %s", r.status, r.raw)
	}
	h.emu.SetConsent([]string{RoleFilesReadAll})
	if r := h.mg(h.manageToken(), "GET", "subscriptions/list"); r.status != 401 || r.code() != "AF10001" {
		t.Errorf("without ActivityFeed.Read: %d %s", r.status, r.raw)
	}
}

// actAll performs one of every action the feed records and returns their ids.
func actAll(t *testing.T, h *harness) []string {
	t.Helper()
	users := h.emu.Users()
	u, other := users[1], users[2]
	var f string
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	folder, err := h.emu.CreateFolder(u.UPN, "", "Reports")
	must(err)
	f, err = h.emu.Upload(u.UPN, "", "plan.docx", []byte("plan"))
	must(err)
	must(h.emu.Edit(u.UPN, f, []byte("plan v2")))
	must(h.emu.Rename(u.UPN, f, "plan final.docx"))
	must(h.emu.Move(u.UPN, f, folder))
	for _, sc := range []string{ScopeAnonymous, ScopeOrganization} {
		_, err = h.emu.ShareLink(u.UPN, f, sc, LinkView)
		must(err)
	}
	_, err = h.emu.ShareLink(u.UPN, f, ScopeUsers, LinkEdit, other.UPN, "kim@gmail.com")
	must(err)
	_, err = h.emu.Invite(u.UPN, f, other.UPN, "write")
	must(err)
	pid, err := h.emu.Invite(u.UPN, f, "lee@partner.example", "read")
	must(err)
	must(h.emu.Unshare(u.UPN, f, pid))
	must(h.emu.Download(other.UPN, f))
	must(h.emu.View(other.UPN, f))
	must(h.emu.Delete(u.UPN, f))
	var ids []string
	for _, a := range h.emu.Activities() {
		ids = append(ids, a.ID)
	}
	return ids
}

func TestManageContent(t *testing.T) {
	h := newHarness(t, Options{AuditPageSize: 2, AuditDuplicate: -1})
	tok := h.manageToken()
	h.mg(tok, "POST", "subscriptions/start?contentType=Audit.SharePoint")
	ids := actAll(t, h)
	for i := 0; i < 6; i++ {
		h.clk.Advance(10 * time.Second)
		h.emu.Step(5) // spread actions over time: several blobs
		h.clk.Advance(7 * time.Minute)
	}
	ids = nil
	for _, a := range h.emu.Activities() {
		ids = append(ids, a.ID)
	}
	// Nothing before the lag (at least 60 minutes after the first action).
	h.clk.Advance(10 * time.Minute)
	if got, _ := h.feed(tok, ""); len(got) != 0 {
		t.Fatalf("%d records 52 minutes after the first action", len(got))
	}
	h.clk.Advance(3 * time.Hour)
	got, pages := h.feed(tok, "")
	if pages < 2 {
		t.Fatalf("%d pages of 2 blobs", pages)
	}
	seen := map[string]map[string]any{}
	for _, r := range got {
		seen[r["Id"].(string)] = r
	}
	if len(seen) != len(ids) || len(got) != len(ids) {
		t.Fatalf("%d records (%d distinct), %d actions", len(got), len(seen), len(ids))
	}
	acts := map[string]Activity{}
	for _, a := range h.emu.Activities() {
		acts[a.ID] = a
	}
	outOfOrder := false
	for i, r := range got {
		a, ok := acts[r["Id"].(string)]
		if !ok || r["Operation"] != a.Operation || r["UserId"] != strings.ToLower(a.Actor) || r["CreationTime"] != a.At.UTC().Format(auditTimeFmt) || r["OrganizationId"] != h.emu.TenantID() {
			t.Fatalf("record %v for activity %+v", r, a)
		}
		if i > 0 && r["CreationTime"].(string) < got[i-1]["CreationTime"].(string) {
			outOfOrder = true
		}
	}
	if !outOfOrder {
		t.Error("records came in time order")
	}
	// The renamed, moved file's records (AuditRecords is in action order).
	byOp := map[string]map[string]any{}
	for _, r := range h.emu.AuditRecords()[:16] {
		byOp[r["Operation"].(string)] = r
	}
	site := byOp["FileUploaded"]["SiteUrl"].(string)
	want := map[string]map[string]any{
		"FileUploaded":             {"SourceFileName": "plan.docx", "SourceRelativeUrl": "Documents", "ObjectId": site + "Documents/plan.docx", "RecordType": 6, "ItemType": "File", "SourceFileExtension": "docx"},
		"FolderCreated":            {"SourceFileName": "Reports", "ItemType": "Folder"},
		"FileRenamed":              {"SourceFileName": "plan.docx", "DestinationFileName": "plan final.docx"},
		"FileMoved":                {"SourceRelativeUrl": "Documents", "DestinationRelativeUrl": "Documents/Reports", "ObjectId": site + "Documents/Reports/plan final.docx"},
		"AnonymousLinkCreated":     {"RecordType": 14, "TargetUserOrGroupType": "Group"},
		"AddedToSecureLink":        {"TargetUserOrGroupName": "kim@gmail.com", "TargetUserOrGroupType": "Guest"},
		"SharingSet":               {"TargetUserOrGroupType": "Member"},
		"SharingInvitationCreated": {"TargetUserOrGroupName": "lee@partner.example", "TargetUserOrGroupType": "Guest", "EventData": "<PermissionsGranted>Read</PermissionsGranted>"},
		"FileDownloaded":           {"SourceFileName": "plan final.docx", "Workload": "OneDrive"},
		"FileAccessed":             {"RecordType": 6},
		"FileRecycled":             {"ObjectId": site + "Documents/Reports/plan final.docx"},
	}
	for op, fields := range want {
		r := byOp[op]
		for k, v := range fields {
			if fmt.Sprint(r[k]) != fmt.Sprint(v) {
				t.Errorf("%s: %s = %v, want %v", op, k, r[k], v)
			}
		}
	}
	// A window: only what became available within it; contentCreated in [start, end).
	now := h.clk.Now().UTC()
	tok = h.manageToken()
	win := "&startTime=" + now.Add(-30*time.Minute).Format("2006-01-02T15:04") + "&endTime=" + now.Format("2006-01-02T15:04:05")
	r := h.mg(tok, "GET", "subscriptions/content?contentType=Audit.SharePoint"+win)
	if r.status != 200 || len(r.array()) != 0 {
		t.Fatalf("a window after everything: %d %s", r.status, r.raw)
	}
}

func TestManageDuplicatesAndFirstDelay(t *testing.T) {
	h := newHarness(t, Options{AuditDuplicate: 0.5, AuditFirstContentDelay: 12 * time.Hour, AuditLagMin: time.Minute, AuditLagMax: 20 * time.Minute})
	tok := h.manageToken()
	h.mg(tok, "POST", "subscriptions/start?contentType=Audit.SharePoint")
	start := h.clk.Now()
	for i := 0; i < 8; i++ {
		h.emu.Step(5)
		h.clk.Advance(6 * time.Minute)
	}
	h.clk.Advance(time.Hour)
	if got, _ := h.feed(tok, ""); len(got) != 0 {
		t.Fatalf("%d records before the first content delay", len(got))
	}
	if av := h.emu.AuditAvailable(); len(av) != 0 {
		t.Fatalf("%d records available before the first content delay", len(av))
	}
	h.clk.Set(start.Add(12*time.Hour + time.Minute))
	// Every record is available when the first content is, duplicates by their first blob.
	av := h.emu.AuditAvailable()
	if len(av) != len(h.emu.Activities()) {
		t.Fatalf("%d records available, %d actions", len(av), len(h.emu.Activities()))
	}
	for id, at := range av {
		if !at.Equal(start.Add(12 * time.Hour)) {
			t.Fatalf("record %s available at %s, want the first content's %s", id, at, start.Add(12*time.Hour))
		}
	}
	r := h.mg(h.manageToken(), "GET", "subscriptions/content?contentType=Audit.SharePoint")
	first := r.array()[0]["contentCreated"].(string)
	if first != start.Add(12*time.Hour).UTC().Format(contentTimeFmt) {
		t.Fatalf("first content created %s", first)
	}
	got, _ := h.feed(tok, "")
	distinct := map[string]bool{}
	for _, r := range got {
		distinct[r["Id"].(string)] = true
	}
	if len(distinct) != len(h.emu.Activities()) || len(got) <= len(distinct) {
		t.Fatalf("%d records, %d distinct, %d actions: want every action and some duplicates", len(got), len(distinct), len(h.emu.Activities()))
	}
}

func TestManageErrors(t *testing.T) {
	h := newHarness(t, Options{AuditLagMin: time.Minute, AuditLagMax: time.Minute})
	tok := h.manageToken()
	h.mg(tok, "POST", "subscriptions/start?contentType=Audit.SharePoint")
	h.emu.Step(3)
	h.clk.Advance(10 * time.Minute)
	r := h.mg(tok, "GET", "subscriptions/content?contentType=Audit.SharePoint")
	blobs := r.array()
	if len(blobs) == 0 {
		t.Fatalf("no content: %s", r.raw)
	}
	now := h.clk.Now().UTC()
	f := func(t time.Time) string { return url.QueryEscape(t.Format("2006-01-02T15:04:05")) }
	for q, code := range map[string]string{
		"&startTime=" + f(now.Add(-time.Hour)):                                                            "AF20055", // one of the two
		"&startTime=" + f(now.Add(-25*time.Hour)) + "&endTime=" + f(now):                                  "AF20055", // more than 24 hours
		"&startTime=" + f(now) + "&endTime=" + f(now.Add(-time.Hour)):                                     "AF20055", // start after end
		"&startTime=" + f(now.Add(-8*24*time.Hour)) + "&endTime=" + f(now.Add(-7*24*time.Hour-time.Hour)): "AF20055", // more than 7 days ago
		"&startTime=yesterday&endTime=" + f(now):                                                          "AF20002",
		"&nextPage=bogus":                                                                                 "AF20031",
	} {
		if r := h.mg(tok, "GET", "subscriptions/content?contentType=Audit.SharePoint"+q); r.status != 400 || r.code() != code {
			t.Errorf("%s: %d %s, want %s", q, r.status, r.raw, code)
		}
	}
	// The documented formats pass.
	for _, q := range []string{"&startTime=" + now.Format("2006-01-02") + "&endTime=" + now.Add(24*time.Hour).Format("2006-01-02"),
		"&startTime=" + now.Add(-time.Hour).Format("2006-01-02T15:04") + "&endTime=" + now.Format("2006-01-02T15:04")} {
		if r := h.mg(tok, "GET", "subscriptions/content?contentType=Audit.SharePoint"+q); r.status != 200 {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
		}
	}
	uri := blobs[0]["contentUri"].(string)
	if r := h.mg(tok, "GET", uri); r.status != 200 {
		t.Fatalf("blob: %d", r.status)
	}
	base := uri[:strings.LastIndex(uri, "/")+1]
	if r := h.mg(tok, "GET", base+"nope"); r.code() != "AF20052" {
		t.Errorf("an invalid id: %d %s", r.status, r.raw)
	}
	if r := h.mg(tok, "GET", base+"20260302090500000000099$20260302090500000000099$audit_sharepoint$Audit_SharePoint"); r.code() != "AF20050" {
		t.Errorf("an unknown id: %d %s", r.status, r.raw)
	}
	h.clk.Advance(7 * 24 * time.Hour)
	if r := h.mg(h.manageToken(), "GET", uri); r.code() != "AF20051" {
		t.Errorf("a blob 7 days old: %d %s", r.status, r.raw)
	}
}

func TestManageThrottling(t *testing.T) {
	h := newHarness(t, Options{AuditRateLimitPerMinute: 5, AuditSharedPoolPerMinute: 2})
	tok := h.manageToken()
	for i := 0; i < 5; i++ {
		if r := h.mg(tok, "GET", "subscriptions/list"); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := h.mg(tok, "GET", "subscriptions/list")
	if r.status != 403 || r.code() != "AF429" || !strings.Contains(string(r.raw), "PublisherId="+testPublisher) {
		t.Fatalf("over the quota: %d %s", r.status, r.raw)
	}
	// Without PublisherIdentifier: the shared pool.
	for i := 0; i < 2; i++ {
		if r := h.mg(tok, "GET", "subscriptions/list", true); r.status != 200 {
			t.Fatalf("shared %d: %d", i, r.status)
		}
	}
	if r := h.mg(tok, "GET", "subscriptions/list", true); r.code() != "AF429" || !strings.Contains(string(r.raw), "PublisherId=00000000-0000-0000-0000-000000000000") {
		t.Fatalf("shared pool: %d %s", r.status, r.raw)
	}
	h.clk.Advance(time.Minute)
	if r := h.mg(tok, "GET", "subscriptions/list"); r.status != 200 {
		t.Fatalf("a minute later: %d", r.status)
	}
	if s := h.emu.Stats(); s.AuditThrottled != 2 || s.AuditNoPublisher != 3 {
		t.Fatalf("stats %+v", s)
	}
	// Injected faults: AF429 (403) and AF50000.
	for k, want := range map[faults.Kind]int{faults.Throttle: 403, faults.Status500: 500, faults.Status503: 503} {
		h.emu.SetFaults(Faults{Rate: 1, Kinds: []faults.Kind{k}})
		h.clk.Advance(time.Minute)
		r := h.mg(h.manageToken(), "GET", "subscriptions/list")
		if r.status != want || (k == faults.Throttle) != (r.code() == "AF429") || (k != faults.Throttle && r.code() != "AF50000") {
			t.Errorf("%s: %d %s", k, r.status, r.raw)
		}
	}
	h.emu.SetFaults(Faults{})
}

func TestManageExchange(t *testing.T) {
	h := newHarness(t, Options{AuditDuplicate: -1})
	tok := h.manageToken()
	if r := h.mg(tok, "POST", "subscriptions/start?contentType=Audit.Exchange"); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	u := h.licensed()
	_, sm := sendAll(t, h, u)
	h.emu.StepMail(20)
	h.clk.Advance(3 * time.Hour)
	got, _ := h.feedOf(ContentExchange, "")
	sent := h.emu.SentMails()
	if len(got) != len(sent) || len(sent) < 20 {
		t.Fatalf("%d Send records, %d mails sent", len(got), len(sent))
	}
	kinds := map[string]bool{}
	for _, m := range sent {
		for _, a := range m.Attachments {
			kinds[a.Kind] = true
		}
	}
	if len(kinds) != 3 {
		t.Fatalf("StepMail sent attachments of kinds %v", kinds)
	}
	var rec map[string]any
	for _, r := range got {
		if r["Item"].(map[string]any)["InternetMessageId"] == sm.InternetMessageID {
			rec = r
		}
	}
	if rec == nil || rec["Operation"] != "Send" || rec["Workload"] != "Exchange" || rec["recipientCount"] != 3.0 || rec["UserId"] != strings.ToLower(u.UPN) ||
		!strings.Contains(rec["Item"].(map[string]any)["Attachments"].(string), "q3.xlsx (") {
		t.Fatalf("Send record %v", rec)
	}
	// The SharePoint feed does not carry them.
	if r := h.mg(h.manageToken(), "GET", "subscriptions/content?contentType=Audit.SharePoint"); r.code() != "AF20022" {
		t.Fatalf("no SharePoint subscription: %d %s", r.status, r.raw)
	}
	raw, _ := json.Marshal(rec)
	for _, c := range []struct{ from, to string }{
		{`"InternetMessageId"`, `"InternetMessageID"`}, // renamed inside Item
		{`"Address"`, `"Adress"`},                      // renamed inside recipientList
		{`"LogonType":0`, `"LogonType":9`},
		{`"ExternalAccess":false,`, ``}, // a mandatory field missing
	} {
		broken := strings.Replace(string(raw), c.from, c.to, 1)
		if broken == string(raw) {
			t.Fatalf("%s not in %s", c.from, raw)
		}
		if err := checkAuditRecord([]byte(broken)); err == nil {
			t.Errorf("%s -> %s passed", c.from, c.to)
		}
	}
}

// TestAuditCheckBites: a record with a renamed field, a missing mandatory one or a wrong type
// fails the schema check.
func TestAuditCheckBites(t *testing.T) {
	h := newHarness(t, Options{})
	actAll(t, h)
	recs := h.emu.AuditRecords()
	for _, r := range recs {
		raw, _ := json.Marshal(r)
		if err := checkAuditRecord(raw); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(recs[1])
	for _, c := range []struct{ from, to string }{
		{`"SourceFileName"`, `"SourceFilename"`}, // renamed
		{`"ClientIP"`, `"ClientIp"`},             // renamed, and a mandatory field missing
		{`"RecordType":6`, `"RecordType":"6"`},   // type
		{`"ItemType":"File"`, `"ItemType":"Document"`},
	} {
		broken := strings.Replace(string(raw), c.from, c.to, 1)
		if broken == string(raw) {
			t.Fatalf("%s not in %s", c.from, raw)
		}
		if err := checkAuditRecord([]byte(broken)); err == nil {
			t.Errorf("%s -> %s passed", c.from, c.to)
		}
	}
	// And through the harness's answer check.
	x := exchange{method: "GET", path: "/api/v1.0/t/activity/feed/audit/1$1$audit_sharepoint$Audit_SharePoint", status: 200,
		header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body: []byte("[" + strings.Replace(string(raw), `"SourceFileName"`, `"FileName"`, 1) + "]")}
	if err := check(t, x); err == nil || !strings.Contains(err.Error(), "FileName") {
		t.Errorf("a blob with a renamed field passed: %v", err)
	}
}
