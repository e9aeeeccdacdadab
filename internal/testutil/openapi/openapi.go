// Package openapi validates HTTP traffic against an OpenAPI 3.0 or 3.1 JSON document, strictly, for
// tests: emulators check every answer they give against the vendor's published spec, and connector
// tests check every request they send. It is test support; only tests and the benchmark program
// import it.
//
// Strict means:
//   - an object property that none of the applied schemas declares is an error, unless a schema says
//     additionalProperties true or gives a schema for them (JSON Schema's default of "anything goes"
//     would let a renamed next_marker pass); Options.AllowUndeclared restores the default;
//   - oneOf means exactly one branch. Overlapping branches are resolved by the discriminator when the
//     spec declares one, otherwise by tags: a branch that requires a property declared with an enum
//     (Box's `type: "file"`, `item_type: "file"`) and finds it in the value claims the value, and
//     then only claiming branches are candidates (so an open catch-all branch cannot swallow a
//     broken tagged value); of the candidates exactly one must match. See checker.oneOf;
//   - a request may carry only the query parameters and non-standard headers its operation declares,
//     the required ones must be there, each value must match its schema, and a body must match the
//     requestBody schema of its media type;
//   - a response must have a declared status (or default) and media type, and its JSON body must match.
//
// Documented differences between a vendor's spec and its real API go in Options.Exceptions, each with
// the reason and its source; Doc.Unused lists the exceptions that never applied, so a stale one shows.
// Errors name the JSON path of the offending value (entries[3].source.item_id, query.limit,
// header.As-User) and the schema location in the document (#/components/schemas/EventSource).
package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
)

// Rule names a kind of check; exceptions waive one rule at one place.
type Rule string

// The rules.
const (
	RuleUndeclared  Rule = "undeclared"   // an object property no schema declares
	RuleRequired    Rule = "required"     // a required property or parameter is missing
	RuleType        Rule = "type"         // wrong JSON type, or null where not nullable
	RuleEnum        Rule = "enum"         // a value outside enum or const
	RuleOneOf       Rule = "oneOf"        // not exactly one oneOf branch
	RuleAnyOf       Rule = "anyOf"        // no anyOf branch
	RuleFormat      Rule = "format"       // date-time, date
	RulePattern     Rule = "pattern"      // a string pattern
	RuleBounds      Rule = "bounds"       // minimum, maximum, lengths, item counts
	RuleSchema      Rule = "schema"       // the document itself is broken (an unresolvable $ref)
	RuleOperation   Rule = "operation"    // no operation for the method and path
	RuleStatus      Rule = "status"       // a status the operation does not declare
	RuleContentType Rule = "content-type" // a media type the operation does not declare
	RuleBody        Rule = "body"         // a body missing, unexpected or not JSON
	RuleQuery       Rule = "query"        // an undeclared query parameter
	RuleHeader      Rule = "header"       // an undeclared non-standard request header
	RuleAuth        Rule = "auth"         // no credentials where the operation's security asks for them
)

// Exception waives one rule where a vendor's real API is documented to differ from its own spec.
type Exception struct {
	Rule Rule
	// At is where: a schema location ("#/components/schemas/ClientError/properties/code"), an
	// operation ("GET /events"), or a request path for RuleOperation ("/dl/*"). "*" stands for any
	// run of characters.
	At string
	// Name is the property, parameter or header concerned, if the rule concerns one ("" = any).
	Name string
	// Like, for RuleUndeclared only, names a schema ("#/components/schemas/Folder--Full") whose
	// properties are allowed here and validated against their schema there; other undeclared
	// properties stay errors. For APIs that return a fuller representation than the spec says.
	Like string
	// Reason says why, with the source of the fact.
	Reason string
}

func (e Exception) String() string {
	s := string(e.Rule) + " at " + e.At
	if e.Name != "" {
		s += " for " + e.Name
	}
	return s
}

// Options tune a Doc.
type Options struct {
	Exceptions []Exception
	// AllowUndeclared lets objects carry properties their schema does not declare (JSON Schema's
	// default); explicit additionalProperties false still refuses them.
	AllowUndeclared bool
}

// Problem is one finding.
type Problem struct {
	Path   string // JSON path in the body (entries[3].source.item_id), or query.x, header.X, path
	Schema string // location in the document (#/components/schemas/EventSource/properties/item_id)
	Rule   Rule
	Msg    string
}

func (p Problem) String() string {
	at := p.Path
	if at == "" {
		at = "(body)"
	}
	return fmt.Sprintf("%s: %s [%s at %s]", at, p.Msg, p.Rule, p.Schema)
}

// Error is what a validation returns: every problem found.
type Error struct {
	What     string // "GET /2.0/events -> 200"
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.What)
	if len(e.Problems) == 1 {
		b.WriteString(": ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, ": %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// ErrNoOperation is wrapped by errors for a method and path the document has no operation for.
var ErrNoOperation = errors.New("openapi: no such operation")

// Doc is a loaded document. It is safe for concurrent use.
type Doc struct {
	root map[string]any
	opts Options
	ops  []*operation

	mu   sync.Mutex
	res  map[string]*regexp.Regexp
	used []int // per exception, how often it applied
}

// Load reads a JSON document from a file.
func Load(path string, opts Options) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return Parse(b, opts)
}

// Parse reads a JSON document.
func Parse(b []byte, opts Options) (*Doc, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("openapi: not a JSON document: %w", err)
	}
	v, _ := root["openapi"].(string)
	if !strings.HasPrefix(v, "3.0") && !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("openapi: version %q: only 3.0 and 3.1 are supported", v)
	}
	for i, e := range opts.Exceptions {
		if e.Reason == "" || e.Rule == "" || e.At == "" {
			return nil, fmt.Errorf("openapi: exception %d (%v) needs a rule, a place and a reason", i, e)
		}
	}
	d := &Doc{root: root, opts: opts, res: map[string]*regexp.Regexp{}, used: make([]int, len(opts.Exceptions))}
	if err := d.index(); err != nil {
		return nil, err
	}
	return d, nil
}

// Unused returns the exceptions that have not applied to anything validated so far.
func (d *Doc) Unused() []Exception {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Exception
	for i, n := range d.used {
		if n == 0 {
			out = append(out, d.opts.Exceptions[i])
		}
	}
	return out
}

// ValidateSchema validates a JSON value against the schema at a location in the document, e.g.
// "#/components/schemas/Events".
func (d *Doc) ValidateSchema(loc string, body []byte) error {
	s, sloc, err := d.resolve(loc)
	if err != nil {
		return err
	}
	v, err := decode(body)
	if err != nil {
		return &Error{What: loc, Problems: []Problem{{Schema: sloc, Rule: RuleBody, Msg: "not JSON: " + err.Error()}}}
	}
	return d.result(loc, checker{d}.value(v, s, sloc, ""))
}

func (d *Doc) result(what string, ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	return &Error{What: what, Problems: ps}
}

// problem builds a finding unless an exception waives it (then nil, and the exception is counted).
// alt are further schema locations an exception may name (the components applied to an object).
func (d *Doc) problem(rule Rule, path, loc, name string, alt []string, format string, args ...any) []Problem {
	if d.exempt(rule, name, append([]string{loc}, alt...)...) {
		return nil
	}
	return []Problem{{Path: path, Schema: loc, Rule: rule, Msg: fmt.Sprintf(format, args...)}}
}

func (d *Doc) exempt(rule Rule, name string, places ...string) bool {
	for i, e := range d.opts.Exceptions {
		if e.Rule != rule || e.Like != "" || (e.Name != "" && !strings.EqualFold(e.Name, name)) {
			continue
		}
		for _, p := range places {
			if matchAt(e.At, p) {
				d.mu.Lock()
				d.used[i]++
				d.mu.Unlock()
				return true
			}
		}
	}
	return false
}

// matchAt matches a place against a pattern where "*" stands for any run of characters.
// like finds the schema an Exception.Like lends to an undeclared property at one of places.
func (d *Doc) like(name string, places []string) (map[string]any, string, bool) {
	for i, e := range d.opts.Exceptions {
		if e.Rule != RuleUndeclared || e.Like == "" || (e.Name != "" && !strings.EqualFold(e.Name, name)) {
			continue
		}
		for _, p := range places {
			if !matchAt(e.At, p) {
				continue
			}
			s, _, err := d.resolve(e.Like)
			if err != nil {
				continue
			}
			if ps := d.propSchema(s, name, 0); ps != nil {
				d.mu.Lock()
				d.used[i]++
				d.mu.Unlock()
				return ps, e.Like + "/properties/" + escape(name), true
			}
		}
	}
	return nil, "", false
}

func matchAt(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// resolve follows a local reference ("#/components/schemas/File") to its schema and location.
func (d *Doc) resolve(ref string) (map[string]any, string, error) {
	for range 32 {
		if !strings.HasPrefix(ref, "#") {
			return nil, ref, fmt.Errorf("openapi: only local references are supported: %s", ref)
		}
		var cur any = d.root
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, ref, fmt.Errorf("openapi: unresolvable reference %s", ref)
			}
			if cur, ok = m[tok]; !ok {
				return nil, ref, fmt.Errorf("openapi: unresolvable reference %s", ref)
			}
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, ref, fmt.Errorf("openapi: reference %s is not an object", ref)
		}
		next, ok := m["$ref"].(string)
		if !ok || len(m) > 1 {
			return m, ref, nil
		}
		ref = next
	}
	return nil, ref, fmt.Errorf("openapi: reference loop at %s", ref)
}

// deref resolves x if it is a reference object (parameters, request bodies, responses).
func (d *Doc) deref(x any) map[string]any {
	m, _ := x.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		if t, _, err := d.resolve(ref); err == nil {
			return t
		}
	}
	return m
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}
