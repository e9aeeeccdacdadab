package openapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// testDoc is a small document with the shapes that make validators weak: allOf composition, a
// oneOf with a catch-all branch and tagged branches, a discriminated oneOf, nullable references,
// marker paging, and parameters of each kind.
const testDoc = `{
  "openapi": "3.0.2",
  "servers": [{"url": "https://api.example.com/2.0"}],
  "security": [{"OAuth2": []}],
  "components": {
    "securitySchemes": {"OAuth2": {"type": "oauth2", "flows": {}}},
    "schemas": {
      "Base": {"type": "object", "required": ["id", "type"], "properties": {"id": {"type": "string"}, "type": {"type": "string", "enum": ["file"]}}},
      "File": {"type": "object", "allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {
        "name": {"type": "string", "pattern": "^[^/]+$"}, "size": {"type": "integer", "minimum": 0},
        "created_at": {"type": "string", "format": "date-time"},
        "owner": {"allOf": [{"$ref": "#/components/schemas/User"}], "nullable": true},
        "parent": {"allOf": [{"$ref": "#/components/schemas/User"}, {"nullable": false}]}}}]},
      "User": {"type": "object", "required": ["type", "id"], "properties": {"type": {"type": "string", "enum": ["user"]}, "id": {"type": "string"}, "login": {"type": "string"}}},
      "ItemSource": {"type": "object", "required": ["item_type", "item_id"], "properties": {"item_type": {"type": "string", "enum": ["file", "folder"]}, "item_id": {"type": "string"}}},
      "Generic": {"type": "object", "additionalProperties": {}},
      "Source": {"type": "object", "oneOf": [{"$ref": "#/components/schemas/User"}, {"$ref": "#/components/schemas/ItemSource"}, {"$ref": "#/components/schemas/File"}, {"$ref": "#/components/schemas/Generic"}]},
      "Number": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
      "Pet": {"oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}], "discriminator": {"propertyName": "kind"}},
      "Cat": {"type": "object", "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}},
      "Dog": {"type": "object", "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}},
      "Event": {"type": "object", "properties": {"event_id": {"type": "string"}, "source": {"allOf": [{"$ref": "#/components/schemas/Source"}, {"description": "d"}]},
        "details": {"type": "object", "additionalProperties": {"type": "string"}}}},
      "Page": {"type": "object", "allOf": [{"properties": {"limit": {"type": "integer"}, "next_marker": {"type": "string", "nullable": true}}},
        {"properties": {"entries": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}}]},
      "Position": {"type": "object", "properties": {"pos": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}}
    }
  },
  "paths": {
    "/events": {"get": {
      "parameters": [
        {"name": "stream_type", "in": "query", "required": true, "schema": {"type": "string", "enum": ["admin_logs"]}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}},
        {"name": "fields", "in": "query", "explode": false, "schema": {"type": "array", "items": {"type": "string", "enum": ["id", "name"]}}},
        {"name": "boxapi", "in": "header", "schema": {"type": "string"}}],
      "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}},
        "default": {"description": "error", "content": {"application/json": {"schema": {"type": "object", "properties": {"code": {"type": "string"}}}}}}}}},
    "/files/{file_id}": {"get": {
      "parameters": [{"name": "file_id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/File"}}}}, "302": {"description": "moved"}}}},
    "/files/root": {"get": {"responses": {"200": {"description": "ok"}}}},
    "/hooks": {"post": {
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["address"], "properties": {"address": {"type": "string"}, "triggers": {"type": "array", "items": {"type": "string", "enum": ["A", "B"]}}}}}}},
      "responses": {"201": {"description": "ok"}}}},
    "/oauth2/token": {"post": {"security": [], "servers": [{"url": "https://api.example.com"}],
      "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"grant_type": {"type": "string", "enum": ["client_credentials"]}, "n": {"type": "integer"}}}}}},
      "responses": {"200": {"description": "ok"}}}}
  }
}`

func load(t *testing.T, opts Options) *Doc {
	t.Helper()
	d, err := Parse([]byte(testDoc), opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSchemas: each value either passes or fails with an error naming the path (and the rule).
func TestSchemas(t *testing.T) {
	d := load(t, Options{})
	page := func(entries string) string { return `{"limit":2,"next_marker":"m","entries":[` + entries + `]}` }
	item := `{"event_id":"1","source":{"item_type":"file","item_id":"9"}}`
	for _, c := range []struct {
		name, schema, body string
		want               string // "" = valid; else a substring of the error
	}{
		{"page ok", "Page", page(item + `,{"event_id":"2","source":{"type":"user","id":"3","login":"a@b"}}`), ""},
		{"generic source ok", "Page", page(`{"source":{"barrier_id":1}}`), ""},
		{"null marker ok", "Page", `{"next_marker":null,"entries":[]}`, ""},
		{"renamed next_marker", "Page", `{"nextMarker":"m","entries":[]}`, `nextMarker: property "nextMarker" is not declared`},
		{"undeclared in an allOf composition", "File", `{"id":"1","type":"file","name":"a","colour":"red"}`, "colour: property"},
		{"allOf members declare together", "File", `{"id":"1","type":"file","name":"a","size":3}`, ""},
		{"tagged source broken", "Page", page(item + `,{"source":{"item_type":"file","item_id":9}}`), "entries[1].source: matches no oneOf branch of ItemSource"},
		{"tagged source with an extra property", "Page", page(`{"source":{"item_type":"file","item_id":"9","x":1}}`), "entries[0].source.x"},
		{"source matching two branches", "Page", page(`{"source":{"type":"user","id":"1","item_type":"file","item_id":"2"}}`), "entries[0].source: matches no oneOf branch"},
		{"source with a tag value no branch allows", "Page", page(`{"source":{"type":"usr","id":"1"}}`), "entries[0].source: matches no oneOf branch of User, File (chosen by tag property)"},
		{"untagged source goes to the catch-all", "Page", page(`{"source":{"group_id":"1"}}`), ""},
		{"two untagged branches match", "Number", `3`, "matches 2 oneOf branches (integer, number)"},
		{"one untagged branch", "Number", `3.5`, ""},
		{"discriminator picks", "Pet", `{"kind":"Cat","name":"x"}`, ""},
		{"discriminator unknown", "Pet", `{"kind":"Cow"}`, `discriminator value "Cow"`},
		{"wrong type", "Page", page(`{"event_id":7}`), "entries[0].event_id: 7 is an integer, not string"},
		{"missing required", "File", `{"type":"file"}`, `id: required property "id" is missing`},
		{"enum", "File", `{"id":"1","type":"folder"}`, `type: "folder" is not one of ["file"]`},
		{"date-time", "File", `{"id":"1","type":"file","created_at":"yesterday"}`, "created_at: \"yesterday\" is not an RFC 3339"},
		{"minimum", "File", `{"id":"1","type":"file","size":-1}`, "size: -1 is below the minimum"},
		{"pattern", "File", `{"id":"1","type":"file","name":"a/b"}`, "does not match the pattern"},
		{"nullable reference", "File", `{"id":"1","type":"file","owner":null}`, ""},
		{"not nullable reference", "File", `{"id":"1","type":"file","parent":null}`, "parent: null is not allowed"},
		{"additionalProperties schema", "Event", `{"details":{"a":"b","c":1}}`, "details.c: 1 is an integer, not string"},
		{"anyOf", "Position", `{"pos":"1"}`, ""},
		{"anyOf none", "Position", `{"pos":true}`, "pos: matches none of the 2 anyOf branches"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := d.ValidateSchema("#/components/schemas/"+c.schema, []byte(c.body))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("want valid, got %v", err)
			case c.want != "" && err == nil:
				t.Errorf("want an error with %q, got none", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("want an error with %q, got %v", c.want, err)
			}
		})
	}
}

// TestLenient: AllowUndeclared is JSON Schema's default, and only that rule changes.
func TestLenient(t *testing.T) {
	d := load(t, Options{AllowUndeclared: true})
	if err := d.ValidateSchema("#/components/schemas/Page", []byte(`{"nextMarker":"m"}`)); err != nil {
		t.Errorf("lenient: %v", err)
	}
	if err := d.ValidateSchema("#/components/schemas/Page", []byte(`{"limit":"m"}`)); err == nil {
		t.Error("lenient mode stopped checking types")
	}
}

func TestRequests(t *testing.T) {
	d := load(t, Options{})
	for _, c := range []struct {
		name, method, url, body, ctype string
		header                         map[string]string
		want                           string
	}{
		{"ok", "GET", "/2.0/events?stream_type=admin_logs&limit=500&fields=id,name", "", "", nil, ""},
		{"declared header", "GET", "/2.0/events?stream_type=admin_logs", "", "", map[string]string{"BoxApi": "x"}, ""},
		{"unknown query parameter", "GET", "/2.0/events?stream_type=admin_logs&streamPosition=1", "", "", nil, `query.streamPosition: query parameter "streamPosition" is not declared`},
		{"missing required parameter", "GET", "/2.0/events?limit=1", "", "", nil, `query.stream_type: required query parameter "stream_type" is missing`},
		{"parameter above maximum", "GET", "/2.0/events?stream_type=admin_logs&limit=501", "", "", nil, "query.limit: 501 is above the maximum 500"},
		{"parameter not an integer", "GET", "/2.0/events?stream_type=admin_logs&limit=x", "", "", nil, `query.limit: "x" is a string, not integer`},
		{"comma list item outside enum", "GET", "/2.0/events?stream_type=admin_logs&fields=id,size", "", "", nil, "query.fields[1]"},
		{"repeated scalar", "GET", "/2.0/events?stream_type=admin_logs&stream_type=admin_logs", "", "", nil, "given 2 times"},
		{"undeclared header", "GET", "/2.0/events?stream_type=admin_logs", "", "", map[string]string{"As-User": "1"}, `header.As-User: header "As-User" is not declared`},
		{"no credentials", "GET", "/2.0/files/1", "", "", map[string]string{"Authorization": ""}, "no credentials for OAuth2"},
		{"path parameter", "GET", "/2.0/files/12", "", "", nil, ""},
		{"literal template wins", "GET", "/2.0/files/root", "", "", nil, ""},
		{"no operation", "GET", "/2.0/nothing", "", "", nil, "no such operation"},
		{"no base path", "GET", "/events?stream_type=admin_logs", "", "", nil, "no such operation"},
		{"json body", "POST", "/2.0/hooks", `{"address":"https://x","triggers":["A"]}`, "application/json", nil, ""},
		{"json body with an undeclared property", "POST", "/2.0/hooks", `{"address":"https://x","trigger":["A"]}`, "application/json", nil, "body.trigger"},
		{"json body item outside enum", "POST", "/2.0/hooks", `{"address":"https://x","triggers":["C"]}`, "application/json", nil, "body.triggers[0]"},
		{"required body missing", "POST", "/2.0/hooks", "", "", nil, "required request body is missing"},
		{"wrong content type", "POST", "/2.0/hooks", `address=x`, "application/x-www-form-urlencoded", nil, "is not declared"},
		{"form on its own server, no security", "POST", "/oauth2/token", "grant_type=client_credentials&n=2", "application/x-www-form-urlencoded", map[string]string{"Authorization": ""}, ""},
		{"form with an undeclared field", "POST", "/oauth2/token", "grant_type=client_credentials&box_subject_type=x", "application/x-www-form-urlencoded", nil, "body.box_subject_type"},
		{"form field not an integer", "POST", "/oauth2/token", "n=two", "application/x-www-form-urlencoded", nil, "body.n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "https://api.example.com"+c.url, strings.NewReader(c.body))
			r.Header.Set("Authorization", "Bearer t")
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.header {
				if v == "" {
					r.Header.Del(k)
				} else {
					r.Header.Set(k, v)
				}
			}
			check(t, d.ValidateRequest(r, []byte(c.body)), c.want)
		})
	}
}

func TestResponses(t *testing.T) {
	d := load(t, Options{})
	js := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for _, c := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body, want         string
	}{
		{"ok", "GET", "/2.0/events", 200, js, `{"entries":[]}`, ""},
		{"renamed field", "GET", "/2.0/events", 200, js, `{"entries":[],"nextMarker":"x"}`, "nextMarker"},
		{"default answer", "GET", "/2.0/events", 500, js, `{"code":"x"}`, ""},
		{"undeclared status", "GET", "/2.0/files/1", 404, js, `{}`, "status 404 is not declared"},
		{"empty body where one is declared", "GET", "/2.0/files/1", 200, js, ``, "empty body"},
		{"body where none is declared", "GET", "/2.0/files/1", 302, js, `{}`, "a body where the spec declares none"},
		{"wrong media type", "GET", "/2.0/files/1", 200, http.Header{"Content-Type": {"text/html"}}, `<p>`, `content type "text/html" is not declared`},
		{"not JSON", "GET", "/2.0/files/1", 200, js, `{"id":`, "not JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			check(t, d.ValidateResponse(c.method, c.path, c.status, c.header, []byte(c.body)), c.want)
		})
	}
}

// TestExceptions: an exception waives exactly its rule at its place, and Unused shows the stale.
func TestExceptions(t *testing.T) {
	d := load(t, Options{Exceptions: []Exception{
		{Rule: RuleEnum, At: "#/components/schemas/Base/properties/type", Reason: "test"},
		{Rule: RuleHeader, At: "*", Name: "As-User", Reason: "test"},
		{Rule: RuleOperation, At: "/dl/*", Reason: "test"},
		{Rule: RuleRequired, At: "#/components/schemas/User", Name: "id", Reason: "test"},
		{Rule: RuleUndeclared, At: "#/components/schemas/Source/oneOf/1", Like: "#/components/schemas/File", Reason: "test"},
	}})
	// Like lends File's properties to the ItemSource branch, validated as File declares them.
	if err := d.ValidateSchema("#/components/schemas/Source", []byte(`{"item_type":"file","item_id":"1","size":3}`)); err != nil {
		t.Errorf("like exception: %v", err)
	}
	check(t, d.ValidateSchema("#/components/schemas/Source", []byte(`{"item_type":"file","item_id":"1","size":-3}`)), "size: -3 is below the minimum")
	check(t, d.ValidateSchema("#/components/schemas/Source", []byte(`{"item_type":"file","item_id":"1","colour":"red"}`)), "colour")
	if err := d.ValidateSchema("#/components/schemas/File", []byte(`{"id":"1","type":"folder"}`)); err != nil {
		t.Errorf("enum exception: %v", err)
	}
	r := httptest.NewRequest("GET", "https://api.example.com/2.0/files/1", nil)
	r.Header.Set("Authorization", "Bearer t")
	r.Header.Set("As-User", "3")
	if err := d.ValidateRequest(r, nil); err != nil {
		t.Errorf("header exception: %v", err)
	}
	r.Header.Set("As-Admin", "3")
	check(t, d.ValidateRequest(r, nil), "As-Admin")
	if err := d.ValidateResponse("GET", "/dl/abc", 200, nil, []byte("bytes")); err != nil {
		t.Errorf("operation exception: %v", err)
	}
	if err := d.ValidateResponse("GET", "/dx/abc", 200, nil, nil); !errors.Is(err, ErrNoOperation) {
		t.Errorf("an unknown path: %v", err)
	}
	unused := d.Unused()
	if len(unused) != 1 || unused[0].Rule != RuleRequired {
		t.Errorf("Unused = %v, want the required exception only", unused)
	}
	if _, err := Parse([]byte(testDoc), Options{Exceptions: []Exception{{Rule: RuleEnum, At: "x"}}}); err == nil {
		t.Error("an exception without a reason was accepted")
	}
}

func TestOperation(t *testing.T) {
	d := load(t, Options{})
	for path, want := range map[string]string{"/2.0/files/1": "GET /files/{file_id}", "/2.0/files/root": "GET /files/root", "/2.0/nope": ""} {
		if got := d.Operation("GET", path); got != want {
			t.Errorf("Operation(GET %s) = %q, want %q", path, got, want)
		}
	}
}

func TestRequestsHandler(t *testing.T) {
	d := load(t, Options{})
	var got []error
	h := d.Requests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}), func(_ *http.Request, err error) { got = append(got, err) })
	for _, u := range []string{"/2.0/events?stream_type=admin_logs", "/2.0/events?stream_type=x"} {
		r := httptest.NewRequest("GET", u, nil)
		r.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			t.Errorf("%s: the handler did not pass the request on: %d", u, w.Code)
		}
	}
	if len(got) != 1 || !strings.Contains(got[0].Error(), "query.stream_type") {
		t.Errorf("reported %v, want one error about query.stream_type", got)
	}
}

func check(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("want valid, got %v", err)
	case want != "" && err == nil:
		t.Errorf("want an error with %q, got none", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("want an error with %q, got %v", want, err)
	}
}
