// Package oktaspec loads Okta's management OpenAPI document (../shared/vendor/okta/
// management-openapi.yaml, YAML) into the strict validator of package openapi, with the documented
// differences between that document and Okta's real API: the list the Okta emulator's and the
// Okta integration's tests share.
package oktaspec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/telltale-dev/telltale/internal/testutil/openapi"
	"go.yaml.in/yaml/v3"
)

// Exceptions are the places where Okta's real API is documented to differ from its own spec, each
// with its source. Tests fail on an exception that no longer applies (openapi.Doc.Unused).
var Exceptions = []openapi.Exception{
	{Rule: openapi.RuleStatus, At: "* /api/v1/*", Name: "401",
		Reason: "Okta answers a missing, invalid or revoked API token 401 with errorCode E0000011 \"Invalid token provided\" " +
			"(developer.okta.com/docs/reference/error-codes/#E0000011, and the SSWS section of " +
			"developer.okta.com/docs/guides/create-an-api-token), a status the spec declares on few operations; the body is " +
			"checked against #/components/schemas/Error by the emulator's test"},
	{Rule: openapi.RuleStatus, At: "* /api/v1/*", Name: "500",
		Reason: "Okta answers an internal failure 500 with errorCode E0000009 \"Internal Server Error\" " +
			"(developer.okta.com/docs/reference/error-codes/#E0000009), a status the spec declares on no operation; clients " +
			"retry it"},
}

// Path is the location of Okta's spec, shared with the other worktrees.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "shared", "vendor", "okta", "management-openapi.yaml")
	if _, err := os.Stat(p); err != nil {
		p = "/work/shared/vendor/okta/management-openapi.yaml"
	}
	return p
}

var (
	once sync.Once
	raw  []byte
	err  error
)

// JSON returns the spec converted from YAML to JSON (read once per process: it is 2 MB).
func JSON() ([]byte, error) {
	once.Do(func() {
		var b []byte
		if b, err = os.ReadFile(Path()); err != nil {
			return
		}
		var v any
		if err = yaml.Unmarshal(b, &v); err != nil {
			err = fmt.Errorf("okta spec: %w", err)
			return
		}
		raw, err = json.Marshal(fix(v))
	})
	return raw, err
}

// fix turns YAML's map[any]any (non-string keys, e.g. a status 200 written unquoted) into
// map[string]any, as JSON needs.
func fix(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = fix(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = fix(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = fix(e)
		}
	}
	return v
}

// Load parses Okta's spec with Exceptions.
func Load(tb testing.TB) *openapi.Doc {
	tb.Helper()
	b, err := JSON()
	if err != nil {
		tb.Fatalf("Okta's spec: %v", err)
	}
	d, err := openapi.Parse(b, openapi.Options{Exceptions: Exceptions})
	if err != nil {
		tb.Fatalf("Okta's spec: %v", err)
	}
	return d
}
