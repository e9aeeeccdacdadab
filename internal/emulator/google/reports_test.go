package google

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/option"

	"github.com/telltale-dev/telltale/internal/testutil/discovery"
)

// reportsDoc is admin/reports/v1/admin-api.json of google.golang.org/api: the schemas the
// reports client decodes (check in spec_test.go validates every answer against it).
var reportsDoc = func() func(t *testing.T) *discovery.Doc {
	var once sync.Once
	var d *discovery.Doc
	var err error
	return func(t *testing.T) *discovery.Doc {
		once.Do(func() { d, err = discovery.LoadFromModule("admin/reports/v1/admin-api.json") })
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
}()

// reports is the real Reports API client acting as subject (the audit scope unless scopes say
// otherwise), pointed at the host root as the Directory API is.
func (h *harness) reports(subject string, scopes ...string) *reports.Service {
	h.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{ScopeReportsAudit}
	}
	s, err := reports.NewService(context.Background(), option.WithEndpoint(h.srv.URL), option.WithHTTPClient(h.client(subject, scopes...)))
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// reportsHarness: a small domain whose tokens outlive the clock jumps of the lag tests.
func reportsHarness(t *testing.T, lagMin, lagMax time.Duration) *harness {
	return newHarness(t, Options{Users: 6, SharedDrives: 1, FilesPerDrive: 2, TokenTTL: 1000 * time.Hour,
		ReportsLagMin: lagMin, ReportsLagMax: lagMax})
}

// listAll reads every page of a drive activities.list call.
func listAll(t *testing.T, call func(tok string) (*reports.Activities, error)) (items []*reports.Activity, pages []int) {
	t.Helper()
	tok := ""
	for guard := 0; guard < 10000; guard++ {
		r, err := call(tok)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, r.Items...)
		pages = append(pages, len(r.Items))
		if tok = r.NextPageToken; tok == "" {
			return items, pages
		}
	}
	t.Fatal("activities.list never ended")
	return nil, nil
}

func uqOf(a *reports.Activity) string { return strconv.FormatInt(a.Id.UniqueQualifier, 10) }

func rtime(t *testing.T, a *reports.Activity) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, a.Id.Time)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// truthUQ maps each ground-truth activity's uniqueQualifier to its index.
func truthUQ(h *harness) map[string]int {
	h.emu.mu.Lock()
	defer h.emu.mu.Unlock()
	m := map[string]int{}
	for i := range h.emu.acts {
		m[h.emu.uniqueQualifier(i)] = i
	}
	return m
}

// busy performs rounds of random actions, several in one instant, the clock moving between rounds.
func busy(h *harness, rounds int) {
	for r := 0; r < rounds; r++ {
		h.emu.Step(3)
		h.clk.Advance(20 * time.Second)
	}
}

func TestReportsPagingOrderAndWindow(t *testing.T) {
	h := reportsHarness(t, time.Minute, 10*time.Minute)
	busy(h, 40)
	h.clk.Advance(11 * time.Minute) // everything is reported
	acts := h.emu.Activities()
	uqs := truthUQ(h)
	s := h.reports(h.adminEmail())

	items, pages := listAll(t, func(tok string) (*reports.Activities, error) {
		return s.Activities.List("all", "drive").MaxResults(7).PageToken(tok).Do()
	})
	seen := map[string]bool{}
	for k, a := range items {
		if seen[uqOf(a)] {
			t.Fatalf("record %s listed twice", uqOf(a))
		}
		seen[uqOf(a)] = true
		i, ok := uqs[uqOf(a)]
		if !ok {
			t.Fatalf("record %s is no activity", uqOf(a))
		}
		if !rtime(t, a).Equal(acts[i].At.Truncate(time.Millisecond)) || a.Events[0].Name != acts[i].Name || a.Actor.Email != acts[i].Actor {
			t.Errorf("record %d: %s %s %s, truth %+v", k, a.Id.Time, a.Events[0].Name, a.Actor.Email, acts[i])
		}
		if k > 0 && rtime(t, a).After(rtime(t, items[k-1])) {
			t.Errorf("record %d (%s) is newer than the one before it (%s): not newest first", k, a.Id.Time, items[k-1].Id.Time)
		}
	}
	if len(items) != len(acts) || len(acts) < 100 {
		t.Errorf("listed %d records of %d activities", len(items), len(acts))
	}
	for k, n := range pages {
		if n > 7 || (n < 7 && k != len(pages)-1) {
			t.Errorf("page sizes %v", pages)
			break
		}
	}
	if st := h.emu.Stats(); st.ReportsRecords != len(items) {
		t.Errorf("Stats.ReportsRecords %d, served %d", st.ReportsRecords, len(items))
	}

	// Both bounds are inclusive ("at or after" startTime, "at or before" endTime).
	lo, hi := acts[20].At, acts[80].At
	win, _ := listAll(t, func(tok string) (*reports.Activities, error) {
		return s.Activities.List("all", "drive").StartTime(lo.Format(time.RFC3339Nano)).EndTime(hi.Format(time.RFC3339Nano)).PageToken(tok).Do()
	})
	want := 0
	for _, a := range acts {
		if !a.At.Before(lo) && !a.At.After(hi) {
			want++
		}
	}
	if len(win) != want || !rtime(t, win[0]).Equal(hi) || !rtime(t, win[len(win)-1]).Equal(lo) {
		t.Errorf("window [%s, %s]: %d records (want %d), from %s to %s", lo, hi, len(win), want, win[len(win)-1].Id.Time, win[0].Id.Time)
	}

	// One user's records, by email and by id; eventName; filters doc_id==X; actorIpAddress.
	u := h.active()[0]
	mine, _ := listAll(t, func(tok string) (*reports.Activities, error) {
		return s.Activities.List(u.Email, "drive").PageToken(tok).Do()
	})
	byID, _ := listAll(t, func(tok string) (*reports.Activities, error) {
		return s.Activities.List(u.ID, "drive").PageToken(tok).Do()
	})
	n := 0
	for _, a := range acts {
		if a.Actor == u.Email {
			n++
		}
	}
	if len(mine) != n || len(byID) != n {
		t.Errorf("userKey %s: %d records, by id %d, want %d", u.Email, len(mine), len(byID), n)
	}
	if len(mine) > 0 {
		ip, _ := listAll(t, func(tok string) (*reports.Activities, error) {
			return s.Activities.List("all", "drive").ActorIpAddress(mine[0].IpAddress).PageToken(tok).Do()
		})
		if len(ip) != n {
			t.Errorf("actorIpAddress %s: %d records, want %d (one IP per user)", mine[0].IpAddress, len(ip), n)
		}
	}
	edits, _ := listAll(t, func(tok string) (*reports.Activities, error) {
		return s.Activities.List("all", "drive").EventName("edit").PageToken(tok).Do()
	})
	ne := 0
	for _, a := range acts {
		if a.Name == "edit" {
			ne++
		}
	}
	if len(edits) != ne || ne == 0 {
		t.Errorf("eventName edit: %d records, want %d", len(edits), ne)
	}
	doc := acts[len(acts)-1].FileID
	one, _ := listAll(t, func(tok string) (*reports.Activities, error) {
		return s.Activities.List("all", "drive").Filters("doc_id==" + doc).PageToken(tok).Do()
	})
	nd := 0
	for _, a := range acts {
		if a.FileID == doc {
			nd++
		}
	}
	if len(one) != nd || nd == 0 {
		t.Errorf("filters doc_id==%s: %d records, want %d", doc, len(one), nd)
	}
	// Another application: an empty report.
	if r, err := s.Activities.List("all", "login").Do(); err != nil || len(r.Items) != 0 {
		t.Errorf("login: %v, %v", r, err)
	}

	// Refusals.
	_, err := s.Activities.List("all", "drive").MaxResults(1001).Do()
	apiErr(t, err, 400, "invalid")
	_, err = s.Activities.List("all", "drive").MaxResults(0).Do()
	apiErr(t, err, 400, "invalid")
	_, err = s.Activities.List("all", "drive").StartTime(hi.Format(time.RFC3339)).EndTime(lo.Format(time.RFC3339)).Do()
	apiErr(t, err, 400, "invalid")
	_, err = s.Activities.List("all", "drive").StartTime(h.clk.Now().Add(time.Hour).Format(time.RFC3339)).Do()
	apiErr(t, err, 400, "invalid")
	_, err = s.Activities.List("all", "drive").StartTime("yesterday").Do()
	apiErr(t, err, 400, "invalid")
	_, err = s.Activities.List("all", "drive").PageToken("nonsense").Do()
	apiErr(t, err, 400, "invalid")
	_, err = s.Activities.List("nobody@example.com", "drive").Do()
	apiErr(t, err, 400, "badRequest")
	_, err = s.Activities.List("all", "drivex").Do()
	apiErr(t, err, 400, "invalid")
}

func TestReportsLag(t *testing.T) {
	h := reportsHarness(t, 5*time.Minute, time.Hour)
	busy(h, 20)
	acts := h.emu.Activities()
	lags := map[time.Duration]bool{}
	var early, late *Activity // late happened after early but is reported before it
	for i := range acts {
		a := &acts[i]
		lag := a.ReportedAt.Sub(a.At)
		if lag < 5*time.Minute || lag > time.Hour {
			t.Fatalf("%s: lag %v outside [5m, 1h]", a.ID, lag)
		}
		lags[lag] = true
		for j := range acts[:i] {
			if acts[j].At.Before(a.At) && a.ReportedAt.Before(acts[j].ReportedAt) && (late == nil || a.ReportedAt.Before(late.ReportedAt)) {
				early, late = &acts[j], a
			}
		}
	}
	if len(lags) < len(acts)/2 || late == nil {
		t.Fatalf("%d distinct lags for %d activities, out of order: %v", len(lags), len(acts), late != nil)
	}
	s := h.reports(h.adminEmail())
	listed := func() map[string]bool {
		items, _ := listAll(t, func(tok string) (*reports.Activities, error) {
			return s.Activities.List("all", "drive").PageToken(tok).Do()
		})
		m := map[string]bool{}
		for _, a := range items {
			m[uqOf(a)] = true
		}
		return m
	}
	uq := func(a *Activity) string {
		h.emu.mu.Lock()
		defer h.emu.mu.Unlock()
		i := slices.IndexFunc(h.emu.acts, func(x Activity) bool { return x.ID == a.ID })
		return h.emu.uniqueQualifier(i)
	}
	// Just before late is reported: neither is listed, though both happened in the window.
	h.clk.Set(late.ReportedAt.Add(-time.Millisecond))
	if got := listed(); got[uq(late)] || got[uq(early)] {
		t.Errorf("listed before its ReportedAt: late %v, early %v", got[uq(late)], got[uq(early)])
	}
	// At late's ReportedAt it is listed, while early, which happened before it, is not yet.
	h.clk.Set(late.ReportedAt)
	if got := listed(); !got[uq(late)] || got[uq(early)] {
		t.Errorf("at %s: late listed %v (want true), early listed %v (want false)", late.ReportedAt, got[uq(late)], got[uq(early)])
	}
	h.clk.Set(early.ReportedAt)
	if got := listed(); !got[uq(late)] || !got[uq(early)] {
		t.Errorf("at %s: late %v, early %v (want both)", early.ReportedAt, got[uq(late)], got[uq(early)])
	}
	h.clk.Advance(time.Hour)
	if got := listed(); len(got) != len(acts) {
		t.Errorf("after the maximum lag %d of %d records are listed", len(got), len(acts))
	}
}

func TestReportsAdminAndScope(t *testing.T) {
	h := reportsHarness(t, -1, -1)
	h.emu.Step(5)
	// A user who is not an administrator: 401, as Google answers it.
	_, err := h.reports(h.active()[0].Email).Activities.List("all", "drive").Do()
	ge := apiErr(t, err, 401, "authError")
	if ge.Message != "Access denied. You are not authorized to read activity records." {
		t.Errorf("non-admin: %s", ge.Body)
	}
	// A token without the audit scope: 403 insufficientPermissions.
	_, err = h.reports(h.adminEmail(), ScopeDriveReadonly).Activities.List("all", "drive").Do()
	apiErr(t, err, 403, "insufficientPermissions")
	// Another customer.
	_, err = h.reports(h.adminEmail()).Activities.List("all", "drive").CustomerId("C0other").Do()
	apiErr(t, err, 401, "authError")
	r, err := h.reports(h.adminEmail()).Activities.List("all", "drive").CustomerId("my_customer").Do()
	if err != nil || len(r.Items) != len(h.emu.Activities()) {
		t.Fatalf("no lag: %d records, %v", len(r.Items), err)
	}
	// Quotas and faults as for every API.
	h.emu.SetFaults(Faults{Rate: 1, Kinds: []string{"503"}})
	_, err = h.reports(h.adminEmail()).Activities.List("all", "drive").Do()
	apiErr(t, err, 503, "backendError")
	h.emu.SetFaults(Faults{})
}

// param returns an event's parameter as text: value, boolValue or multiValue joined with "|".
func param(e *reports.ActivityEvents, name string) (string, bool) {
	for _, p := range e.Parameters {
		if p.Name == name {
			switch {
			case p.MultiValue != nil:
				return strings.Join(p.MultiValue, "|"), true
			case p.Value != "":
				return p.Value, true
			}
			b, _ := json.Marshal(p.BoolValue)
			return string(b), true
		}
	}
	return "", false
}

func TestReportsRecordShapes(t *testing.T) {
	h := reportsHarness(t, -1, -1)
	a, b := h.active()[0], h.active()[1]
	folder, _ := h.emu.Upload(a.Email, "", "Plans", MimeFolder, nil)
	id, _ := h.emu.Upload(a.Email, "", "q3.pdf", "application/pdf", nil)
	doc, _ := h.emu.Upload(a.Email, "", "Notes", MimeDoc, nil)
	h.emu.Share(a.Email, id, Share{Type: "user", Email: "ext@gmail.com", Role: "writer"})
	anyone, _ := h.emu.Share(a.Email, doc, Share{Type: "anyone"})
	h.emu.Share(a.Email, doc, Share{Type: "user", Email: b.Email})
	h.emu.Rename(a.Email, id, "q3-final.pdf")
	h.emu.Move(a.Email, id, folder)
	h.emu.Download(b.Email, doc)
	h.emu.View(b.Email, doc)
	h.emu.Copy(b.Email, doc)
	h.emu.Unshare(a.Email, doc, anyone)
	h.emu.Trash(a.Email, id)
	h.emu.Untrash(a.Email, id)
	h.emu.Edit(a.Email, doc, nil)
	h.emu.Delete(a.Email, id)
	sd := h.emu.SharedDrives()[0]
	var organizer string
	for email, role := range sd.Members {
		if role == "organizer" {
			organizer = email
		}
	}
	inDrive, _ := h.emu.Upload(organizer, sd.ID, "drive.txt", "text/plain", nil)

	items, _ := listAll(t, func(tok string) (*reports.Activities, error) {
		return h.reports(h.adminEmail()).Activities.List("all", "drive").PageToken(tok).Do()
	})
	slices.Reverse(items) // oldest first, as the actions were
	var got []string
	for _, it := range items {
		for _, e := range it.Events {
			p, _ := param(e, "primary_event")
			got = append(got, e.Name+"/"+e.Type+"/"+p)
		}
		if it.Kind != "admin#reports#activity" || it.Id.ApplicationName != "drive" || it.Id.CustomerId != h.emu.o.CustomerID ||
			it.Actor.CallerType != "USER" || it.Actor.ProfileId == "" || it.IpAddress == "" || it.Etag == "" {
			t.Errorf("record %+v %+v %+v", it, it.Id, it.Actor)
		}
	}
	want := []string{"create/access/true", "upload/access/true", "create/access/true", "change_user_access/acl_change/true",
		"change_document_visibility/acl_change/true", "change_document_access_scope/acl_change/false", "change_user_access/acl_change/true",
		"rename/access/true", "move/access/true", "download/access/true", "view/access/true", "source_copy/access/true", "copy/access/true",
		"change_document_visibility/acl_change/true", "change_document_access_scope/acl_change/false", "trash/access/true",
		"untrash/access/true", "edit/access/true", "delete/access/true", "upload/access/true"}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	check := func(k, ev int, name, want string) {
		t.Helper()
		if v, _ := param(items[k].Events[ev], name); v != want {
			t.Errorf("record %d (%s) %s = %q, want %q", k, items[k].Events[ev].Name, name, v, want)
		}
	}
	check(1, 0, "doc_id", id)
	check(1, 0, "doc_type", "pdf")
	check(1, 0, "doc_title", "q3.pdf")
	check(1, 0, "owner", a.Email)
	check(1, 0, "owner_is_shared_drive", "false")
	check(1, 0, "visibility", "private")
	check(0, 0, "doc_type", "folder")
	check(2, 0, "doc_type", "document")
	check(3, 0, "target_user", "ext@gmail.com")
	check(3, 0, "old_value", "none")
	check(3, 0, "new_value", "can_edit")
	check(3, 0, "old_visibility", "private")
	check(3, 0, "visibility", "shared_externally")
	check(3, 0, "visibility_change", "external")
	check(4, 0, "target_domain", "all")
	check(4, 0, "visibility", "people_with_link")
	check(4, 0, "new_value", "people_with_link")
	check(4, 1, "new_value", "can_view")
	check(5, 0, "target_user", b.Email)
	check(5, 0, "visibility", "people_with_link")
	check(5, 0, "visibility_change", "none")
	check(6, 0, "old_value", "q3.pdf")
	check(6, 0, "new_value", "q3-final.pdf")
	check(6, 0, "doc_title", "q3-final.pdf")
	check(7, 0, "source_folder_title", "My Drive")
	check(7, 0, "destination_folder_id", folder)
	check(7, 0, "destination_folder_title", "Plans")
	check(10, 0, "doc_id", doc)
	check(11, 0, "copy_type", "internal")
	check(11, 0, "owner", b.Email)
	check(12, 0, "old_value", "people_with_link")
	check(12, 0, "new_value", "shared_internally") // still shared with b
	check(12, 1, "new_value", "none")
	check(17, 0, "doc_id", inDrive)
	check(17, 0, "owner_is_shared_drive", "true")
	check(17, 0, "owner", sd.Name)
	check(17, 0, "owner_shared_drive_id", sd.ID)
	check(17, 0, "doc_type", "txt")
	if items[8].IpAddress != items[9].IpAddress || items[8].IpAddress == items[7].IpAddress {
		t.Errorf("IPs: %s %s %s (one per user)", items[7].IpAddress, items[8].IpAddress, items[9].IpAddress)
	}
	acts := h.emu.Activities()
	if len(acts) != len(items) || items[8].IpAddress != acts[8].IP || items[17].OwnerDomain != h.emu.o.Domain {
		t.Errorf("IP %s, truth %s; ownerDomain %s", items[8].IpAddress, acts[8].IP, items[17].OwnerDomain)
	}
}

// TestReportsDiscoveryCatchesBrokenResponses: the strict checker refuses a Reports answer with a
// renamed or mistyped field (the same validation every answer of every test goes through).
func TestReportsDiscoveryCatchesBrokenResponses(t *testing.T) {
	h := reportsHarness(t, -1, -1)
	h.emu.Step(30)
	if _, err := h.reports(h.adminEmail()).Activities.List("all", "drive").MaxResults(5).Do(); err != nil {
		t.Fatal(err)
	}
	var page exchange
	for _, x := range h.rec.all() {
		if strings.HasPrefix(x.path, "/admin/reports/v1/") && x.status == 200 {
			page = x
		}
	}
	if page.body == nil {
		t.Fatal("no activities page recorded")
	}
	for _, c := range []struct {
		name, path string
		op         func(map[string]any, string)
		want       string
	}{
		{"ipAddress renamed", "items[0].ipAddress", rename("ipAdress"), `items[0].ipAdress: property "ipAdress" is not declared in Activity`},
		{"nextPageToken renamed", "nextPageToken", rename("pageToken"), `pageToken: property "pageToken" is not declared in Activities`},
		{"event parameter renamed", "items[0].events[0].parameters[0].boolValue", rename("bool"), `items[0].events[0].parameters[0].bool`},
		{"boolValue as a string", "items[0].events[0].parameters[0].boolValue", set("true"), "items[0].events[0].parameters[0].boolValue"},
		{"multiValue a string", "items[0].events[0].parameters[0].multiValue", set("x"), "not an array"},
		{"id.time not a date-time", "items[0].id.time", set("yesterday"), "items[0].id.time"},
		{"uniqueQualifier not an int64", "items[0].id.uniqueQualifier", set("abc"), "items[0].id.uniqueQualifier"},
		{"actor undeclared", "items[0].actor.name", set("x"), "items[0].actor.name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := check(t, page); err != nil {
				t.Fatalf("the unbroken answer fails already: %v", err)
			}
			broken := page
			broken.body = mutate(t, page.body, c.path, c.op)
			err := check(t, broken)
			if err == nil {
				t.Fatalf("the broken answer passed: %.300s", broken.body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not name %q:\n%v", c.want, err)
			}
		})
	}
}
