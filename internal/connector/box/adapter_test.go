package box

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/telltale-dev/telltale/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/adapter")

// adapterCase is one file of testdata/adapter: where the input came from, what the connector knows
// about the item, and the input (a record, a page or an array, exactly as Box writes it).
type adapterCase struct {
	Source string          `json:"source"`
	Item   *Item           `json:"item"`
	Input  json.RawMessage `json:"input"`
}

// adapterResult is the golden output for one record of a case.
type adapterResult struct {
	Line    int               `json:"line"`
	EventID string            `json:"event_id,omitempty"`
	Error   string            `json:"error,omitempty"`
	Skip    string            `json:"skip,omitempty"`
	Events  []event.FileEvent `json:"events,omitempty"`
}

// TestAdapterGolden runs every testdata/adapter/<name>.json through ReadRecords and Adapt and compares
// the result with <name>.out.json (go test ./internal/connector/box -run Adapter -update rewrites it).
func TestAdapterGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "adapter", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".out.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var c adapterCase
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if c.Source == "" {
				t.Fatalf("%s: say where the input came from in \"source\"", file)
			}
			var got []adapterResult
			err = ReadRecords(bytes.NewReader(c.Input), func(line int, rec Record, err error) error {
				res := adapterResult{Line: line, EventID: rec.EventID}
				if err != nil {
					res.Error = err.Error()
					got = append(got, res)
					return nil
				}
				evs, skip, err := Adapt(rec, c.Item)
				switch {
				case err != nil:
					res.Error = err.Error()
				case skip != "":
					res.Skip = skip
					if len(evs) > 0 {
						t.Errorf("line %d: skipped (%s) but returned %d events", line, skip, len(evs))
					}
				case len(evs) == 0:
					t.Errorf("line %d: no events, no skip reason, no error", line)
				}
				for i := range evs {
					if err := evs[i].Validate(); err != nil {
						t.Errorf("line %d: event %d does not validate: %v", line, i, err)
					}
				}
				res.Events = evs
				got = append(got, res)
				return nil
			})
			if err != nil {
				t.Fatalf("ReadRecords: %v", err)
			}
			out, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			golden := strings.TrimSuffix(file, ".json") + ".out.json"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(out)); diff != "" {
				t.Errorf("%s differs (-want +got; -update rewrites):\n%s", golden, diff)
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d adapter cases found in testdata/adapter", n)
	}
}

// record builds an enterprise record around source for the table tests.
func record(t *testing.T, eventType, source, extra string) Record {
	t.Helper()
	raw := `{"type":"event","event_id":"e1","event_type":"` + eventType + `","created_at":"2024-05-01T10:00:00-07:00",` +
		`"created_by":{"type":"user","id":"42","name":"Ann","login":"ann@corp.example"},"ip_address":"198.51.100.4"`
	if source != "" {
		raw += `,"source":` + source
	}
	raw += extra + `}`
	r, err := DecodeRecord([]byte(raw))
	if err != nil {
		t.Fatalf("DecodeRecord(%s): %v", raw, err)
	}
	return r
}

const fileSource = `{"item_type":"file","item_id":"9001","item_name":"plan.docx","parent":{"type":"folder","id":"77","name":"Plans"},"owned_by":{"type":"user","id":"42","login":"ann@corp.example","name":"Ann"}}`

func TestAdapterMapping(t *testing.T) {
	tests := []struct {
		name      string
		typ       string
		source    string
		extra     string
		item      *Item
		action    event.Action
		skip      string
		check     func(t *testing.T, e event.FileEvent)
		wantError string
	}{
		{name: "upload new file", typ: "UPLOAD", source: fileSource, action: event.ActionCreated},
		{name: "upload known file", typ: "UPLOAD", source: fileSource, item: &Item{Known: true}, action: event.ActionModified},
		{name: "upload version number", typ: "UPLOAD", source: fileSource, extra: `,"additional_details":{"version_number":"3"}`, action: event.ActionModified},
		{name: "edit", typ: "EDIT", source: fileSource, action: event.ActionModified},
		{name: "copy", typ: "COPY", source: fileSource, action: event.ActionCreated},
		{name: "trash", typ: "DELETE", source: fileSource, action: event.ActionDeleted},
		{name: "restore", typ: "UNDELETE", source: fileSource, action: event.ActionRestored},
		{name: "version restore", typ: "FILE_VERSION_RESTORE", source: fileSource, action: event.ActionModified},
		{name: "watermarked download", typ: "FILE_WATERMARKED_DOWNLOAD", source: fileSource, action: event.ActionDownloaded},
		{name: "item open", typ: "ITEM_OPEN", source: fileSource, action: event.ActionViewed},
		{name: "lowercase type", typ: "preview", source: fileSource, action: event.ActionViewed},
		{name: "rename from details", typ: "RENAME", source: fileSource, extra: `,"additional_details":{"old_item_name":"draft.docx"}`, action: event.ActionRenamed,
			check: func(t *testing.T, e event.FileEvent) {
				if e.File.OriginalName != "draft.docx" {
					t.Errorf("original_name = %q, want draft.docx", e.File.OriginalName)
				}
			}},
		{name: "rename from index", typ: "ITEM_RENAME", source: fileSource, item: &Item{Path: "/Plans/old.docx"}, action: event.ActionRenamed,
			check: func(t *testing.T, e event.FileEvent) {
				if e.File.OriginalName != "old.docx" || e.File.Path != "/Plans/plan.docx" {
					t.Errorf("original_name %q path %q, want old.docx /Plans/plan.docx", e.File.OriginalName, e.File.Path)
				}
			}},
		{name: "move from index", typ: "MOVE", source: fileSource, item: &Item{Path: "/Old/plan.docx"}, action: event.ActionMoved,
			check: func(t *testing.T, e event.FileEvent) {
				if e.File.OriginalDirectory != "/Old" || e.File.Directory != "Plans" {
					t.Errorf("directory %q original %q, want Plans and /Old", e.File.Directory, e.File.OriginalDirectory)
				}
			}},
		{name: "move within same folder name keeps no original", typ: "MOVE", source: fileSource, item: &Item{Path: "/X/Plans/plan.docx"}, action: event.ActionMoved,
			check: func(t *testing.T, e event.FileEvent) {
				if e.File.OriginalDirectory != "" {
					t.Errorf("original_directory = %q, want empty", e.File.OriginalDirectory)
				}
			}},
		{name: "share with record access", typ: "ITEM_SHARED_UPDATE", source: `{"type":"file","id":"9","name":"a.pdf","shared_link":{"url":"https://app.box.com/s/x","access":"company"}}`, item: &Item{LinkAccess: "open"}, action: event.ActionShared,
			check: func(t *testing.T, e event.FileEvent) {
				if e.Sharing.LinkScope != event.LinkOrganization || e.File.URL != "https://app.box.com/s/x" {
					t.Errorf("link_scope %q url %q, want organization (the record wins over the lookup)", e.Sharing.LinkScope, e.File.URL)
				}
			}},
		{name: "share expiration", typ: "SHARE_EXPIRATION", source: fileSource, action: event.ActionUnshared,
			check: func(t *testing.T, e event.FileEvent) {
				if e.Sharing.LinkScope != event.LinkNone {
					t.Errorf("link_scope %q, want none", e.Sharing.LinkScope)
				}
			}},
		{name: "collab accept names the accepting user", typ: "COLLABORATION_ACCEPT", source: `{"folder_id":"5","folder_name":"Deals"}`, action: event.ActionShared,
			check: func(t *testing.T, e event.FileEvent) {
				if diff := cmp.Diff([]string{"ann@corp.example"}, e.Sharing.SharedWith); diff != "" {
					t.Error(diff)
				}
				if e.File.ID != "folder:5" || e.File.MimeType != "inode/directory" {
					t.Errorf("file %+v, want folder:5 inode/directory", e.File)
				}
			}},
		{name: "collab invite email in details", typ: "COLLAB_INVITE_COLLABORATOR", source: fileSource, extra: `,"additional_details":{"invite_email":"x@other.example"}`, action: event.ActionShared,
			check: func(t *testing.T, e event.FileEvent) {
				if diff := cmp.Diff([]string{"x@other.example"}, e.Sharing.SharedWith); diff != "" {
					t.Error(diff)
				}
			}},
		{name: "webhook collaboration object", typ: "COLLABORATION.CREATED", source: `{"type":"collaboration","id":"c1","item":{"type":"file","id":"9","name":"a.pdf"},"accessible_by":null,"invite_email":"guest@else.example","role":"viewer"}`, action: event.ActionShared,
			check: func(t *testing.T, e event.FileEvent) {
				if e.File.ID != "9" || len(e.Sharing.SharedWith) != 1 || e.Sharing.SharedWith[0] != "guest@else.example" {
					t.Errorf("file %q shared_with %v", e.File.ID, e.Sharing.SharedWith)
				}
			}},
		{name: "collaborator of another enterprise", typ: "COLLABORATION.CREATED", source: `{"type":"collaboration","id":"c2","item":{"type":"file","id":"9","name":"a.pdf"},"accessible_by":{"type":"user","id":"77","name":"Pat","login":"pat@partner.example","is_active":true},"role":"editor","status":"accepted"}`, action: event.ActionShared,
			check: func(t *testing.T, e event.FileEvent) {
				// Box's collaboration names its grantee as a User (Collaborations): id, name, login,
				// is_active; the grantee's enterprise is not in it (only a user's full record has
				// enterprise, and Box answers it for its own enterprise's users): never guessed.
				if e.Sharing.Tenants != nil {
					t.Errorf("tenants %+v, want none: the record does not name the collaborator's enterprise", e.Sharing.Tenants)
				}
			}},
		{name: "sha1 not hex dropped", typ: "ITEM_DOWNLOAD", source: `{"type":"file","id":"9","name":"a.pdf","sha1":"zz"}`, item: &Item{SHA1: "not-a-hash"}, action: event.ActionDownloaded,
			check: func(t *testing.T, e event.FileEvent) {
				if e.File.Hash.SHA1 != "" {
					t.Errorf("sha1 %q, want empty", e.File.Hash.SHA1)
				}
			}},
		{name: "unknown ip dropped", typ: "PREVIEW", source: fileSource, extra: `,"ip_address":"Unknown IP"`, action: event.ActionViewed,
			check: func(t *testing.T, e event.FileEvent) {
				if e.Source.IP != "" {
					t.Errorf("source.ip %q, want empty", e.Source.IP)
				}
			}},
		{name: "login not file activity", typ: "LOGIN", source: `{"type":"user","id":"42","login":"ann@corp.example"}`, skip: "not_file_activity:LOGIN"},
		{name: "lock not file activity", typ: "LOCK", source: fileSource, skip: "not_file_activity:LOCK"},
		{name: "unknown type", typ: "TIME_TRAVEL", source: fileSource, skip: "unknown_event_type:TIME_TRAVEL"},
		{name: "no source", typ: "DOWNLOAD", skip: "no_source"},
		{name: "user source", typ: "DOWNLOAD", source: `{"type":"user","id":"1","login":"u@x.example"}`, skip: "source_not_item:user"},
		{name: "web link", typ: "PREVIEW", source: `{"type":"web_link","id":"1","name":"site"}`, skip: "source_not_item:web_link"},
		{name: "folder download", typ: "DOWNLOAD", source: `{"item_type":"folder","item_id":"5","item_name":"Deals"}`, skip: "folder_activity:DOWNLOAD"},
		{name: "item without id", typ: "DOWNLOAD", source: `{"item_type":"file","item_name":"x.pdf"}`, skip: "no_item_id"},
		{name: "no event id", typ: "DOWNLOAD", source: fileSource, extra: `,"event_id":null`, wantError: "no event_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := record(t, tc.typ, tc.source, tc.extra)
			evs, skip, err := Adapt(r, tc.item)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if skip != tc.skip {
				t.Fatalf("skip = %q, want %q", skip, tc.skip)
			}
			if tc.skip != "" {
				if evs != nil {
					t.Fatalf("skipped record returned events %v", evs)
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1", len(evs))
			}
			e := evs[0]
			if e.Event.Action != tc.action {
				t.Errorf("action = %q, want %q", e.Event.Action, tc.action)
			}
			if err := e.Validate(); err != nil {
				t.Error(err)
			}
			if !e.Timestamp.Equal(time.Date(2024, 5, 1, 17, 0, 0, 0, time.UTC)) || e.Timestamp.Location() != time.UTC {
				t.Errorf("@timestamp = %v, want 2024-05-01T17:00:00Z", e.Timestamp)
			}
			if e.Event.Observer != event.ObserverBox || e.Event.Count != 1 || len(e.Event.VendorIDs) != 1 || e.Event.VendorIDs[0] != "e1" {
				t.Errorf("event meta = %+v", e.Event)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"not json", `{"event_id": `, "box record: malformed JSON"},
		{"array", `[1,2]`, "want a JSON object"},
		{"null", `null`, "want a JSON object"},
		{"bad time", `{"event_id":"1","event_type":"UPLOAD","created_at":"x"}`, `box record: created_at "x" is not RFC 3339`},
		{"time out of range in UTC", `{"event_id":"1","event_type":"PREVIEW","created_at":"0000-01-01T0:00:00+01:00"}`, "is out of range"},
		{"time is a number", `{"event_id":"1","event_type":"UPLOAD","created_at":5}`, "created_at: want a string, got a number"},
		{"event_type is a number", `{"event_id":"1","event_type":7}`, "event_type: want a string, got a number"},
		{"event_id is an object", `{"event_id":{},"event_type":"UPLOAD"}`, "event_id: want a string or a number, got an object"},
		{"created_by is a string", `{"event_id":"1","created_by":"ann"}`, "created_by: want an object or null, got a string"},
		{"source is an array", `{"event_id":"1","source":[]}`, "source: want an object or null, got an array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord([]byte(tc.raw))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDecodeRecordKeepsRaw(t *testing.T) {
	raw := []byte(`{"event_id": 123, "event_type":"UPLOAD","created_at":"2024-05-01T10:00:00.5Z","additional_details":{"size":12},"extra":true}`)
	r, err := DecodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Raw, raw) {
		t.Errorf("Raw = %s, want the input bytes", r.Raw)
	}
	if r.EventID != "123" || r.CreatedAt.Nanosecond() != 5e8 {
		t.Errorf("event_id %q created_at %v", r.EventID, r.CreatedAt)
	}
	if n, ok := detailInt(r.AdditionalDetails, "size"); !ok || n != 12 {
		t.Errorf("additional_details.size = %d %v, want 12", n, ok)
	}
	raw[2] = 'X' // Raw is a copy
	if r.Raw[2] == 'X' {
		t.Error("Raw aliases the caller's buffer")
	}
}

func TestEventTypes(t *testing.T) {
	types := EventTypes()
	seen := map[string]bool{}
	var file int
	for _, ti := range types {
		if seen[ti.Type] {
			t.Errorf("%s listed twice", ti.Type)
		}
		seen[ti.Type] = true
		if ti.FileActivity != (ti.Action != "") {
			t.Errorf("%s: file activity %v but action %q", ti.Type, ti.FileActivity, ti.Action)
		}
		if ti.FileActivity {
			file++
			if !ti.Action.Valid() {
				t.Errorf("%s: action %q is not valid", ti.Type, ti.Action)
			}
		}
	}
	// Every type the brief names is mapped.
	for _, typ := range strings.Fields(`UPLOAD EDIT COPY RENAME MOVE DELETE UNDELETE SHARE ITEM_SHARED_UPDATE UNSHARE
		SHARED_LINK_SEND SHARE_EXPIRATION UPDATE_SHARE_EXPIRATION COLLABORATION_INVITE COLLABORATION_ACCEPT
		COLLABORATION_ROLE_CHANGE COLLABORATION_REMOVE COLLABORATION_EXPIRATION FILE_VERSION_RESTORE DOWNLOAD PREVIEW
		ITEM_OPEN ITEM_MODIFY ITEM_EMAIL_SEND FILE_WATERMARKED_DOWNLOAD ITEM_CREATE ITEM_UPLOAD ITEM_MOVE ITEM_RENAME
		ITEM_TRASH ITEM_UNDELETE_VIA_TRASH ITEM_SHARED_CREATE ITEM_SHARED_UNSHARE ITEM_COPY ITEM_DOWNLOAD ITEM_PREVIEW
		COLLAB_ADD_COLLABORATOR COLLAB_INVITE_COLLABORATOR COLLAB_REMOVE_COLLABORATOR COLLAB_ROLE_CHANGE
		ITEM_MAKE_CURRENT_VERSION`) {
		if _, ok := ruleFor(typ); !ok {
			t.Errorf("%s is not mapped", typ)
		}
		if !isKnownType(typ) {
			t.Errorf("%s is not in the known types", typ)
		}
	}
	if file < 40 || len(types) < 240 {
		t.Errorf("%d types, %d file activity: the table looks truncated", len(types), file)
	}
}
