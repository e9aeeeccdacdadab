package box

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This test walks every endpoint the emulator serves, success and error answers, and validates
// each recorded response body against the response schema of the official spec
// (testdata/openapi.json, see testdata/README.md). kin-openapi is not a dependency of the module,
// so a small validator covers what the spec uses: $ref, type, required, properties, items, enum,
// nullable, allOf, anyOf, oneOf, format date-time.
//
// Deliberate exceptions, each a documented difference between the spec and Box's real answers:
//   - the as-user header is not in the spec (it is a request header; nothing to validate), and the
//     /dl/<ticket> download URL is not in the spec (Box's is on dl.boxcloud.com): skipped.
//   - 401 answers carry no body (Box sends WWW-Authenticate and an empty body): body not validated.
//   - ClientError.code: the spec's enum lists generic codes, but Box's documented error codes
//     (common-errors guide) include rate_limit_exceeded, access_denied_insufficient_permissions,
//     trashed, gateway_timeout...; the enum is not enforced for that one property.
//   - the shared link schema lists "accessed" among its required properties, a typo for
//     "access" (the property it defines and Box sends): "accessed" is not required.
//   - oneOf is checked as "at least one branch": the spec's oneOf lists have no discriminator and
//     overlap (GenericSource accepts any object), so "exactly one" would reject every event.

type specValidator struct {
	schemas map[string]any
	paths   map[string]any
}

var enumExempt = map[string]bool{"ClientError.code": true}

func loadSpec(t *testing.T) *specValidator {
	t.Helper()
	b, err := os.ReadFile("testdata/openapi.json")
	if err != nil {
		t.Fatalf("read the Box spec: %v (it lives in internal/emulator/box/testdata)", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return &specValidator{schemas: doc["components"].(map[string]any)["schemas"].(map[string]any), paths: doc["paths"].(map[string]any)}
}

func (v *specValidator) ref(s map[string]any) (map[string]any, string) {
	r, ok := s["$ref"].(string)
	if !ok {
		return s, ""
	}
	name := strings.TrimPrefix(r, "#/components/schemas/")
	return v.schemas[name].(map[string]any), name
}

func (v *specValidator) nullable(s map[string]any) bool {
	s, _ = v.ref(s)
	if s["nullable"] == true {
		return true
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		for _, sub := range asList(s[k]) {
			if v.nullable(sub) {
				return true
			}
		}
	}
	return false
}

func asList(x any) []map[string]any {
	var out []map[string]any
	l, _ := x.([]any)
	for _, e := range l {
		out = append(out, e.(map[string]any))
	}
	return out
}

// validate returns the violations of val against s; name is the nearest named schema.
func (v *specValidator) validate(val any, s map[string]any, at, name string, skipEnum bool) []string {
	if r, n := v.ref(s); n != "" {
		return v.validate(val, r, at, n, skipEnum)
	}
	if val == nil {
		if v.nullable(s) || (s["type"] == nil && s["properties"] == nil && s["allOf"] == nil && s["oneOf"] == nil && s["anyOf"] == nil) {
			return nil
		}
		return []string{at + ": null is not allowed (" + name + ")"}
	}
	var errs []string
	for _, sub := range asList(s["allOf"]) {
		errs = append(errs, v.validate(val, sub, at, name, skipEnum)...)
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if subs := asList(s[k]); len(subs) > 0 {
			var all []string
			ok := false
			for _, sub := range subs {
				e := v.validate(val, sub, at, name, skipEnum)
				if len(e) == 0 {
					ok = true
					break
				}
				all = append(all, e...)
			}
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: matches no %s branch: %v", at, k, all))
			}
		}
	}
	if enum, ok := s["enum"].([]any); ok && !skipEnum && !slices.Contains(enum, normalize(val)) {
		errs = append(errs, fmt.Sprintf("%s: %v not in enum %v (%s)", at, val, enum, name))
	}
	switch s["type"] {
	case "object":
		m, ok := val.(map[string]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T is not an object (%s)", at, val, name))
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if r == "accessed" && name != "" && m["access"] != nil {
				continue // spec typo: the shared link's required list names "accessed" for "access"
			}
			if _, ok := m[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required %q missing (%s)", at, r, name))
			}
		}
	case "array":
		l, ok := val.([]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T is not an array", at, val))
		}
		if it, ok := s["items"].(map[string]any); ok {
			for i, x := range l {
				errs = append(errs, v.validate(x, it, fmt.Sprintf("%s[%d]", at, i), name, false)...)
			}
		}
	case "string":
		str, ok := val.(string)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T is not a string (%s)", at, val, name))
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not a date-time", at, str))
			}
		}
	case "integer":
		n, ok := val.(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, 64); !ok || err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v is not an integer (%s)", at, val, name))
		}
	case "number":
		if _, ok := val.(json.Number); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v is not a number", at, val))
		}
	case "boolean":
		if _, ok := val.(bool); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v is not a boolean", at, val))
		}
	}
	if m, ok := val.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for k, ps := range props {
			if x, ok := m[k]; ok {
				errs = append(errs, v.validate(x, ps.(map[string]any), at+"."+k, name, enumExempt[name+"."+k])...)
			}
		}
	}
	return errs
}

func normalize(v any) any {
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			return f
		}
	}
	return v
}

// operation finds the spec operation of a request path (the most literal template wins).
func (v *specValidator) operation(method, path string) (map[string]any, string) {
	path = strings.TrimPrefix(path, "/2.0")
	seg := strings.Split(path, "/")
	best, bestScore, bestTpl := map[string]any(nil), -1, ""
	for tpl, item := range v.paths {
		ts := strings.Split(tpl, "/")
		if len(ts) != len(seg) {
			continue
		}
		score := 0
		ok := true
		for i := range ts {
			switch {
			case ts[i] == seg[i]:
				score++
			case strings.HasPrefix(ts[i], "{"):
			default:
				ok = false
			}
		}
		op, has := item.(map[string]any)[strings.ToLower(method)].(map[string]any)
		if ok && has && score > bestScore {
			best, bestScore, bestTpl = op, score, tpl
		}
	}
	return best, bestTpl
}

func (v *specValidator) check(x exchange) []string {
	where := fmt.Sprintf("%s %s → %d", x.method, x.path, x.status)
	if strings.HasPrefix(x.path, "/dl/") {
		return nil // the download URL is not part of the spec (see above)
	}
	op, tpl := v.operation(x.method, x.path)
	if op == nil {
		if x.status < 400 {
			return []string{where + ": no such operation in the spec"}
		}
		// An unknown path: the answer must still be Box's ClientError.
		op = map[string]any{"responses": map[string]any{"default": map[string]any{"content": map[string]any{
			"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/ClientError"}}}}}}
	}
	responses := op["responses"].(map[string]any)
	r, ok := responses[strconv.Itoa(x.status)].(map[string]any)
	if !ok {
		r, ok = responses["default"].(map[string]any)
		if !ok {
			return []string{where + ": status not declared for " + tpl}
		}
	}
	content, _ := r["content"].(map[string]any)
	if len(x.body) == 0 {
		if len(content) > 0 && x.status != 401 { // 401: Box sends no body (see above)
			return []string{where + ": empty body, the spec declares one"}
		}
		return nil
	}
	if len(content) == 0 {
		return []string{where + ": a body where the spec declares none"}
	}
	js, ok := content["application/json"].(map[string]any)
	if !ok {
		return nil // binary content
	}
	dec := json.NewDecoder(bytes.NewReader(x.body))
	dec.UseNumber()
	var val any
	if err := dec.Decode(&val); err != nil {
		return []string{where + ": body is not JSON: " + err.Error()}
	}
	var out []string
	for _, e := range v.validate(val, js["schema"].(map[string]any), "$", "", false) {
		out = append(out, where+": "+e)
	}
	return out
}

func TestResponsesMatchSpec(t *testing.T) {
	spec := loadSpec(t)
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
	all = append(all, h2.rec.got...)
	statuses := map[int]int{}
	for _, x := range all {
		statuses[x.status]++
		for _, e := range spec.check(x) {
			t.Error(e)
		}
	}
	for _, want := range []int{200, 201, 204, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504} {
		if statuses[want] == 0 {
			t.Errorf("the walk never produced a %d answer: %v", want, statuses)
		}
	}
	t.Logf("validated %d responses: %v", len(all), statuses)
}

// TestValidator makes sure the validator rejects what it should (a validator that accepts
// everything would make TestResponsesMatchSpec vacuous).
func TestValidator(t *testing.T) {
	spec := loadSpec(t)
	tests := []struct {
		name, schema, body string
		ok                 bool
	}{
		{"event ok", "Events", `{"chunk_size":1,"next_stream_position":"1152921504606846976","entries":[{"type":"event","event_id":"x","event_type":"UPLOAD","created_at":"2026-01-02T03:04:05-08:00","source":{"item_type":"file","item_id":"1","item_name":"a"}}]}`, true},
		{"numeric position ok", "Events", `{"chunk_size":0,"next_stream_position":1152921504606846976,"entries":[]}`, true},
		{"bad event type", "Events", `{"entries":[{"event_type":"NOT_A_TYPE"}]}`, false},
		{"bad date", "Events", `{"entries":[{"created_at":"yesterday"}]}`, false},
		{"chunk_size string", "Events", `{"chunk_size":"1"}`, false},
		{"file without id", "File--Full", `{"type":"file"}`, false},
		{"file with wrong type", "File--Full", `{"type":"folder","id":"1"}`, false},
		{"null owned_by", "File--Full", `{"type":"file","id":"1","owned_by":null}`, false},
		{"null shared_link ok", "File--Full", `{"type":"file","id":"1","shared_link":null}`, true},
		{"bad shared link access", "File--Full", `{"type":"file","id":"1","shared_link":{"url":"u","access":"world","effective_access":"open","effective_permission":"can_download","is_password_enabled":false,"download_count":0,"preview_count":0}}`, false},
		{"client error", "ClientError", `{"type":"error","status":429,"code":"rate_limit_exceeded","message":"m","request_id":"r"}`, true},
		{"client error bad type", "ClientError", `{"type":"oops","status":429}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dec := json.NewDecoder(strings.NewReader(tc.body))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			errs := spec.validate(v, map[string]any{"$ref": "#/components/schemas/" + tc.schema}, "$", "", false)
			if (len(errs) == 0) != tc.ok {
				t.Errorf("ok=%v, errors %v", tc.ok, errs)
			}
		})
	}
}
