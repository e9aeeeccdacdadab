package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// operation is one method on one path template.
type operation struct {
	method string // GET
	tpl    string // /files/{file_id} (a "#fragment" of the document's key removed)
	segs   []string
	bases  []string // server base paths, e.g. /2.0 ("" for none)
	op     map[string]any
	params []map[string]any // path-level and operation-level parameters, resolved
	loc    string           // #/paths/~1files~1{file_id}/get
}

func (o *operation) name() string { return o.method + " " + o.tpl }

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func (d *Doc) index() error {
	paths, _ := d.root["paths"].(map[string]any)
	rootBases := serverBases(d.root["servers"])
	for _, key := range sortedKeys(paths) {
		item := d.deref(paths[key])
		tpl, _, _ := strings.Cut(key, "#")
		bases := rootBases
		if b := serverBases(item["servers"]); b != nil {
			bases = b
		}
		for _, m := range methods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			o := &operation{method: strings.ToUpper(m), tpl: tpl, segs: strings.Split(tpl, "/"), bases: bases, op: op,
				loc: "#/paths/" + escape(key) + "/" + m}
			if b := serverBases(op["servers"]); b != nil {
				o.bases = b
			}
			// Operation parameters override path-level ones of the same name and location.
			seen := map[string]bool{}
			for _, src := range []any{op["parameters"], item["parameters"]} {
				l, _ := src.([]any)
				for _, x := range l {
					p := d.deref(x)
					k := fmt.Sprint(p["in"], ":", strings.ToLower(fmt.Sprint(p["name"])))
					if !seen[k] {
						seen[k] = true
						o.params = append(o.params, p)
					}
				}
			}
			d.ops = append(d.ops, o)
		}
	}
	if len(d.ops) == 0 {
		return errors.New("openapi: the document has no operations")
	}
	return nil
}

// serverBases are the path parts of server URLs ("https://api.box.com/2.0" -> "/2.0"); nil if none.
func serverBases(x any) []string {
	l, _ := x.([]any)
	var out []string
	for _, s := range l {
		m, _ := s.(map[string]any)
		raw, _ := m["url"].(string)
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		out = append(out, strings.TrimRight(u.Path, "/"))
	}
	if len(l) > 0 && len(out) == 0 {
		out = []string{""}
	}
	return out
}

// match finds the operations for a method and a request path, with the values of their path
// parameters; the most literal templates win (/users/me over /users/{user_id}).
func (d *Doc) match(method, path string) ([]*operation, []map[string]string) {
	var best []*operation
	var vals []map[string]string
	bestScore := -1
	for _, o := range d.ops {
		if o.method != method {
			continue
		}
		for _, base := range o.bases {
			rest, ok := strings.CutPrefix(path, base)
			if !ok || (base != "" && rest != "" && rest[0] != '/') {
				continue
			}
			segs := strings.Split(rest, "/")
			if len(segs) != len(o.segs) {
				continue
			}
			score, v := 0, map[string]string{}
			for i, t := range o.segs {
				switch {
				case t == segs[i]:
					score++
				case strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") && segs[i] != "":
					s, err := url.PathUnescape(segs[i])
					if err != nil {
						s = segs[i]
					}
					v[t[1:len(t)-1]] = s
				default:
					score = -1
				}
				if score < 0 {
					break
				}
			}
			if score < 0 {
				continue
			}
			if score > bestScore {
				best, vals, bestScore = nil, nil, score
			}
			if score == bestScore {
				best, vals = append(best, o), append(vals, v)
			}
			break // one base per operation
		}
	}
	return best, vals
}

// ValidateRequest validates a request and its body (read by the caller; the request's own Body is
// not read) against the operation it addresses. A path the document does not have is an error
// wrapping ErrNoOperation, unless an exception for RuleOperation covers it.
func (d *Doc) ValidateRequest(r *http.Request, body []byte) error {
	what := r.Method + " " + r.URL.Path
	ops, vals := d.match(r.Method, r.URL.Path)
	if len(ops) == 0 {
		if d.exempt(RuleOperation, "", r.URL.Path) {
			return nil
		}
		return fmt.Errorf("%s: %w", what, ErrNoOperation)
	}
	var first []Problem
	for i, o := range ops {
		ps := d.request(o, vals[i], r, body)
		if len(ps) == 0 {
			return nil
		}
		if i == 0 {
			first = ps
		}
	}
	return &Error{What: what + " (" + ops[0].name() + ")", Problems: first}
}

func (d *Doc) request(o *operation, pathVals map[string]string, r *http.Request, body []byte) []Problem {
	c := checker{d}
	var ps []Problem
	query := r.URL.Query()
	declaredQuery := map[string]bool{}
	declaredHeader := map[string]bool{}
	for i, p := range o.params {
		name, _ := p["name"].(string)
		in, _ := p["in"].(string)
		required, _ := p["required"].(bool)
		s, _ := p["schema"].(map[string]any)
		ploc := fmt.Sprintf("%s/parameters/%d", o.loc, i)
		var raw []string
		switch in {
		case "path":
			if v, ok := pathVals[name]; ok {
				raw = []string{v}
			}
		case "query":
			declaredQuery[name] = true
			raw = query[name]
		case "header":
			declaredHeader[http.CanonicalHeaderKey(name)] = true
			raw = r.Header.Values(name)
		default:
			continue // cookies are not checked
		}
		at := in + "." + name
		if len(raw) == 0 {
			if required || in == "path" {
				ps = append(ps, d.problem(RuleRequired, at, ploc, name, []string{o.name()}, "required %s parameter %q is missing", in, name)...)
			}
			continue
		}
		if s == nil {
			continue
		}
		v, more := d.paramValue(raw, s, p, in, at, ploc)
		ps = append(ps, more...)
		ps = append(ps, c.value(v, s, ploc+"/schema", at)...)
	}
	auth, authQuery := d.security(o, r)
	ps = append(ps, auth...)
	for _, name := range sortedKeys(query) {
		if !declaredQuery[name] && !authQuery[name] {
			ps = append(ps, d.problem(RuleQuery, "query."+name, o.loc, name, []string{o.name()}, "query parameter %q is not declared", name)...)
		}
	}
	for _, name := range sortedKeys(r.Header) {
		if !declaredHeader[name] && !standardHeader[name] {
			ps = append(ps, d.problem(RuleHeader, "header."+name, o.loc, name, []string{o.name()}, "header %q is not declared", name)...)
		}
	}
	return append(ps, d.requestBody(o, r.Header.Get("Content-Type"), body)...)
}

// standardHeader are the HTTP headers any client may send; OpenAPI ignores parameters named Accept,
// Content-Type and Authorization (security schemes cover the latter).
var standardHeader = map[string]bool{"Accept": true, "Accept-Encoding": true, "Accept-Language": true, "Authorization": true,
	"Cache-Control": true, "Connection": true, "Content-Length": true, "Content-Type": true, "Host": true, "Te": true,
	"Transfer-Encoding": true, "User-Agent": true, "Traceparent": true, "Tracestate": true}

// paramValue turns the raw strings of a parameter into the JSON value its schema describes.
func (d *Doc) paramValue(raw []string, s, p map[string]any, in, at, ploc string) (any, []Problem) {
	t := d.typeOf(s)
	if t == "array" {
		explode := in == "query" || in == "cookie" // form style explodes by default
		if e, ok := p["explode"].(bool); ok {
			explode = e
		}
		var parts []string
		for _, r := range raw {
			if explode {
				parts = append(parts, r)
			} else {
				parts = append(parts, strings.Split(r, ",")...)
			}
		}
		items, _ := s["items"].(map[string]any)
		out := make([]any, len(parts))
		for i, x := range parts {
			out[i] = d.scalar(x, items)
		}
		return out, nil
	}
	var ps []Problem
	if len(raw) > 1 {
		ps = d.problem(RuleQuery, at, ploc, "", nil, "given %d times, the schema allows one value", len(raw))
	}
	return d.scalar(raw[0], s), ps
}

// scalar converts a parameter or form string by the schema's type; a string that does not convert
// stays a string, so the schema check names the mismatch.
func (d *Doc) scalar(x string, s map[string]any) any {
	switch d.typeOf(s) {
	case "integer":
		if _, err := strconv.ParseInt(x, 10, 64); err == nil {
			return jsonNumber(x)
		}
	case "number":
		if _, err := strconv.ParseFloat(x, 64); err == nil {
			return jsonNumber(x)
		}
	case "boolean":
		if b, err := strconv.ParseBool(x); err == nil && (x == "true" || x == "false") {
			return b
		}
	}
	return x
}

func (d *Doc) typeOf(s map[string]any) string {
	if s == nil {
		return ""
	}
	if ref, ok := s["$ref"].(string); ok {
		if t, _, err := d.resolve(ref); err == nil {
			return d.typeOf(t)
		}
	}
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if x != "null" {
				return fmt.Sprint(x)
			}
		}
	}
	for _, sub := range schemaList(s["allOf"]) {
		if t := d.typeOf(sub); t != "" {
			return t
		}
	}
	return ""
}

// security checks that the request carries the credentials one of the operation's security
// requirements asks for, and returns the query parameters that carry API keys.
func (d *Doc) security(o *operation, r *http.Request) ([]Problem, map[string]bool) {
	reqs, ok := o.op["security"].([]any)
	if !ok {
		reqs, _ = d.root["security"].([]any)
	}
	comps, _ := d.root["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)
	keyQuery := map[string]bool{}
	if len(reqs) == 0 {
		return nil, keyQuery
	}
	satisfied := false
	var names []string
	for _, x := range reqs {
		req, _ := x.(map[string]any)
		all := true
		for name := range req {
			names = append(names, name)
			sc := d.deref(schemes[name])
			switch sc["type"] {
			case "oauth2", "openIdConnect":
				all = all && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
			case "http":
				scheme, _ := sc["scheme"].(string)
				all = all && len(r.Header.Get("Authorization")) > len(scheme) &&
					strings.EqualFold(r.Header.Get("Authorization")[:len(scheme)], scheme)
			case "apiKey":
				n, _ := sc["name"].(string)
				switch sc["in"] {
				case "header":
					all = all && r.Header.Get(n) != ""
				case "query":
					keyQuery[n] = true
					all = all && r.URL.Query().Get(n) != ""
				}
			}
		}
		if all { // an empty requirement {} means "no credentials needed"
			satisfied = true
		}
	}
	if satisfied {
		return nil, keyQuery
	}
	sort.Strings(names)
	return d.problem(RuleAuth, "header.Authorization", o.loc, "", []string{o.name()}, "no credentials for %s", strings.Join(names, " or ")), keyQuery
}

func (d *Doc) requestBody(o *operation, contentType string, body []byte) []Problem {
	rb := d.deref(o.op["requestBody"])
	if rb == nil {
		if len(body) > 0 {
			return d.problem(RuleBody, "body", o.loc, "", []string{o.name()}, "a request body where the operation declares none")
		}
		return nil
	}
	if len(body) == 0 {
		if req, _ := rb["required"].(bool); req {
			return d.problem(RuleBody, "body", o.loc+"/requestBody", "", []string{o.name()}, "the required request body is missing")
		}
		return nil
	}
	content, _ := rb["content"].(map[string]any)
	mt, media, loc := d.media(content, contentType)
	loc = o.loc + "/requestBody/content/" + escape(loc)
	if media == nil {
		return d.problem(RuleContentType, "body", o.loc+"/requestBody", "", []string{o.name()}, "content type %q is not declared (%s)", contentType, strings.Join(sortedKeys(content), ", "))
	}
	s, _ := media["schema"].(map[string]any)
	if s == nil {
		return nil
	}
	c := checker{d}
	switch {
	case isJSON(mt):
		v, err := decode(body)
		if err != nil {
			return d.problem(RuleBody, "body", loc, "", nil, "not JSON: %v", err)
		}
		return c.value(v, s, loc+"/schema", "body")
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return d.problem(RuleBody, "body", loc, "", nil, "not a form: %v", err)
		}
		obj := map[string]any{}
		for k, vs := range form {
			ps := d.propSchema(s, k, 0)
			if d.typeOf(ps) == "array" {
				items, _ := ps["items"].(map[string]any)
				l := make([]any, len(vs))
				for i, x := range vs {
					l[i] = d.scalar(x, items)
				}
				obj[k] = l
			} else {
				obj[k] = d.scalar(vs[0], ps)
			}
		}
		return c.value(obj, s, loc+"/schema", "body")
	}
	return nil // multipart and binary bodies are not checked
}

// propSchema finds the schema of a property through $ref and allOf.
func (d *Doc) propSchema(s map[string]any, name string, depth int) map[string]any {
	if s == nil || depth > 32 {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		if t, _, err := d.resolve(ref); err == nil {
			return d.propSchema(t, name, depth+1)
		}
	}
	if props, ok := s["properties"].(map[string]any); ok {
		if ps, ok := props[name].(map[string]any); ok {
			return ps
		}
	}
	for _, sub := range schemaList(s["allOf"]) {
		if ps := d.propSchema(sub, name, depth+1); ps != nil {
			return ps
		}
	}
	return nil
}

// media picks the declared media type for a Content-Type: exact, then type/*, then */*.
func (d *Doc) media(content map[string]any, contentType string) (string, map[string]any, string) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	major, _, _ := strings.Cut(mt, "/")
	for _, k := range []string{mt, major + "/*", "*/*"} {
		if m, ok := content[k].(map[string]any); ok {
			return mt, m, k
		}
	}
	return mt, nil, ""
}

func isJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// ValidateResponse validates an answer to method and path (the request's path, e.g.
// /2.0/files/12): its status must be declared (or default), its media type too, and a JSON body
// must match the schema.
func (d *Doc) ValidateResponse(method, path string, status int, header http.Header, body []byte) error {
	what := fmt.Sprintf("%s %s -> %d", method, path, status)
	ops, _ := d.match(method, path)
	if len(ops) == 0 {
		if d.exempt(RuleOperation, "", path) {
			return nil
		}
		return fmt.Errorf("%s: %w", what, ErrNoOperation)
	}
	var first []Problem
	for i, o := range ops {
		ps := d.response(o, status, header.Get("Content-Type"), body)
		if len(ps) == 0 {
			return nil
		}
		if i == 0 {
			first = ps
		}
	}
	return &Error{What: what + " (" + ops[0].name() + ")", Problems: first}
}

func (d *Doc) response(o *operation, status int, contentType string, body []byte) []Problem {
	responses, _ := o.op["responses"].(map[string]any)
	code := strconv.Itoa(status)
	key := code
	r := d.deref(responses[code])
	if r == nil {
		key = code[:1] + "XX"
		r = d.deref(responses[key])
	}
	if r == nil {
		key = "default"
		r = d.deref(responses[key])
	}
	if r == nil {
		return d.problem(RuleStatus, "", o.loc+"/responses", code, []string{o.name()}, "status %d is not declared (%s)", status, strings.Join(sortedKeys(responses), ", "))
	}
	loc := o.loc + "/responses/" + key
	content, _ := r["content"].(map[string]any)
	if len(body) == 0 {
		if len(content) > 0 {
			return d.problem(RuleBody, "", loc, code, []string{o.name()}, "empty body, the spec declares %s", strings.Join(sortedKeys(content), ", "))
		}
		return nil
	}
	if len(content) == 0 {
		return d.problem(RuleBody, "", loc, code, []string{o.name()}, "a body where the spec declares none")
	}
	mt, media, mkey := d.media(content, contentType)
	if media == nil {
		return d.problem(RuleContentType, "", loc, code, []string{o.name()}, "content type %q is not declared (%s)", contentType, strings.Join(sortedKeys(content), ", "))
	}
	s, _ := media["schema"].(map[string]any)
	if s == nil || !isJSON(mt) {
		return nil // binary or text content: nothing to check against
	}
	v, err := decode(body)
	if err != nil {
		return d.problem(RuleBody, "", loc, code, nil, "body is not JSON: %v", err)
	}
	return checker{d}.value(v, s, loc+"/content/"+escape(mkey)+"/schema", "")
}

// Requests returns a handler that validates each request against the document before passing it
// to next; report gets each invalid request's error (from the serving goroutines).
func (d *Doc) Requests(next http.Handler, report func(r *http.Request, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			var err error
			body, err = io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if err := d.ValidateRequest(r, body); err != nil {
			report(r, err)
		}
		next.ServeHTTP(w, r)
	})
}

func jsonNumber(s string) any { return json.Number(s) }

// Operation names the operation a request addresses ("GET /files/{file_id}"), or "" if none; for
// coverage checks (which operations did a test exercise).
func (d *Doc) Operation(method, path string) string {
	ops, _ := d.match(method, path)
	if len(ops) == 0 {
		return ""
	}
	return ops[0].name()
}
