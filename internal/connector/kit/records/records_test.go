package records

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type got struct {
	Line int
	ID   string
	Err  string
}

func split(t *testing.T, in string) []got {
	t.Helper()
	var out []got
	err := Split(strings.NewReader(in), Format{Name: "google drive", Page: "items"}, func(line int, obj map[string]json.RawMessage, raw []byte, err error) error {
		g := got{Line: line}
		if err != nil {
			g.Err = err.Error()
		} else {
			var id string
			json.Unmarshal(obj["etag"], &id)
			g.ID = id
			if !json.Valid(raw) {
				t.Errorf("line %d: raw bytes are not the object's JSON: %q", line, raw)
			}
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSplitFormats: the same records as JSON lines, as pretty-printed API pages under the format's
// page key, and as an array, each reported with the line it starts on; a bad value is reported with
// its line and the vendor's name, and reading goes on.
func TestSplitFormats(t *testing.T) {
	lines := `{"etag":"a"}` + "\n\n" + `{"etag":"b"}` + "\n" + `nope` + "\n" + `{"etag":"c"`
	page := "{\n  \"kind\": \"admin#reports#activities\",\n  \"items\": [\n    {\"etag\": \"a\"},\n    {\n      \"etag\": \"b\"\n    }\n  ],\n  \"nextPageToken\": \"x\"\n}\n"
	arr := "[\n" + `{"etag":"a"},` + "\n" + `{"items":[{"etag":"b"}]},` + "\n" + `42` + "\n]"
	for name, tc := range map[string]struct {
		in   string
		want []got
	}{
		"lines": {lines, []got{{Line: 1, ID: "a"}, {Line: 3, ID: "b"}, {Line: 4, Err: "line 4: google drive record: malformed JSON: want a record object"},
			{Line: 5, Err: "line 5: google drive record: malformed JSON: unexpected end of input"}}},
		"page":                  {page, []got{{Line: 4, ID: "a"}, {Line: 5, ID: "b"}}},
		"array":                 {arr, []got{{Line: 2, ID: "a"}, {Line: 3, ID: "b"}, {Line: 4, Err: "line 4: google drive record: want a JSON object, got a number"}}},
		"page key not an array": {`{"items":{"etag":"a"}}`, []got{{Line: 1, Err: "line 1: google drive page: items: want an array, got an object"}}},
	} {
		out := split(t, tc.in)
		for i := range out {
			if i < len(tc.want) && tc.want[i].Err != "" && strings.HasPrefix(out[i].Err, tc.want[i].Err) {
				out[i].Err = tc.want[i].Err // compare by prefix
			}
		}
		if d := cmp.Diff(tc.want, out); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
}
