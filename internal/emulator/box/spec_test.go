package box

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/testutil/openapi"
	"github.com/telltale-dev/telltale/internal/testutil/openapi/boxspec"
)

// The tests here validate every answer the emulator gives against Box's official spec
// (testdata/openapi.json, see testdata/README.md) with the strict validator of
// internal/testutil/openapi: undeclared properties are errors, oneOf means exactly one branch, and
// every status must be declared. The documented differences between the spec and Box's real API
// are boxspec.Exceptions, each with its source; the connector's requests are validated in
// internal/connector/box.

// boxSpec is Box's spec, loaded once for the package's tests (TestResponsesMatchSpec loads its own,
// to see which exceptions its walk uses).
var boxSpec = func() func(t *testing.T) *openapi.Doc {
	var once sync.Once
	var doc *openapi.Doc
	return func(t *testing.T) *openapi.Doc {
		once.Do(func() { doc = boxspec.Load(t) })
		if doc == nil {
			t.Fatal("Box's spec did not load")
		}
		return doc
	}
}()

// walk exercises every endpoint the emulator serves, success and error answers, and returns the
// recorded exchanges.
func walk(t *testing.T) []exchange {
	t.Helper()
	h := newHarness(t, Options{Users: 6, FilesPerUser: 6, RateLimitPerMinute: 6000, RateBurst: 1000})
	users := h.activeUsers()
	a, b := users[0], users[1]
	fid, _ := h.emu.Upload(a.ID, "0", "walk.pdf", nil)
	folder := ""
	for _, e := range entries(h.mustGet("/2.0/folders/0/items", a.ID)) {
		if e["type"] == "folder" {
			folder = e["id"].(string)
		}
	}
	h.emu.ShareLink(a.ID, fid, "company")
	h.emu.Collaborate(a.ID, "file", fid, b.Login, "editor")
	h.emu.Collaborate(a.ID, "folder", folder, "pat@gmail.com", "viewer")
	g := h.emu.Groups()[0]
	h.emu.Collaborate(a.ID, "folder", folder, "group:"+g.ID, "viewer")
	trashed, _ := h.emu.Upload(a.ID, "0", "gone.txt", nil)
	h.emu.Trash(a.ID, trashed)
	h.emu.Step(200)
	h.emu.SetUserAccessible(users[2].ID, false)

	// Token endpoint: success and each error.
	h.token("user", a.ID)
	for _, f := range []map[string]string{
		{"grant_type": "client_credentials", "client_id": "emu-client-id", "client_secret": "x", "box_subject_type": "enterprise", "box_subject_id": "900001"},
		{"grant_type": "client_credentials", "client_id": "emu-client-id", "client_secret": "emu-client-secret", "box_subject_type": "enterprise", "box_subject_id": "1"},
		{"grant_type": "password"},
		{},
	} {
		form := map[string][]string{}
		for k, v := range f {
			form[k] = []string{v}
		}
		h.postForm("/oauth2/token", form)
	}
	fileFields := "type,id,etag,sequence_id,name,sha1,file_version,description,size,path_collection,created_at,modified_at,trashed_at,purged_at,content_created_at,content_modified_at,created_by,modified_by,owned_by,shared_link,parent,item_status,version_number,extension,has_collaborations,is_externally_owned"
	gets := []struct{ path, as string }{
		{"/2.0/users", ""}, {"/2.0/users?usemarker=true&limit=2", ""}, {"/2.0/users?fields=id,login,status,role,enterprise", ""},
		{"/2.0/users?user_type=external", ""}, {"/2.0/users?filter_term=adm", ""}, {"/2.0/users?limit=5000", ""}, {"/2.0/users?offset=20000", ""},
		{"/2.0/users/me", ""}, {"/2.0/users/me", a.ID}, {"/2.0/users/me?fields=login,role", a.ID}, {"/2.0/users/me", "999"}, {"/2.0/users/me", users[2].ID},
		{"/2.0/users/" + b.ID, ""}, {"/2.0/users/42", ""},
		{"/2.0/groups", ""}, {"/2.0/groups?limit=1&offset=1", ""}, {"/2.0/groups?filter_term=x", ""}, {"/2.0/groups?limit=2000", ""},
		{"/2.0/groups/" + g.ID + "/memberships", ""}, {"/2.0/groups/1/memberships", ""},
		{"/2.0/folders/0", a.ID}, {"/2.0/folders/0", ""}, {"/2.0/folders/" + folder, a.ID}, {"/2.0/folders/" + folder + "?fields=name,owned_by,path_collection,item_collection", a.ID},
		{"/2.0/folders/" + folder, b.ID}, {"/2.0/folders/1", a.ID},
		{"/2.0/folders/0/items", a.ID}, {"/2.0/folders/0/items?usemarker=true&limit=2", a.ID}, {"/2.0/folders/0/items?fields=" + fileFields, a.ID},
		{"/2.0/folders/0/items", b.ID}, {"/2.0/folders/0/items?offset=1&limit=3", b.ID}, {"/2.0/folders/0/items?limit=1001", a.ID},
		{"/2.0/folders/" + folder + "/items?fields=name,sha1,size,owned_by,shared_link", "pat"},
		{"/2.0/folders/" + folder + "/collaborations", a.ID}, {"/2.0/folders/" + folder + "/collaborations", b.ID},
		{"/2.0/files/" + fid, a.ID}, {"/2.0/files/" + fid, b.ID}, {"/2.0/files/" + fid + "?fields=" + fileFields, a.ID},
		{"/2.0/files/" + fid + "?fields=shared_link", a.ID}, {"/2.0/files/" + trashed, a.ID}, {"/2.0/files/" + fid, ""},
		{"/2.0/files/" + fid + "/collaborations", a.ID}, {"/2.0/files/" + fid + "/collaborations?fields=accessible_by,role", b.ID},
		{"/2.0/files/" + fid + "/content", a.ID}, {"/2.0/files/" + fid + "/content", b.ID}, {"/2.0/files/1/content", a.ID},
		{"/2.0/events?stream_type=admin_logs&limit=500", ""}, {"/2.0/events?stream_type=admin_logs_streaming&limit=500", ""},
		{"/2.0/events?stream_type=admin_logs_streaming&stream_position=now", ""}, {"/2.0/events?stream_type=admin_logs&event_type=SHARE,COLLABORATION_INVITE", ""},
		{"/2.0/events?stream_type=admin_logs&limit=600", ""}, {"/2.0/events?stream_type=changes", ""}, {"/2.0/events?stream_type=admin_logs_streaming&stream_position=x", ""},
		{"/2.0/webhooks", a.ID}, {"/2.0/webhooks/1", a.ID}, {"/2.0/nothing", ""},
	}
	for _, g := range gets {
		as := g.as
		if as == "pat" {
			as = ""
		}
		h.do("GET", g.path, "", as, nil).Body.Close()
	}
	// The download the content redirect points to (outside the API, see boxspec.Exceptions).
	resp := h.do("GET", "/2.0/files/"+fid+"/content", "", a.ID, nil)
	resp.Body.Close()
	dl, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(dl.Path, "/dl/") {
		t.Fatalf("content redirect to %q", resp.Header.Get("Location"))
	}
	h.do("GET", dl.RequestURI(), "-", "", nil).Body.Close()
	// Webhooks: create, refusals, get, delete.
	post := func(body string) string {
		resp := h.do("POST", "/2.0/webhooks", "", a.ID, strings.NewReader(body))
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		id, _ := m["id"].(string)
		return id
	}
	wid := post(`{"target":{"id":"` + folder + `","type":"folder"},"address":"https://example.com/hook","triggers":["FILE.UPLOADED"]}`)
	post(`{"target":{"id":"` + folder + `","type":"folder"},"address":"https://example.com/hook","triggers":["FILE.UPLOADED"]}`)
	post(`{"target":{"id":"0","type":"folder"},"address":"https://example.com/hook","triggers":["FILE.UPLOADED"]}`)
	post(`{"target":{"id":"1","type":"file"},"address":"https://example.com/hook","triggers":["FILE.UPLOADED"]}`)
	post(`{"target":{"id":"` + fid + `","type":"file"},"address":"https://example.com/hook","triggers":["NOPE"]}`)
	post(`not json`)
	h.do("GET", "/2.0/webhooks", "", a.ID, nil).Body.Close()
	h.do("GET", "/2.0/webhooks/"+wid, "", a.ID, nil).Body.Close()
	h.do("DELETE", "/2.0/webhooks/"+wid, "", a.ID, nil).Body.Close()
	// Authentication, as-user, rate limit and fault answers.
	h.do("GET", "/2.0/users/me", "-", "", nil).Body.Close()
	h.do("GET", "/2.0/users/me", "bad", "", nil).Body.Close()
	for _, kind := range []string{"500", "502", "503", "429", "timeout"} {
		h.emu.SetFaults(Faults{Rate: 1, Kinds: []string{kind}, HangFor: time.Millisecond})
		h.do("GET", "/2.0/users", "", "", nil).Body.Close()
	}
	h.emu.SetFaults(Faults{})
	h2 := newHarness(t, Options{RateLimitPerMinute: 1, RateBurst: 1})
	h2.do("GET", "/2.0/users/me", "", "", nil).Body.Close()
	h2.do("GET", "/2.0/users/me", "", "", nil).Body.Close()

	var all []exchange
	h.rec.mu.Lock()
	all = append(all, h.rec.got...)
	h.rec.mu.Unlock()
	return append(all, h2.rec.got...)
}

// check validates one recorded answer. A path Box does not have must still answer Box's
// ClientError.
func check(spec *openapi.Doc, x exchange) error {
	err := spec.ValidateResponse(x.method, x.path, x.status, x.header, x.body)
	if errors.Is(err, openapi.ErrNoOperation) && x.status >= 400 {
		return spec.ValidateSchema("#/components/schemas/ClientError", x.body)
	}
	return err
}

func TestResponsesMatchSpec(t *testing.T) {
	start := time.Now()
	spec := boxspec.Load(t)
	all := walk(t)
	statuses := map[int]int{}
	for _, x := range all {
		statuses[x.status]++
		if err := check(spec, x); err != nil {
			t.Error(err)
		}
	}
	for _, want := range []int{200, 201, 204, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504} {
		if statuses[want] == 0 {
			t.Errorf("the walk never produced a %d answer: %v", want, statuses)
		}
	}
	for _, e := range spec.Unused() {
		if e.Rule != openapi.RuleHeader { // a request header: the connector's test uses it
			t.Errorf("the exception %v no longer applies to any answer: remove it (%s)", e, e.Reason)
		}
	}
	t.Logf("validated %d responses in %v: %v", len(all), time.Since(start).Round(time.Millisecond), statuses)
}

// TestSpecCatchesBrokenResponses proves the validation bites: each case takes a real answer from the
// walk, breaks one field, and the validator must refuse it with an error naming the JSON path.
func TestSpecCatchesBrokenResponses(t *testing.T) {
	spec := boxSpec(t)
	all := walk(t)
	find := func(what, path string, ok func(map[string]any) bool) exchange {
		t.Helper()
		for _, x := range all {
			if x.method != "GET" || !strings.HasPrefix(x.path, path) || len(x.body) == 0 {
				continue
			}
			var m map[string]any
			if json.Unmarshal(x.body, &m) == nil && ok(m) {
				return x
			}
		}
		t.Fatalf("the walk recorded no %s", what)
		return exchange{}
	}
	usersPage := find("users page with a next marker", "/2.0/users", func(m map[string]any) bool {
		s, _ := m["next_marker"].(string)
		return s != "" && len(m["entries"].([]any)) > 1
	})
	eventsPage := find("events page", "/2.0/events", func(m map[string]any) bool {
		l, _ := m["entries"].([]any)
		return len(l) > 10
	})
	// The first event whose source is an item (EventSource), and one whose source is a user.
	var events map[string]any
	json.Unmarshal(eventsPage.body, &events)
	item, user := -1, -1
	for i, e := range events["entries"].([]any) {
		src, _ := e.(map[string]any)["source"].(map[string]any)
		if _, ok := src["item_type"]; ok && item < 0 && i > 0 {
			item = i
		}
		if src["type"] == "user" && user < 0 {
			user = i
		}
	}
	if item < 0 || user < 0 {
		t.Fatalf("the events page has no item source (%d) or no user source (%d)", item, user)
	}
	file := find("file with a shared link", "/2.0/files/", func(m map[string]any) bool { return m["shared_link"] != nil })
	items := find("folder listing", "/2.0/folders/0/items", func(m map[string]any) bool { return len(m["entries"].([]any)) > 0 })
	notFound := find("not_found error", "/2.0/", func(m map[string]any) bool { return m["code"] == "not_found" })
	token := exchange{}
	for _, x := range all {
		if x.path == "/oauth2/token" && x.status == 200 {
			token = x
		}
	}
	src := func(i int) string { return fmt.Sprintf("entries[%d].source", i) }
	ev := func(i int) string { return fmt.Sprintf("entries[%d]", i) }

	for _, c := range []struct {
		name string
		x    exchange
		path string // where to break: a dotted path with [i] indices
		op   func(parent map[string]any, key string)
		want string
	}{
		{"next_marker renamed", usersPage, "next_marker", rename("nextMarker"), "nextMarker: property \"nextMarker\" is not declared"},
		{"undeclared user property", usersPage, "entries[1].favourite_colour", set("green"), "entries[1].favourite_colour"},
		{"user id as a number", usersPage, "entries[1].id", set(json.Number("42")), "entries[1].id: 42 is an integer, not string"},
		{"limit as a string", usersPage, "limit", set("2"), "limit: \"2\" is a string, not integer"},
		{"event source item_id as a number", eventsPage, src(item) + ".item_id", set(json.Number("7")), src(item) + ".item_id"},
		{"event source item_id missing", eventsPage, src(item) + ".item_id", del, src(item) + ".item_id: required property"},
		{"event source with an undeclared property", eventsPage, src(item) + ".colour", set("red"), src(item) + ".colour: property \"colour\" is not declared"},
		{"event source claimed by two branches", eventsPage, src(item) + ".type", set("file"), src(item) + ": matches no oneOf branch of EventSource, File"},
		{"event source with an unknown item_type", eventsPage, src(item) + ".item_type", set("document"), src(item) + ": matches no oneOf branch of EventSource"},
		// (A user source without its type is an untagged object: the spec's GenericSource takes it.)
		{"user source with a type no branch has", eventsPage, src(user) + ".type", set("person"), src(user) + ": matches no oneOf branch of User, File, Folder, AppItemEventSource"},
		{"user source with an undeclared property", eventsPage, src(user) + ".nickname", set("al"), src(user) + ".nickname"},
		{"event type outside the enum", eventsPage, ev(item) + ".event_type", set("UPLOADED"), ev(item) + ".event_type: \"UPLOADED\" is not one of"},
		{"event created_at not a date-time", eventsPage, ev(item) + ".created_at", set("2026-03-02 09:00"), ev(item) + ".created_at"},
		{"event_id renamed", eventsPage, ev(item) + ".event_id", rename("id"), ev(item) + ".id: property \"id\" is not declared"},
		{"next_stream_position a boolean", eventsPage, "next_stream_position", set(true), "next_stream_position: matches none of the 2 anyOf branches"},
		{"shared link access outside the enum", file, "shared_link.access", set("world"), "shared_link.access"},
		{"owned_by null", file, "owned_by", set(nil), "owned_by: null is not allowed"},
		{"file size a string", file, "size", set("12"), "size"},
		{"listing entry with an unknown type", items, "entries[0].type", set("folders"), "entries[0]: matches no oneOf branch of File--Full, Folder--Mini, WebLink"},
		{"listing folder with an undeclared property", items, "entries[0].colour", set("red"), "entries[0].colour"},
		{"error status a string", notFound, "status", set("404"), "status"},
		{"error type outside the enum", notFound, "type", set("failure"), "type: \"failure\" is not one of [\"error\"]"},
		{"token expires_in a string", token, "expires_in", set("3600"), "expires_in"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := check(spec, c.x); err != nil {
				t.Fatalf("the unbroken answer fails already: %v", err)
			}
			broken := mutate(t, c.x.body, c.path, c.op)
			err := spec.ValidateResponse(c.x.method, c.x.path, c.x.status, c.x.header, broken)
			if err == nil {
				t.Fatalf("the broken answer passed: %.300s", broken)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not name %q:\n%v", c.want, err)
			}
			t.Log(err)
		})
	}
}

func set(v any) func(map[string]any, string) { return func(m map[string]any, k string) { m[k] = v } }
func del(m map[string]any, k string)         { delete(m, k) }
func rename(to string) func(map[string]any, string) {
	return func(m map[string]any, k string) { m[to] = m[k]; delete(m, k) }
}

// mutate decodes body, applies op to the last step of path (a.b[2].c) and encodes it again.
func mutate(t *testing.T, body []byte, path string, op func(parent map[string]any, key string)) []byte {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		t.Fatal(err)
	}
	steps := strings.Split(strings.NewReplacer("[", ".[").Replace(path), ".")
	cur := root
	for _, s := range steps[:len(steps)-1] {
		if i, ok := strings.CutPrefix(s, "["); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(i, "]"))
			cur = cur.([]any)[n]
		} else {
			cur = cur.(map[string]any)[s]
		}
	}
	op(cur.(map[string]any), steps[len(steps)-1])
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
