package api

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/client"
)

// TestJSONFieldAt: the byte offset of a bad string names its member as a problem does.
func TestJSONFieldAt(t *testing.T) {
	body := `{"name":"ok","scope":{"kind":"users","csv":"Email\nB@D"},"filter":[{"field":"a","value":"x"},{"field":"b","value":"BAD"}],"n":[1,2,"BAD"]}`
	for _, c := range []struct{ needle, want string }{
		{"B@D", "scope.csv"}, {`"BAD"}`, "filter[1].value"}, {`"BAD"]`, "n[2]"}, {"ok", "name"}, {`"scope"`, "scope"},
	} {
		if got := jsonFieldAt([]byte(body), strings.Index(body, c.needle)+1); got != c.want {
			t.Errorf("at %q: %q, want %q", c.needle, got, c.want)
		}
	}
}

// FuzzDecodeJSON: decodeJSON never panics; a body that is not UTF-8 is always refused (never
// decoded with U+FFFD in place of its bytes); every refusal is a request error whose message is
// bounded by the body.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a","query":"b"}`, `["a"]`, `{"name":"caf` + "\xe9" + `"}`, `{"name":`, `{"qurey":1}`, `{"name":5}`, ``, `{} {}`,
		`{"name":"\ud800"}`, `{"filter":[{"field":"x","value":"` + "\xff" + `"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			client.SavedSearchInput
			Filter []client.FilterTerm `json:"filter"`
		}
		err := decodeJSON(body, &v)
		if err == nil {
			if !utf8.Valid(body) {
				t.Fatalf("decoded a body that is not UTF-8: %q", body)
			}
			return
		}
		var br *badRequest
		if !errors.As(err, &br) {
			t.Fatalf("refusal %v is a %T, not a request error", err, err)
		}
		if len(err.Error()) > 2*len(body)+400 {
			t.Fatalf("a %d-byte body got a %d-byte error", len(body), len(err.Error()))
		}
	})
}
