package googledrive

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/option"

	"github.com/telltale-dev/telltale/internal/connector"
	gemu "github.com/telltale-dev/telltale/internal/emulator/google"
	"github.com/telltale-dev/telltale/internal/event"
)

// rawPages keeps the body of every activities.list answer: the records as Google sends them.
type rawPages struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *rawPages) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "/admin/reports/v1/") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	return resp, nil
}

// reportsAs is the real Reports API client acting as email, its raw answers kept in raw.
func (f *fixture) reportsAs(t *testing.T, email string, raw *rawPages) *reports.Service {
	t.Helper()
	cfg, err := googleoauth.JWTConfigFromJSON(f.emu.ServiceAccountKey(f.tokenURL()), gemu.ScopeReportsAudit)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = email
	hc := cfg.Client(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: raw}))
	s, err := reports.NewService(context.Background(), option.WithEndpoint(f.srv.URL), option.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReportsRoundTrip: the real Reports client pages through the emulator's Drive audit records;
// every record as sent goes through DecodeActivity and Adapt, and every ground-truth activity that
// is file activity comes out as the event it was: action, file id, actor, IP, time (and the
// rename's and move's names, the share's target).
func TestReportsRoundTrip(t *testing.T) {
	f := newFixture(t, gemu.Options{Seed: 7, Users: 8, SharedDrives: 2, FilesPerDrive: 3, TokenTTL: 1000 * time.Hour,
		ReportsLagMin: time.Minute, ReportsLagMax: 20 * time.Minute})
	a, b := f.active()[0], f.active()[1]
	folder, _ := f.emu.Upload(a.Email, "", "Finance", "application/vnd.google-apps.folder", nil)
	id, _ := f.emu.Upload(a.Email, "", "q3.pdf", "application/pdf", nil)
	doc, _ := f.emu.Upload(a.Email, "", "Notes", "application/vnd.google-apps.document", nil)
	must(t, f.emu.Rename(a.Email, id, "q3-final.pdf"))
	must(t, f.emu.Move(a.Email, id, folder))
	link, err := f.emu.Share(a.Email, doc, gemu.Share{Type: "anyone"})
	must(t, err)
	_, err = f.emu.Share(a.Email, doc, gemu.Share{Type: "user", Email: b.Email})
	must(t, err)
	must(t, f.emu.Unshare(a.Email, doc, link))
	must(t, f.emu.Trash(a.Email, doc))
	must(t, f.emu.Untrash(a.Email, doc))
	for i := 0; i < 60; i++ {
		f.emu.Step(5)
		f.clk.Advance(30 * time.Second)
	}
	f.clk.Advance(21 * time.Minute) // past the maximum lag: everything is reported

	raw := &rawPages{}
	s := f.reportsAs(t, f.admin(), raw)
	tok, listed := "", 0
	for guard := 0; ; guard++ {
		r, err := s.Activities.List("all", "drive").MaxResults(100).PageToken(tok).Do()
		if err != nil {
			t.Fatal(err)
		}
		listed += len(r.Items)
		if tok = r.NextPageToken; tok == "" || guard > 100 {
			break
		}
	}
	type key struct{ at, actor, file, name string }
	got := map[key][][]connector.Record{} // per key, the records of each activity, oldest first
	var activities []Activity
	for _, body := range raw.bodies {
		var page struct{ Items []json.RawMessage }
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, item := range page.Items {
			act, err := DecodeActivity(item)
			if err != nil {
				t.Fatalf("DecodeActivity: %v\n%s", err, item)
			}
			activities = append(activities, act)
			recs := Adapt(act, Options{})
			for i := range recs {
				for _, ev := range recs[i].Events {
					if err := ev.Validate(); err != nil {
						t.Errorf("%s: %v", recs[i].VendorID, err)
					}
				}
			}
			// The primary event is the first (the emulator's ground truth name).
			k := key{act.Time.Format(time.RFC3339Nano), act.ActorEmail, act.Events[0].Str("doc_id"), act.Events[0].Name}
			got[k] = append([][]connector.Record{recs}, got[k]...) // pages are newest first
		}
	}
	truth := f.emu.Activities()
	if listed != len(truth) || len(activities) != len(truth) {
		t.Fatalf("listed %d, decoded %d records for %d activities", listed, len(activities), len(truth))
	}

	want := map[string]event.Action{"create": event.ActionCreated, "upload": event.ActionCreated, "copy": event.ActionCreated,
		"edit": event.ActionModified, "rename": event.ActionRenamed, "move": event.ActionMoved, "trash": event.ActionDeleted,
		"delete": event.ActionDeleted, "untrash": event.ActionRestored, "download": event.ActionDownloaded, "view": event.ActionViewed,
		"change_user_access": event.ActionShared, "change_document_visibility": event.ActionShared}
	names := map[string]int{}
	for _, ta := range truth {
		k := key{ta.At.UTC().Format(time.RFC3339Nano), strings.ToLower(ta.Actor), ta.FileID, ta.Name}
		if len(got[k]) == 0 {
			t.Errorf("%s %s: no record", ta.ID, ta.Name)
			continue
		}
		recs := got[k][0]
		got[k] = got[k][1:]
		action, mapped := want[ta.Name]
		var events []event.FileEvent
		var skips []string
		for _, r := range recs {
			events = append(events, r.Events...)
			if r.Skip != "" {
				skips = append(skips, r.Skip)
			}
		}
		switch {
		case ta.Name == "source_copy":
			if len(events) != 0 || len(skips) != 1 || skips[0] != SkipCopySource {
				t.Errorf("%s source_copy: events %v, skips %v", ta.ID, events, skips)
			}
			continue
		case ta.Name == "create" && ta.DocType == "folder":
			if len(events) != 0 || len(skips) != 1 || skips[0] != SkipFolder {
				t.Errorf("%s folder create: events %v, skips %v", ta.ID, events, skips)
			}
			continue
		case !mapped:
			t.Errorf("%s: an activity name the test does not know: %s", ta.ID, ta.Name)
			continue
		}
		names[ta.Name]++
		if len(events) != 1 {
			t.Errorf("%s %s: %d events (skips %v), want 1", ta.ID, ta.Name, len(events), skips)
			continue
		}
		ev := events[0]
		if ta.Detail["new_value"] == "none" { // Unshare
			action = event.ActionUnshared
		}
		if ev.Event.Action != action || ev.File.ID != ta.FileID || ev.User.Email != ta.Actor || ev.Source.IP != ta.IP || !ev.Timestamp.Equal(ta.At) {
			t.Errorf("%s %s: got %s %s by %s from %s at %s; want %s %s by %s from %s at %s", ta.ID, ta.Name,
				ev.Event.Action, ev.File.ID, ev.User.Email, ev.Source.IP, ev.Timestamp, action, ta.FileID, ta.Actor, ta.IP, ta.At)
		}
		switch ta.Name {
		case "rename":
			if ev.File.OriginalName != ta.Detail["old_value"] || ev.File.Name != ta.Detail["new_value"] {
				t.Errorf("%s rename: %q -> %q, want %q -> %q", ta.ID, ev.File.OriginalName, ev.File.Name, ta.Detail["old_value"], ta.Detail["new_value"])
			}
		case "move":
			if ev.File.OriginalDirectory != "/"+ta.Detail["source_folder_title"] || ev.File.Directory != "/"+ta.Detail["destination_folder_title"] {
				t.Errorf("%s move: %q -> %q, want %v", ta.ID, ev.File.OriginalDirectory, ev.File.Directory, ta.Detail)
			}
		case "change_user_access":
			if len(ev.Sharing.SharedWith) != 1 || ev.Sharing.SharedWith[0] != strings.ToLower(ta.Detail["target"]) {
				t.Errorf("%s share: shared with %v, want %s", ta.ID, ev.Sharing.SharedWith, ta.Detail["target"])
			}
		case "change_document_visibility":
			if ev.Event.Action == event.ActionShared && ev.Sharing.LinkScope == "" {
				t.Errorf("%s link share without a link scope: %+v", ta.ID, ev.Sharing)
			}
		}
	}
	for n := range want {
		if names[n] == 0 {
			t.Errorf("no %s activity went through the round trip: %v", n, names)
		}
	}
	t.Logf("%d records, %d activities, by name %v", listed, len(truth), names)
}

// TestClientStructsLoseFalseBooleans pins a trap for the Reports stream: the generated client's
// parameter type has BoolValue bool `json:"boolValue,omitempty"`, so primary_event false decodes
// like an absent parameter and is gone when re-encoded; Adapt then takes a side effect for an
// action (absent primary_event means primary). The stream must adapt the raw JSON, as the round
// trip above does.
func TestClientStructsLoseFalseBooleans(t *testing.T) {
	f := newFixture(t, gemu.Options{Users: 4, TokenTTL: 1000 * time.Hour, ReportsLagMin: -1, ReportsLagMax: -1})
	id, _ := f.emu.Upload(f.active()[0].Email, "", "x.pdf", "application/pdf", nil)
	_, err := f.emu.Share(f.active()[0].Email, id, gemu.Share{Type: "anyone"})
	must(t, err)
	raw := &rawPages{}
	r, err := f.reportsAs(t, f.admin(), raw).Activities.List("all", "drive").EventName("change_document_visibility").Do()
	if err != nil || len(r.Items) != 1 || len(raw.bodies) != 1 {
		t.Fatalf("%v %v", r, err)
	}
	shared := func(b []byte) int {
		a, err := DecodeActivity(b)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rec := range Adapt(a, Options{}) {
			n += len(rec.Events)
		}
		return n
	}
	var page struct{ Items []json.RawMessage }
	must(t, json.Unmarshal(raw.bodies[0], &page))
	reencoded, err := json.Marshal(r.Items[0])
	must(t, err)
	if got := shared(page.Items[0]); got != 1 {
		t.Errorf("the raw record gives %d events, want 1 (the side effect skipped)", got)
	}
	if got := shared(reencoded); got != 2 {
		t.Errorf("the re-encoded client struct gives %d events: the trap is gone? (want 2)", got)
	}
}
