package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	"google.golang.org/api/drive/v3"

	"github.com/telltale-dev/telltale/internal/testutil/discovery"
)

// The discovery documents shipped in google.golang.org/api (the module cache; go list -m finds
// it): the schemas the real clients decode.
var docs = func() func(t *testing.T) (drive, directory *discovery.Doc) {
	var once sync.Once
	var d, a *discovery.Doc
	var err error
	return func(t *testing.T) (*discovery.Doc, *discovery.Doc) {
		once.Do(func() {
			if d, err = discovery.LoadFromModule("drive/v3/drive-api.json"); err == nil {
				a, err = discovery.LoadFromModule("admin/directory/v1/admin-api.json")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return d, a
	}
}()

// gmailDoc is gmail/v1's discovery document.
var gmailDoc = func() func(t *testing.T) *discovery.Doc {
	var once sync.Once
	var d *discovery.Doc
	var err error
	return func(t *testing.T) *discovery.Doc {
		once.Do(func() { d, err = discovery.LoadFromModule("gmail/v1/gmail-api.json") })
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
}()

// check validates one recorded answer: a 2xx JSON answer against its method's response schema in
// the discovery document, an error against Google's error shape, a token endpoint answer against
// RFC 6749's.
func check(t *testing.T, x exchange) error {
	d, a := docs(t)
	switch {
	case x.path == "/token":
		return checkOAuth(x)
	case x.path == "/oauth2/v3/certs":
		return checkJWKS(x)
	case x.status >= 300:
		return checkError(x)
	case strings.Contains(x.query, "alt=media") || strings.HasSuffix(x.path, "/export"):
		return nil // content, not JSON
	case strings.HasPrefix(x.path, "/drive/v3/"):
		return d.ValidateResponse(x.method, x.path, x.body)
	case strings.HasPrefix(x.path, "/admin/directory/v1/"):
		return a.ValidateResponse(x.method, x.path, x.body)
	case strings.HasPrefix(x.path, "/admin/reports/v1/"):
		return reportsDoc(t).ValidateResponse(x.method, x.path, x.body)
	case strings.HasPrefix(x.path, "/gmail/v1/"):
		return gmailDoc(t).ValidateResponse(x.method, x.path, x.body)
	}
	return fmt.Errorf("%s %s: an answer from no API", x.method, x.path)
}

// strictKeys decodes body as an object whose keys must be among allowed.
func strictKeys(body []byte, allowed ...string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %.100q", body)
	}
	ok := map[string]bool{}
	for _, k := range allowed {
		ok[k] = true
	}
	for _, k := range sortedKeys(m) {
		if !ok[k] {
			return nil, fmt.Errorf("%s: property %q is not declared", k, k)
		}
	}
	return m, nil
}

// checkError: {"error":{"code","message","errors":[{"message","domain","reason","location",
// "locationType"}],"status"}}, what googleapi.CheckResponse decodes.
func checkError(x exchange) error {
	where := fmt.Sprintf("%s %s %d", x.method, x.path, x.status)
	top, err := strictKeys(x.body, "error")
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	b, _ := json.Marshal(top["error"])
	e, err := strictKeys(b, "code", "message", "errors", "status")
	if err != nil {
		return fmt.Errorf("%s: error.%w", where, err)
	}
	if c, ok := e["code"].(float64); !ok || int(c) != x.status {
		return fmt.Errorf("%s: error.code %v is not the status", where, e["code"])
	}
	if _, ok := e["message"].(string); !ok {
		return fmt.Errorf("%s: error.message is not a string", where)
	}
	if _, ok := e["status"].(string); !ok {
		return fmt.Errorf("%s: error.status is not a string", where)
	}
	items, ok := e["errors"].([]any)
	if !ok || len(items) == 0 {
		return fmt.Errorf("%s: error.errors is not a non-empty array", where)
	}
	for i, it := range items {
		b, _ := json.Marshal(it)
		m, err := strictKeys(b, "message", "domain", "reason", "location", "locationType")
		if err != nil {
			return fmt.Errorf("%s: error.errors[%d].%w", where, i, err)
		}
		for _, k := range sortedKeys(m) {
			if _, ok := m[k].(string); !ok {
				return fmt.Errorf("%s: error.errors[%d].%s is not a string", where, i, k)
			}
		}
	}
	return nil
}

// checkOAuth: a token (access_token, expires_in, token_type) or an OAuth error (error,
// error_description).
func checkOAuth(x exchange) error {
	if x.status == 200 {
		m, err := strictKeys(x.body, "access_token", "expires_in", "token_type")
		if err == nil {
			if _, ok := m["expires_in"].(float64); !ok {
				err = errors.New("expires_in is not a number")
			}
		}
		return err
	}
	m, err := strictKeys(x.body, "error", "error_description")
	if err == nil && (m["error"] == nil || m["error_description"] == nil) {
		err = errors.New("error or error_description missing")
	}
	return err
}

// walk exercises every method the emulator serves, with success and error answers, through the
// real clients, and returns the recorded exchanges.
func walk(t *testing.T) []exchange {
	t.Helper()
	h := newHarness(t, Options{Users: 8, SharedDrives: 2, FilesPerDrive: 4})
	a, b := h.active()[0], h.active()[1]
	id, _ := h.emu.Upload(a.Email, "", "walk.pdf", "application/pdf", nil)
	doc, _ := h.emu.Upload(a.Email, "", "Walk", MimeDoc, nil)
	h.emu.Share(a.Email, id, Share{Type: "user", Email: "ext@gmail.com"})
	h.emu.Share(a.Email, id, Share{Type: "anyone"})
	h.emu.Share(a.Email, id, Share{Type: "domain"})
	h.emu.Share(a.Email, doc, Share{Type: "group", Email: h.emu.Groups()[0].Email})
	s, ad := h.drive(a.Email), h.drive(h.adminEmail())
	tok := startToken(t, s, "")
	h.emu.Step(100)
	h.emu.Edit(a.Email, id, nil)
	gone, _ := h.emu.Upload(a.Email, "", "gone.txt", "text/plain", nil)
	h.emu.Delete(a.Email, gone)
	sd := h.emu.SharedDrives()[0]
	var organizer string
	for email, role := range sd.Members {
		if role == "organizer" {
			organizer = email
		}
	}
	os := h.drive(organizer)
	dtok := startToken(t, os, sd.ID)
	h.emu.Upload(organizer, sd.ID, "in-drive.pdf", "application/pdf", nil)

	ignore := func(_ any, _ error) {}
	ignore(s.Files.List().Fields("*").PageSize(3).Do())
	ignore(s.Files.List().Do())
	ignore(s.Files.List().Q("'root' in parents and trashed=false").Fields(fileFields).Do())
	ignore(s.Files.List().PageSize(1001).Do())
	ignore(s.Files.List().Q("bad query").Do())
	ignore(s.Files.List().Corpora("drive").Do())
	ignore(os.Files.List().Corpora("drive").DriveId(sd.ID).IncludeItemsFromAllDrives(true).SupportsAllDrives(true).Fields("*").Do())
	ignore(os.Files.List().Corpora("allDrives").IncludeItemsFromAllDrives(true).SupportsAllDrives(true).Fields("*").Do())
	ignore(s.Files.Get(id).Fields("*").Do())
	ignore(s.Files.Get(doc).Fields("*").Do())
	ignore(s.Files.Get(id).Do())
	ignore(s.Files.Get("1nothing").Do())
	ignore(s.Files.Get(doc).Download())
	ignore(s.Files.Export(id, "text/plain").Download())
	ignore(s.Files.Export(doc, "image/png").Download())
	ignore(s.Files.Get(id).Download())
	ignore(s.Files.Export(doc, "application/pdf").Download())
	ignore(s.Permissions.List(id).Fields("*").Do())
	ignore(s.Permissions.List(id).Do())
	ignore(h.drive(b.Email).Permissions.List(doc).Do())
	ignore(ad.Permissions.List(sd.ID).SupportsAllDrives(true).UseDomainAdminAccess(true).Fields("*").Do())
	ignore(ad.Drives.List().UseDomainAdminAccess(true).PageSize(1).Do())
	ignore(ad.Drives.List().Fields("*").Do())
	ignore(s.Drives.List().UseDomainAdminAccess(true).Do())
	ignore(s.Changes.GetStartPageToken().Do())
	ignore(s.Changes.List(tok).Fields("*").Do())
	ignore(s.Changes.List(tok).Do())
	ignore(s.Changes.List(tok).PageSize(1).Fields("*").Do())
	ignore(os.Changes.List(dtok).DriveId(sd.ID).SupportsAllDrives(true).IncludeItemsFromAllDrives(true).Fields("*").Do())
	ignore(os.Changes.List(dtok).IncludeItemsFromAllDrives(true).SupportsAllDrives(true).Fields("*").Do())
	ignore(s.Changes.List("x").Do())
	ignore(s.Changes.GetStartPageToken().DriveId(sd.ID).SupportsAllDrives(true).Do())
	ch, _ := s.Changes.Watch(tok, &drive.Channel{Id: "walk", Type: "web_hook", Address: "http://127.0.0.1:1/none"}).Do()
	ignore(s.Changes.Watch(tok, &drive.Channel{Id: "walk", Type: "web_hook", Address: "http://127.0.0.1:1/none"}).Do())
	ignore(nil, s.Channels.Stop(&drive.Channel{Id: "walk", ResourceId: ch.ResourceId}).Do())
	ignore(nil, s.Channels.Stop(&drive.Channel{Id: "walk", ResourceId: ch.ResourceId}).Do())
	ignore(h.drive(h.adminEmail(), ScopeDirectoryUserRO).Files.List().Do())

	dir := h.admin(h.adminEmail())
	ignore(dir.Users.List().Customer("my_customer").MaxResults(3).Do())
	ignore(dir.Users.List().Domain("example.com").Do())
	ignore(dir.Users.List().Do())
	ignore(dir.Users.List().Customer("my_customer").MaxResults(501).Do())
	ignore(dir.Users.Get(a.Email).Do())
	ignore(dir.Users.Get("nobody@example.com").Do())
	ignore(dir.Groups.List().Customer("my_customer").MaxResults(2).Do())
	ignore(dir.Groups.List().UserKey(a.Email).Do())
	g := h.emu.Groups()[0]
	ignore(dir.Members.List(g.Email).Do())
	ignore(dir.Members.List(g.ID).IncludeDerivedMembership(true).MaxResults(2).Do())
	ignore(dir.Members.List("nope@example.com").Do())
	ignore(h.admin(a.Email).Users.List().Customer("my_customer").Do())
	// Faults and a rate limit.
	for _, kind := range []string{"500", "502", "503", "429", "timeout"} {
		h.emu.SetFaults(Faults{Rate: 1, Kinds: []string{kind}, HangFor: time.Millisecond})
		ignore(s.Files.List().Do())
	}
	h.emu.SetFaults(Faults{})
	h2 := newHarness(t, Options{Users: 4, RateLimitPerMinute: 1, RateBurst: 1})
	s2 := h2.drive(h2.active()[0].Email)
	ignore(s2.Files.List().Do())
	ignore(s2.Files.List().Do())
	h.clk.Advance(2 * time.Hour)
	ignore(s.Files.List().Do()) // an expired token
	ignore(nil, h.tokenErrQuiet(NewServiceAccountKey("x@y.iam.gserviceaccount.com", "1", h.tokenURL()), a.Email))
	return append(h.rec.all(), h2.rec.all()...)
}

func (h *harness) tokenErrQuiet(key []byte, subject string) error {
	cfg, err := googleoauth.JWTConfigFromJSON(key, ScopeDriveReadonly)
	if err != nil {
		return err
	}
	cfg.Subject = subject
	_, err = cfg.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, h.hc)).Token()
	return err
}

func TestResponsesMatchDiscovery(t *testing.T) {
	all := walk(t)
	statuses := map[int]int{}
	methods := map[string]bool{}
	d, a := docs(t)
	for _, x := range all {
		statuses[x.status]++
		if err := check(t, x); err != nil {
			t.Error(err)
		}
		for _, doc := range []*discovery.Doc{d, a} {
			if m, ok := doc.Find(x.method, x.path); ok && x.status < 300 {
				methods[m.ID] = true
			}
		}
	}
	for _, want := range []int{200, 204, 400, 401, 403, 404, 429, 500, 502, 503, 504} {
		if statuses[want] == 0 {
			t.Errorf("the walk never produced a %d answer: %v", want, statuses)
		}
	}
	for _, want := range []string{"drive.files.list", "drive.files.get", "drive.files.export", "drive.permissions.list", "drive.drives.list",
		"drive.changes.getStartPageToken", "drive.changes.list", "drive.changes.watch", "drive.channels.stop",
		"directory.users.list", "directory.users.get", "directory.groups.list", "directory.members.list"} {
		if !methods[want] {
			t.Errorf("the walk never got a 2xx from %s", want)
		}
	}
	t.Logf("validated %d answers: %v", len(all), statuses)
}

// TestDiscoveryCatchesBrokenResponses proves the validation bites: each case takes a real answer
// from the walk, breaks one field, and the validator must refuse it naming the JSON path.
func TestDiscoveryCatchesBrokenResponses(t *testing.T) {
	all := walk(t)
	find := func(what, suffix string, ok func(map[string]any) bool) exchange {
		t.Helper()
		for _, x := range all {
			if x.status != 200 || !strings.HasSuffix(x.path, suffix) {
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
	has := func(k string) func(map[string]any) bool {
		return func(m map[string]any) bool { _, ok := m[k]; return ok }
	}
	files := find("files page with a next token and full files", "/drive/v3/files", func(m map[string]any) bool {
		l, _ := m["files"].([]any)
		return m["nextPageToken"] != nil && len(l) > 0 && l[0].(map[string]any)["createdTime"] != nil
	})
	changes := find("changes page with a file", "/drive/v3/changes", func(m map[string]any) bool {
		l, _ := m["changes"].([]any)
		return m["nextPageToken"] != nil && len(l) > 0 && l[0].(map[string]any)["file"] != nil && l[0].(map[string]any)["file"].(map[string]any)["permissions"] != nil
	})
	users := find("users page", "/admin/directory/v1/users", has("nextPageToken"))
	members := find("members page", "/members", has("members"))
	channel := find("channel", "/changes/watch", has("resourceId"))
	for _, c := range []struct {
		name string
		x    exchange
		path string
		op   func(map[string]any, string)
		want string
	}{
		{"nextPageToken renamed", files, "nextPageToken", rename("nextPageTokn"), `nextPageTokn: property "nextPageTokn" is not declared in FileList`},
		{"undeclared file property", files, "files[0].colour", set("red"), `files[0].colour: property "colour" is not declared in File`},
		{"size as a number", files, "files[0].size", set(json.Number("12")), "files[0].size: 12 is a number, not string"},
		{"md5Checksum as a number", files, "files[0].md5Checksum", set(json.Number("1")), "files[0].md5Checksum"},
		{"trashed as a string", files, "files[0].trashed", set("false"), "files[0].trashed"},
		{"createdTime not a date-time", files, "files[0].createdTime", set("last week"), "files[0].createdTime"},
		{"owners an object", files, "files[0].owners", set(map[string]any{}), "files[0].owners: object is not an array"},
		{"newStartPageToken renamed", changes, "nextPageToken", rename("newPageToken"), `newPageToken: property "newPageToken" is not declared in ChangeList`},
		{"change file permission with an undeclared property", changes, "changes[0].file.permissions[0].expires", set("never"), "changes[0].file.permissions[0].expires"},
		{"change removed null", changes, "changes[0].removed", set(nil), "changes[0].removed: null is not allowed"},
		{"user name.fullName renamed", users, "users[0].name.fullName", rename("full_name"), "users[0].name.full_name"},
		{"user isAdmin a string", users, "users[0].isAdmin", set("true"), "users[0].isAdmin"},
		{"member undeclared", members, "members[0].nested", set(true), "members[0].nested"},
		{"channel expiration as a number", channel, "expiration", set(json.Number("1")), "expiration: 1 is a number, not string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := check(t, c.x); err != nil {
				t.Fatalf("the unbroken answer fails already: %v", err)
			}
			broken := c.x
			broken.body = mutate(t, c.x.body, c.path, c.op)
			err := check(t, broken)
			if err == nil {
				t.Fatalf("the broken answer passed: %.300s", broken.body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not name %q:\n%v", c.want, err)
			}
		})
	}
	// Error bodies are checked too.
	var denied exchange
	for _, x := range all {
		if x.status == 403 && strings.HasPrefix(x.path, "/admin/") {
			denied = x
		}
	}
	broken := denied
	broken.body = mutate(t, denied.body, "error.reasons", set("x"))
	if err := check(t, broken); err == nil || !strings.Contains(err.Error(), "reasons") {
		t.Errorf("a broken error body passed: %v", err)
	}
}

func set(v any) func(map[string]any, string) { return func(m map[string]any, k string) { m[k] = v } }
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
