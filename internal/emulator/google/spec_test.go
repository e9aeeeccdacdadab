package google

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

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

// check validates one recorded answer: a 2xx JSON answer against its method's response schema in
// the discovery document, an error against Google's error shape, a token endpoint answer against
// RFC 6749's.
func check(t *testing.T, x exchange) error {
	d, a := docs(t)
	switch {
	case x.path == "/token":
		return checkOAuth(x)
	case x.status >= 300:
		return checkError(x)
	case strings.Contains(x.query, "alt=media") || strings.HasSuffix(x.path, "/export"):
		return nil // content, not JSON
	case strings.HasPrefix(x.path, "/drive/v3/"):
		return d.ValidateResponse(x.method, x.path, x.body)
	case strings.HasPrefix(x.path, "/admin/directory/v1/"):
		return a.ValidateResponse(x.method, x.path, x.body)
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

var _ = sort.Strings
