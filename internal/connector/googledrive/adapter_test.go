package googledrive

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

// p is one parameter as the Reports API sends it: a string value, a boolean (boolValue), an int
// (intValue, a string per the discovery document), or a list (multiValue).
func p(name string, v any) map[string]any {
	switch x := v.(type) {
	case bool:
		return map[string]any{"name": name, "boolValue": x}
	case int:
		return map[string]any{"name": name, "intValue": fmt.Sprint(x)}
	case []string:
		return map[string]any{"name": name, "multiValue": x}
	}
	return map[string]any{"name": name, "value": v}
}

func ev(typ, name string, params ...map[string]any) map[string]any {
	return map[string]any{"type": typ, "name": name, "parameters": params}
}

// activity is a Reports API activity as documented (schema Activity), with the fields Google adds
// that Telltale does not use (etag, kind, networkInfo, resourceDetails, isAgenticAction).
func activity(uq any, actor string, events ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"kind": "admin#reports#activity", "etag": `"x"`,
		"id":          map[string]any{"time": "2026-11-30T14:03:07.512Z", "uniqueQualifier": uq, "applicationName": "drive", "customerId": "C01abcd"},
		"actor":       map[string]any{"email": actor, "profileId": "1134", "callerType": "USER"},
		"ipAddress":   "203.0.113.9",
		"ownerDomain": "corp.example",
		"networkInfo": map[string]any{"regionCode": "FR"}, "resourceDetails": []any{}, "isAgenticAction": false,
		"events": events,
	})
	return b
}

func doc(id, title, typ string) []map[string]any {
	return []map[string]any{p("doc_id", id), p("doc_title", title), p("doc_type", typ), p("owner", "Alice@corp.example"), p("primary_event", true)}
}

func adaptRaw(t *testing.T, raw []byte, o Options) []connector.Record {
	t.Helper()
	a, err := DecodeActivity(raw)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	recs := Adapt(a, o)
	for _, r := range recs {
		for i := range r.Events {
			if err := r.Events[i].Validate(); err != nil {
				t.Errorf("record %s: invalid event: %v", r.VendorID, err)
			}
		}
	}
	return recs
}

// TestAdapt: every mapped event name, and the skip reasons, on activities shaped as the Reports API
// documents them.
func TestAdapt(t *testing.T) {
	with := func(base []map[string]any, extra ...map[string]any) []map[string]any {
		return append(append([]map[string]any{}, base...), extra...)
	}
	type want struct {
		skip    string
		action  event.Action
		check   func(t *testing.T, e event.FileEvent, drive string)
		comment string
	}
	cases := map[string]struct {
		event map[string]any
		want  want
	}{
		"upload": {ev("access", "upload", doc("d1", "plan.pdf", "pdf")...), want{action: event.ActionCreated, check: func(t *testing.T, e event.FileEvent, drive string) {
			if e.File.ID != "d1" || e.File.Name != "plan.pdf" || e.File.MimeType != "application/pdf" || e.File.Owner != "alice@corp.example" || drive != "alice@corp.example" {
				t.Errorf("file %+v drive %q", e.File, drive)
			}
			if e.User.Email != "bob@corp.example" || e.User.VendorID != "1134" || e.Source.IP != "203.0.113.9" || e.Event.Observer != event.ObserverGoogleDrive {
				t.Errorf("user %+v source %+v observer %s", e.User, e.Source, e.Event.Observer)
			}
			if e.Timestamp.Format("2006-01-02T15:04:05.000Z07:00") != "2026-11-30T14:03:07.512Z" {
				t.Errorf("timestamp %v", e.Timestamp)
			}
		}}},
		"create":    {ev("access", "create", doc("d1", "Notes", "document")...), want{action: event.ActionCreated}},
		"copy":      {ev("access", "copy", with(doc("d2", "Copy of plan.pdf", "pdf"), p("copy_type", "external"))...), want{action: event.ActionCreated}},
		"edit":      {ev("access", "edit", doc("d1", "Notes", "document")...), want{action: event.ActionModified}},
		"trash":     {ev("access", "trash", doc("d1", "plan.pdf", "pdf")...), want{action: event.ActionDeleted}},
		"delete":    {ev("access", "delete", with(doc("d1", "plan.pdf", "pdf"), p("deletion_reason", "user_deleted"))...), want{action: event.ActionDeleted}},
		"untrash":   {ev("access", "untrash", doc("d1", "plan.pdf", "pdf")...), want{action: event.ActionRestored}},
		"download":  {ev("access", "download", doc("d1", "plan.pdf", "pdf")...), want{action: event.ActionDownloaded}},
		"view":      {ev("access", "view", doc("d1", "plan.pdf", "pdf")...), want{action: event.ActionViewed}},
		"preview":   {ev("access", "preview", doc("d1", "plan.pdf", "pdf")...), want{action: event.ActionViewed}},
		"emailed":   {ev("access", "email_as_attachment", doc("d1", "plan.pdf", "pdf")...), want{action: event.ActionEmailed}},
		"secondary": {ev("access", "edit", with(doc("d1", "Notes", "document")[:4], p("primary_event", false))...), want{skip: SkipSecondary}},
		"rename": {ev("access", "rename", with(doc("d1", "new.pdf", "pdf"), p("old_value", "old.pdf"), p("new_value", "new.pdf"))...), want{action: event.ActionRenamed, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.File.Name != "new.pdf" || e.File.OriginalName != "old.pdf" {
				t.Errorf("rename: %+v", e.File)
			}
		}}},
		"move": {ev("access", "move", with(doc("d1", "plan.pdf", "pdf"), p("source_folder_title", "Inbox"), p("destination_folder_title", "Finance"))...), want{action: event.ActionMoved, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.File.OriginalDirectory != "/Inbox" || e.File.Directory != "/Finance" || e.File.Path != "/Finance/plan.pdf" {
				t.Errorf("move: %+v", e.File)
			}
		}}},
		"rename, names as lists": {ev("access", "rename", with(doc("d1", "new.pdf", "pdf"), p("old_value", []string{"old.pdf"}), p("new_value", []string{"new.pdf"}))...), want{action: event.ActionRenamed, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.File.Name != "new.pdf" || e.File.OriginalName != "old.pdf" {
				t.Errorf("rename: %+v", e.File)
			}
		}}},
		"move, folders as lists": {ev("access", "move", with(doc("d1", "plan.pdf", "pdf"), p("source_folder_id", []string{"f0"}), p("source_folder_title", []string{"Inbox"}), p("destination_folder_id", []string{"f1"}), p("destination_folder_title", []string{"Finance"}))...), want{action: event.ActionMoved, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.File.OriginalDirectory != "/Inbox" || e.File.Directory != "/Finance" || e.File.Path != "/Finance/plan.pdf" {
				t.Errorf("move: %+v", e.File)
			}
		}}},
		"link removed, people keep access": {ev("acl_change", "change_document_visibility", with(doc("d1", "plan.pdf", "pdf"), p("visibility", "shared_internally"), p("old_visibility", "people_with_link"), p("target_domain", "all"))...), want{action: event.ActionUnshared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.Sharing.LinkScope != event.LinkSpecific {
				t.Errorf("sharing %+v", e.Sharing)
			}
		}}},
		"link narrowed to the domain": {ev("acl_change", "change_document_visibility", with(doc("d1", "plan.pdf", "pdf"), p("visibility", "people_within_domain_with_link"), p("old_visibility", "people_with_link"))...), want{action: event.ActionUnshared}},
		"public link": {ev("acl_change", "change_document_visibility", with(doc("d1", "plan.pdf", "pdf"), p("visibility", "people_with_link"), p("old_visibility", "private"))...), want{action: event.ActionShared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.Sharing.LinkScope != event.LinkAnyone {
				t.Errorf("sharing %+v", e.Sharing)
			}
		}}},
		"domain link": {ev("acl_change", "change_document_visibility", with(doc("d1", "plan.pdf", "pdf"), p("visibility", "people_within_domain_with_link"))...), want{action: event.ActionShared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.Sharing.LinkScope != event.LinkOrganization {
				t.Errorf("sharing %+v", e.Sharing)
			}
		}}},
		"made private": {ev("acl_change", "change_document_visibility", with(doc("d1", "plan.pdf", "pdf"), p("visibility", "private"), p("old_visibility", "people_with_link"))...), want{action: event.ActionUnshared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.Sharing.LinkScope != event.LinkNone {
				t.Errorf("sharing %+v", e.Sharing)
			}
		}}},
		"shared with a person": {ev("acl_change", "change_user_access", with(doc("d1", "plan.pdf", "pdf"), p("target_user", "Eve@Gmail.com"), p("new_value", []string{"can_view"}), p("old_value", []string{"none"}))...), want{action: event.ActionShared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if !cmp.Equal(e.Sharing.SharedWith, []string{"eve@gmail.com"}) || e.Sharing.Tenants != nil {
				t.Errorf("sharing %+v (a person's tenant is not in the record: never guessed)", e.Sharing)
			}
		}}},
		"access removed": {ev("acl_change", "change_user_access", with(doc("d1", "plan.pdf", "pdf"), p("target_user", "eve@gmail.com"), p("new_value", []string{"none"}), p("old_value", []string{"can_edit"}))...), want{action: event.ActionUnshared}},
		"anyone by scope": {ev("acl_change", "change_document_access_scope", with(doc("d1", "plan.pdf", "pdf"), p("target_domain", "all"), p("new_value", []string{"can_view"}))...), want{action: event.ActionShared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.Sharing.LinkScope != event.LinkAnyone {
				t.Errorf("sharing %+v", e.Sharing)
			}
		}}},
		"own domain by scope": {ev("acl_change", "change_document_access_scope", with(doc("d1", "plan.pdf", "pdf"), p("target_domain", "corp.example"), p("new_value", []string{"can_view"}))...), want{action: event.ActionShared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.Sharing.LinkScope != event.LinkOrganization {
				t.Errorf("sharing %+v", e.Sharing)
			}
		}}},
		"partner domain by scope": {ev("acl_change", "change_document_access_scope", with(doc("d1", "plan.pdf", "pdf"), p("target_domain", "partner.example"), p("new_value", []string{"can_comment"}))...), want{action: event.ActionShared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if !cmp.Equal(e.Sharing.SharedWith, []string{"partner.example"}) || !cmp.Equal(e.Sharing.Tenants, []event.DestinationTenant{{To: "partner.example", Tenant: "partner.example"}}) {
				t.Errorf("sharing %+v: want the partner's Workspace as the destination's tenant", e.Sharing)
			}
		}}},
		"inherited":      {ev("acl_change", "change_user_access_hierarchy_reconciled", doc("d1", "plan.pdf", "pdf")...), want{skip: SkipReconciled}},
		"copy source":    {ev("access", "source_copy", doc("d1", "plan.pdf", "pdf")...), want{skip: SkipCopySource}},
		"folder created": {ev("access", "create", doc("f1", "Finance", "folder")...), want{skip: SkipFolder}},
		"folder shared": {ev("acl_change", "change_user_access", with(doc("f1", "Finance", "folder"), p("target_user", "eve@gmail.com"), p("new_value", []string{"can_view"}))...), want{action: event.ActionShared, check: func(t *testing.T, e event.FileEvent, _ string) {
			if e.File.ID != "folder:f1" {
				t.Errorf("folder id %q", e.File.ID)
			}
		}}},
		"shared drive file": {ev("access", "edit", with(doc("d9", "budget.xlsx", "msexcel")[:3], p("owner", "Finance team"), p("owner_is_shared_drive", true), p("owner_shared_drive_id", "0ASD1"))...), want{action: event.ActionModified, check: func(t *testing.T, e event.FileEvent, drive string) {
			if drive != "0ASD1" || e.File.DriveID != "0ASD1" || e.File.Owner != "" {
				t.Errorf("drive %q file %+v", drive, e.File)
			}
		}}},
		"shared drive member added": {ev("acl_change", "shared_drive_membership_change", p("doc_id", "0ASD1"), p("doc_title", "Finance"), p("doc_type", "shared_drive"), p("target_user", "eve@gmail.com"), p("new_value", []string{"organizer"})), want{action: event.ActionShared, check: func(t *testing.T, e event.FileEvent, drive string) {
			if e.File.ID != "folder:0ASD1" || drive != "0ASD1" || !cmp.Equal(e.Sharing.SharedWith, []string{"eve@gmail.com"}) {
				t.Errorf("drive %q file %+v sharing %+v", drive, e.File, e.Sharing)
			}
		}}},
		"not file activity": {ev("access", "search", p("primary_event", true)), want{skip: SkipNotFileActivity}},
		"own read":          {ev("access", "download", with(doc("d1", "plan.pdf", "pdf"), p("originating_app_id", "telltale-app"))...), want{skip: SkipOwnRead}},
		"no document":       {ev("access", "download", p("doc_title", "x")), want{skip: SkipNoDocument}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			recs := adaptRaw(t, activity("358068855354", "Bob@corp.example", tc.event), Options{OwnApps: []string{"telltale-app"}})
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			r := recs[0]
			if r.Skip != tc.want.skip {
				t.Fatalf("skip %q, want %q", r.Skip, tc.want.skip)
			}
			if tc.want.skip != "" {
				if len(r.Events) != 0 {
					t.Errorf("a skipped record carries events")
				}
				return
			}
			if len(r.Events) != 1 || r.Events[0].Event.Action != tc.want.action {
				t.Fatalf("events %+v, want one %s", r.Events, tc.want.action)
			}
			if tc.want.check != nil {
				tc.want.check(t, r.Events[0], r.Drive)
			}
		})
	}
}

// TestRecordIdentity: one activity's events are separate records with stable, distinct ids (an
// ACL change for two people is two events of one name); the unique qualifier is the same whether it
// arrives as a JSON string (as the discovery document says) or a number.
func TestRecordIdentity(t *testing.T) {
	two := []map[string]any{
		ev("acl_change", "change_user_access", append(doc("d1", "a.pdf", "pdf"), p("target_user", "x@gmail.com"), p("new_value", []string{"can_view"}))...),
		ev("acl_change", "change_user_access", append(doc("d1", "a.pdf", "pdf"), p("target_user", "y@gmail.com"), p("new_value", []string{"can_view"}))...),
	}
	asString := adaptRaw(t, activity("358068855354", "bob@corp.example", two...), Options{})
	asNumber := adaptRaw(t, activity(358068855354, "bob@corp.example", two...), Options{})
	if len(asString) != 2 || asString[0].VendorID == asString[1].VendorID {
		t.Fatalf("records %+v", asString)
	}
	for i := range asString {
		if asString[i].VendorID != asNumber[i].VendorID {
			t.Errorf("record %d: id %q as a string, %q as a number", i, asString[i].VendorID, asNumber[i].VendorID)
		}
	}
	if want := "2026-11-30T14:03:07.512Z/358068855354/1/change_user_access"; asString[1].VendorID != want {
		t.Errorf("id %q, want %q", asString[1].VendorID, want)
	}
}

// TestDecodeErrors: an activity the adapter cannot rely on is refused naming the field; unknown
// fields and nulls are not errors.
func TestDecodeErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":{"uniqueQualifier":"1"},"events":[]}`:                                          "id.time is missing",
		`{"id":{"time":"yesterday"},"events":[]}`:                                             `id.time "yesterday" is not RFC 3339`,
		`{"id":{"time":"2026-11-30T14:03:07Z"},"events":{"name":"x"}}`:                        "events: want an array, got an object",
		`{"id":{"time":"2026-11-30T14:03:07Z"},"events":[{"name":7}]}`:                        "events[0]: name: want a string",
		`{"id":{"time":"2026-11-30T14:03:07Z"},"events":[{"name":"view","parameters":[{}]}]}`: "events[0]: parameters[0]: name: want a non-empty string",
		`{"id":{"time":"2026-11-30T14:03:07Z"},"events":[{"name":"view","parameters":"x"}]}`:  "events[0]: parameters: want an array",
		`{"id":[1],"events":[]}`: "id: want an object, got an array",
	} {
		_, err := DecodeActivity([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", in, err, want)
		}
	}
	a, err := DecodeActivity([]byte(`{"id":{"time":"2026-11-30T14:03:07Z","uniqueQualifier":null},"actor":null,"events":null,"newField":{"a":1}}`))
	if err != nil || len(a.Events) != 0 {
		t.Errorf("nulls and unknown fields: %+v %v", a, err)
	}
}

// TestReadRecords: a pretty-printed API page, JSON lines with a bad line in the middle; each record
// reported with its line, the bad one with its error, the rest still read.
func TestReadRecords(t *testing.T) {
	line := func(uq string) string {
		return string(activity(uq, "bob@corp.example", ev("access", "download", doc("d"+uq, "f.pdf", "pdf")...)))
	}
	page := "{\n \"kind\": \"admin#reports#activities\",\n \"items\": [\n  " + line("1") + ",\n  " + line("2") + "\n ],\n \"nextPageToken\": \"t\"\n}\n"
	in := page + line("3") + "\n" + `{"id":{"time":"bad"},"events":[]}` + "\n" + line("4") + "\n"
	type got struct {
		Line int
		ID   string
		Err  bool
	}
	var out []got
	err := ReadRecords(strings.NewReader(in), Options{}, func(l int, rec connector.Record, err error) error {
		g := got{Line: l, Err: err != nil}
		if err == nil {
			g.ID = rec.Events[0].File.ID
		} else if !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", l)) {
			t.Errorf("error %q does not name line %d", err, l)
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []got{{4, "d1", false}, {5, "d2", false}, {9, "d3", false}, {10, "", true}, {11, "d4", false}}
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
