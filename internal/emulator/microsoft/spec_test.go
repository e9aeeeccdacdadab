package microsoft

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/testutil/csdl"
)

// graphTypes maps the Graph paths the emulator serves to the CSDL type of their answer; a
// collection answer is marked by "[]".
var graphTypes = []struct {
	re  *regexp.Regexp
	typ string
}{
	{regexp.MustCompile(`^/v1\.0/users$`), "[]user"},
	{regexp.MustCompile(`^/v1\.0/users/[^/]+$`), "user"},
	{regexp.MustCompile(`^/v1\.0/users/[^/]+/drive$`), "drive"},
	{regexp.MustCompile(`^/v1\.0/(users/[^/]+/drive|drives/[^/]+)/root/delta$`), "[]driveItem"},
	{regexp.MustCompile(`^/v1\.0/groups$`), "[]group"},
	{regexp.MustCompile(`^/v1\.0/groups/[^/]+$`), "group"},
	{regexp.MustCompile(`^/v1\.0/groups/[^/]+/(transitiveMembers|members)$`), "[]directoryObject"},
	{regexp.MustCompile(`^/v1\.0/drives/[^/]+$`), "drive"},
	{regexp.MustCompile(`^/v1\.0/drives/[^/]+/(root|items/[^/]+)$`), "driveItem"},
	{regexp.MustCompile(`^/v1\.0/drives/[^/]+/items/[^/]+/permissions$`), "[]permission"},
	{regexp.MustCompile(`^/v1\.0/users/[^/]+/mailFolders/[^/]+/messages/delta$`), "[]message"},
	{regexp.MustCompile(`^/v1\.0/subscriptions$`), "[]subscription"},
	{regexp.MustCompile(`^/v1\.0/subscriptions/[^/]+$`), "subscription"},
	{regexp.MustCompile(`^/v1\.0/users/[^/]+/(mailFolders/[^/]+/)?messages/[^/]+$`), "message"},
	{regexp.MustCompile(`^/v1\.0/users/[^/]+/messages/[^/]+/attachments$`), "[]attachment"},
	{regexp.MustCompile(`^/v1\.0/users/[^/]+/messages/[^/]+/attachments/[^/]+$`), "attachment"},
}

// check validates one recorded answer: a Graph JSON answer against Graph's CSDL, a Graph error
// against Graph's error shape, a token endpoint answer against Entra ID's, a redirect by its
// Location. Download URLs answer bytes.
func check(t *testing.T, x exchange) error {
	where := fmt.Sprintf("%s %s?%s %d", x.method, x.path, x.query, x.status)
	switch {
	case strings.HasSuffix(x.path, "/oauth2/v2.0/token"):
		return wrap(where, checkToken(x))
	case strings.HasPrefix(x.path, "/download/"):
		return nil
	case strings.HasPrefix(x.path, "/api/v1.0/"):
		return wrap(where, checkManage(x))
	case !strings.HasPrefix(x.path, "/v1.0/"):
		return fmt.Errorf("%s: an answer from no API", where)
	case x.status == 302:
		if !strings.Contains(x.header.Get("Location"), "/download/") || len(x.body) != 0 {
			return fmt.Errorf("%s: a redirect without Location or with a body", where)
		}
		return nil
	case x.status >= 300:
		return wrap(where, checkGraphError(x))
	case x.status == 204:
		if len(x.body) != 0 {
			return fmt.Errorf("%s: a 204 with a body", where)
		}
		return nil
	case x.method == "POST" && x.path == "/v1.0/subscriptions":
		m, err := csdl.Graph()
		if err != nil {
			t.Fatal(err)
		}
		return wrap(where, m.Validate("subscription", x.body))
	case strings.HasSuffix(x.path, "/$value"):
		if x.header.Get("Content-Type") == "" || x.header.Get("request-id") == "" {
			return fmt.Errorf("%s: a $value answer without Content-Type or request-id", where)
		}
		return nil
	}
	m, err := csdl.Graph()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(x.header.Get("Content-Type"), "application/json") || x.header.Get("request-id") == "" {
		return fmt.Errorf("%s: headers %v", where, x.header)
	}
	for _, g := range graphTypes {
		if g.re.MatchString(x.path) {
			if typ, ok := strings.CutPrefix(g.typ, "[]"); ok {
				return wrap(where, m.ValidateCollection(typ, x.body))
			}
			return wrap(where, m.Validate(g.typ, x.body))
		}
	}
	return fmt.Errorf("%s: no type known for this path", where)
}

func wrap(where string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
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
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !ok[k] {
			return nil, fmt.Errorf("%s: key not in the vendor's shape", k)
		}
	}
	return m, nil
}

var guidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// checkGraphError: {"error":{"code","message","innerError":{"date","request-id",
// "client-request-id"}}} (learn.microsoft.com/graph/errors).
func checkGraphError(x exchange) error {
	top, err := strictKeys(x.body, "error")
	if err != nil {
		return err
	}
	b, _ := json.Marshal(top["error"])
	e, err := strictKeys(b, "code", "message", "innerError")
	if err != nil {
		return fmt.Errorf("error.%w", err)
	}
	if c, _ := e["code"].(string); c == "" {
		return fmt.Errorf("error.code is not a string")
	}
	if _, ok := e["message"].(string); !ok {
		return fmt.Errorf("error.message is not a string")
	}
	b, _ = json.Marshal(e["innerError"])
	in, err := strictKeys(b, "date", "request-id", "client-request-id")
	if err != nil {
		return fmt.Errorf("error.innerError.%w", err)
	}
	if d, _ := in["date"].(string); d == "" {
		return fmt.Errorf("innerError.date missing")
	} else if _, err := time.Parse("2006-01-02T15:04:05", d); err != nil {
		return fmt.Errorf("innerError.date %q", d)
	}
	if id, _ := in["request-id"].(string); !guidRe.MatchString(id) || x.header.Get("request-id") != id {
		return fmt.Errorf("innerError.request-id %q", id)
	}
	if (x.status == 429 || x.status == 503) && x.header.Get("Retry-After") == "" && e["code"] != "generalException" {
		return fmt.Errorf("a %d without Retry-After", x.status)
	}
	if x.status == 410 && e["code"] == "resyncRequired" && x.header.Get("Location") == "" {
		return fmt.Errorf("a 410 resyncRequired without Location")
	}
	if x.status == 410 && e["code"] != "resyncRequired" && e["code"] != "SyncStateNotFound" {
		return fmt.Errorf("a 410 %v", e["code"])
	}
	return nil
}

// checkToken: a token answer (token_type, expires_in, ext_expires_in, access_token) or an AADSTS
// error (error, error_description, error_codes, timestamp, trace_id, correlation_id, error_uri),
// the shapes of the Microsoft identity platform's token endpoint.
func checkToken(x exchange) error {
	if x.status == 200 {
		m, err := strictKeys(x.body, "token_type", "expires_in", "ext_expires_in", "access_token")
		if err != nil {
			return err
		}
		if m["token_type"] != "Bearer" || m["expires_in"] == nil || m["access_token"] == nil || m["ext_expires_in"] == nil {
			return fmt.Errorf("token answer %v", m)
		}
		return nil
	}
	m, err := strictKeys(x.body, "error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri")
	if err != nil {
		return err
	}
	if len(m) != 7 {
		return fmt.Errorf("an AADSTS error without every field: %v", m)
	}
	codes, _ := m["error_codes"].([]any)
	if len(codes) == 0 {
		return fmt.Errorf("no error_codes")
	}
	desc, _ := m["error_description"].(string)
	code, _ := codes[0].(float64)
	if len(codes) != 1 || !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", int(code))) {
		return fmt.Errorf("error_codes %v and error_description %q disagree", codes, desc)
	}
	for _, k := range []string{"trace_id", "correlation_id"} {
		if s, _ := m[k].(string); !guidRe.MatchString(s) {
			return fmt.Errorf("%s %v", k, m[k])
		}
	}
	return nil
}

// TestSpecCheckBites proves the harness's check fails on an answer Graph would not give: a field
// renamed in a driveItem, an extra key in an error, a token answer with an unknown key.
func TestSpecCheckBites(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	u := h.licensed()
	h.getAs(tok, "/v1.0/drives/"+u.DriveID+"/root/delta")
	h.getAs(tok, "/v1.0/drives/b!nope")
	var delta, notFound exchange
	for _, x := range h.rec.all() {
		switch {
		case strings.HasSuffix(x.path, "/root/delta"):
			delta = x
		case x.status == 404:
			notFound = x
		}
	}
	if err := check(t, delta); err != nil {
		t.Fatal(err)
	}
	broken := delta
	broken.body = []byte(strings.Replace(string(delta.body), `"quickXorHash"`, `"quickXorHsh"`, 1))
	if err := check(t, broken); err == nil || !strings.Contains(err.Error(), "quickXorHsh") {
		t.Fatalf("a renamed field passed: %v", err)
	}
	broken.body = []byte(strings.Replace(string(delta.body), `"lastModifiedBy"`, `"modifiedBy"`, 1))
	if err := check(t, broken); err == nil {
		t.Fatal("a renamed property passed")
	}
	broken = notFound
	broken.body = []byte(strings.Replace(string(notFound.body), `"message"`, `"msg"`, 1))
	if err := check(t, broken); err == nil {
		t.Fatal("a renamed error field passed")
	}
	tokenAnswer := exchange{method: "POST", path: "/t/oauth2/v2.0/token", status: 200, body: []byte(`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"x","refresh_token":"y"}`)}
	if err := check(t, tokenAnswer); err == nil {
		t.Fatal("a token answer with a refresh_token passed")
	}
}

var contentTimeRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// checkManage validates a Management Activity API answer against the reference: errors
// {"error":{"code":"AF...","message"}} (or the 401 of an unauthenticated request), subscriptions
// {contentType, status, webhook}, content listings {contentType, contentId, contentUri,
// contentCreated, contentExpiration}, and blobs, arrays of records checked against the schema.
func checkManage(x exchange) error {
	if x.status == 401 && !strings.Contains(string(x.body), `"error"`) {
		_, err := strictKeys(x.body, "Message")
		return err
	}
	if x.status >= 300 {
		top, err := strictKeys(x.body, "error")
		if err != nil {
			return err
		}
		b, _ := json.Marshal(top["error"])
		e, err := strictKeys(b, "code", "message")
		if err != nil {
			return fmt.Errorf("error.%w", err)
		}
		if c, _ := e["code"].(string); !regexp.MustCompile(`^AF\d+$`).MatchString(c) {
			return fmt.Errorf("error.code %v", e["code"])
		}
		if m, _ := e["message"].(string); m == "" {
			return fmt.Errorf("error.message %v", e["message"])
		}
		return nil
	}
	if !strings.HasPrefix(x.header.Get("Content-Type"), "application/json") && len(x.body) > 0 {
		return fmt.Errorf("Content-Type %q", x.header.Get("Content-Type"))
	}
	op := x.path[strings.Index(x.path, "/activity/feed/")+len("/activity/feed/"):]
	var arr []json.RawMessage
	switch {
	case op == "subscriptions/stop":
		if len(x.body) != 0 {
			return fmt.Errorf("a stop with a body")
		}
		return nil
	case op == "subscriptions/start":
		_, err := strictKeys(x.body, "contentType", "status", "webhook")
		return err
	}
	if err := json.Unmarshal(x.body, &arr); err != nil {
		return fmt.Errorf("not a JSON array: %.80q", x.body)
	}
	for i, raw := range arr {
		var err error
		switch {
		case op == "subscriptions/list":
			_, err = strictKeys(raw, "contentType", "status", "webhook")
		case op == "subscriptions/content":
			var m map[string]any
			m, err = strictKeys(raw, "contentType", "contentId", "contentUri", "contentCreated", "contentExpiration")
			if err == nil && len(m) != 5 {
				err = fmt.Errorf("content without every field: %v", m)
			}
			for _, k := range []string{"contentCreated", "contentExpiration"} {
				if s, _ := m[k].(string); err == nil && !contentTimeRe.MatchString(s) {
					err = fmt.Errorf("%s %v", k, m[k])
				}
			}
			if u, _ := m["contentUri"].(string); err == nil && !strings.HasSuffix(u, "/activity/feed/audit/"+fmt.Sprint(m["contentId"])) {
				err = fmt.Errorf("contentUri %v", u)
			}
		case strings.HasPrefix(op, "audit/"):
			err = checkAuditRecord(raw)
		default:
			err = fmt.Errorf("no shape known for %s", op)
		}
		if err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

// TestItemAndGroupAnswersMatchSchema: the single-object answers no other test reads (a drive's
// root, a file, a folder, a group) are read here, so that the harness validates them against
// Graph's CSDL like every other answer (the connector reads a folder it does not hold by id).
func TestItemAndGroupAnswersMatchSchema(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	u := h.licensed()
	paths := []string{"/v1.0/drives/" + u.DriveID + "/root"}
	var file, folder bool
	for _, it := range h.emu.Items(u.DriveID) {
		switch {
		case it.Root || it.Deleted:
		case it.Folder && !folder:
			folder = true
			paths = append(paths, "/v1.0/drives/"+u.DriveID+"/items/"+it.ID)
		case !it.Folder && !file:
			file = true
			paths = append(paths, "/v1.0/drives/"+u.DriveID+"/items/"+it.ID)
		}
	}
	if !file || !folder {
		t.Fatalf("the drive has a file %v and a folder %v, want both", file, folder)
	}
	for _, g := range h.emu.Groups() {
		paths = append(paths, "/v1.0/groups/"+g.ID)
		break
	}
	for _, p := range paths {
		if a := h.getAs(tok, p); a.status != 200 {
			t.Errorf("GET %s: %d %s", p, a.status, a.raw)
		}
	}
	var checked int
	for _, x := range h.rec.all() {
		if x.status == 200 && x.method == "GET" {
			if err := check(t, x); err != nil {
				t.Error(err)
			}
			checked++
		}
	}
	if checked != len(paths) {
		t.Errorf("%d answers checked, want %d", checked, len(paths))
	}
}
