package slack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/telltale-dev/telltale/internal/testutil/openapi"
)

// specPath is Slack's Web API spec (Swagger 2.0), shared with the other worktrees.
func specPath(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "vendor", "slack", "web-api-openapi-v2.json")
	if _, err := os.Stat(p); err != nil {
		p = "/work/shared/vendor/slack/web-api-openapi-v2.json"
	}
	return p
}

// Spec checks Web API traffic against Slack's spec: every argument a request carries must be a
// declared parameter of its operation (a renamed argument fails), the required ones present, and
// every answer must match the operation's success (200) or error (default) schema, which declare
// additionalProperties false (a renamed field fails).
type Spec struct {
	doc    *openapi.Doc
	params map[string]map[string]bool // op -> declared argument names
	req    map[string][]string        // op -> required arguments (besides token)
	mu     sync.Mutex
	errs   []string
}

// LoadSpec loads the spec.
func LoadSpec(t *testing.T) *Spec {
	t.Helper()
	raw, err := os.ReadFile(specPath(t))
	if err != nil {
		t.Fatalf("Slack's spec: %v", err)
	}
	// The spec is Swagger 2.0; its schemas use the JSON Schema subset OpenAPI 3.0 shares, so the
	// document is read as 3.0 for ValidateSchema (operations are checked here, from its parameters).
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	root["openapi"] = "3.0.3"
	as3, _ := json.Marshal(root)
	doc, err := openapi.Parse(as3, openapi.Options{})
	if err != nil {
		t.Fatalf("Slack's spec: %v", err)
	}
	var d struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	s := &Spec{doc: doc, params: map[string]map[string]bool{}, req: map[string][]string{}}
	for path, ops := range d.Paths {
		for method, op := range ops {
			name := strings.TrimPrefix(path, "/")
			if method != "post" && method != "get" {
				continue
			}
			if s.params[name] == nil {
				s.params[name] = map[string]bool{}
			}
			for _, p := range op.Parameters {
				s.params[name][p.Name] = true
				if p.Required && p.In != "header" {
					s.req[name] = append(s.req[name], p.Name)
				}
			}
		}
	}
	return s
}

func (s *Spec) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, strings.TrimSpace(sprintf(format, args...)))
}

// Check is the emulator's Check hook.
func (s *Spec) Check(op string, args map[string]any, status int, body []byte) {
	declared, ok := s.params[op]
	if !ok {
		s.fail("%s: no such operation in the spec", op)
		return
	}
	if body == nil { // a request
		for k := range args {
			if !declared[k] {
				s.fail("%s: argument %q is not declared by the spec", op, k)
			}
		}
		for _, k := range s.req[op] {
			if _, ok := args[k]; !ok {
				s.fail("%s: required argument %q missing", op, k)
			}
		}
		return
	}
	var env struct {
		OK bool `json:"ok"`
	}
	_ = json.Unmarshal(body, &env)
	which := "default"
	if env.OK {
		which = "200"
	}
	loc := "#/paths/~1" + op + "/post/responses/" + which + "/schema"
	if op == "auth.test" {
		loc = "#/paths/~1auth.test/get/responses/" + which + "/schema"
	}
	if err := s.doc.ValidateSchema(loc, body); err != nil {
		s.fail("%s answer %d %s: %v", op, status, body, err)
	}
}

// Errors returns the findings so far, sorted.
func (s *Spec) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.errs...)
	sort.Strings(out)
	return out
}
