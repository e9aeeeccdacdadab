package box

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// readResult is what ReadRecords reported for one record: its line and event id, or the error.
type readResult struct {
	Line int
	ID   string
	Err  string // a substring of the error
}

func readAll(t *testing.T, in string) []readResult {
	t.Helper()
	var got []readResult
	err := ReadRecords(strings.NewReader(in), func(line int, rec Record, err error) error {
		r := readResult{Line: line, ID: rec.EventID}
		if err != nil {
			r.Err = err.Error()
			if !strings.HasPrefix(r.Err, fmt.Sprintf("line %d: ", line)) {
				t.Errorf("error %q does not name line %d", r.Err, line)
			}
		}
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadRecords: %v", err)
	}
	return got
}

func rec(id string) string {
	return `{"event_id":"` + id + `","event_type":"UPLOAD","created_at":"2024-01-01T00:00:00Z"}`
}

func TestReadRecords(t *testing.T) {
	long := `{"event_id":"big","event_type":"UPLOAD","created_at":"2024-01-01T00:00:00Z","additional_details":{"pad":"` +
		strings.Repeat("x", 3<<20) + `"}}`
	tests := []struct {
		name string
		in   string
		want []readResult
	}{
		{
			name: "json lines with a malformed line in the middle",
			in:   rec("a") + "\n" + `{"event_id":"b", "event_type": ` + "\n" + rec("c") + "\n" + "not json at all\n" + rec("d") + "\n",
			want: []readResult{{Line: 1, ID: "a"}, {Line: 2, Err: "not complete"}, {Line: 3, ID: "c"}, {Line: 4, Err: "want a record object"}, {Line: 5, ID: "d"}},
		},
		{
			name: "wrong types name the field and line",
			in:   rec("a") + "\n" + `{"event_id":"b","event_type":42}` + "\n" + `{"event_id":"c","created_at":"yesterday"}` + "\n" + rec("d"),
			want: []readResult{{Line: 1, ID: "a"}, {Line: 2, Err: "line 2: box record: event_type: want a string"}, {Line: 3, Err: `created_at "yesterday" is not RFC 3339`}, {Line: 4, ID: "d"}},
		},
		{
			name: "syntax error inside a balanced line",
			in:   `{"event_id" "a"}` + "\n" + rec("b"),
			want: []readResult{{Line: 1, Err: "malformed JSON"}, {Line: 2, ID: "b"}},
		},
		{
			name: "unterminated string",
			in:   `{"event_id":"a` + "\n" + rec("b"),
			want: []readResult{{Line: 1, Err: "unterminated string"}, {Line: 2, ID: "b"}},
		},
		{
			name: "truncated last line",
			in:   rec("a") + "\n" + `{"event_id":"b",`,
			want: []readResult{{Line: 1, ID: "a"}, {Line: 2, Err: "unexpected end of input"}},
		},
		{
			name: "blank lines, CRLF and a BOM",
			in:   "\xef\xbb\xbf" + rec("a") + "\r\n\r\n   \r\n" + rec("b") + "\r\n",
			want: []readResult{{Line: 1, ID: "a"}, {Line: 4, ID: "b"}},
		},
		{
			name: "pages one per line with string and numeric positions",
			in: `{"chunk_size":2,"next_stream_position":"1152922976252290886","entries":[` + rec("a") + `,` + rec("b") + `]}` + "\n" +
				`{"chunk_size":1,"next_stream_position":1152922976252290800,"entries":[` + rec("c") + `]}` + "\n" +
				`{"chunk_size":0,"next_stream_position":"1152922976252290900","entries":[]}` + "\n" +
				`{"chunk_size":0,"next_stream_position":"0","entries":null}`,
			want: []readResult{{Line: 1, ID: "a"}, {Line: 1, ID: "b"}, {Line: 2, ID: "c"}},
		},
		{
			name: "pretty-printed page",
			in: "{\n  \"chunk_size\": 2,\n  \"next_stream_position\": 1152922976252290800,\n  \"entries\": [\n    {\n      \"event_id\": \"a\",\n" +
				"      \"event_type\": \"UPLOAD\",\n      \"created_at\": \"2024-01-01T00:00:00Z\"\n    },\n    " + rec("b") + ",\n    {\"event_id\": 7, \"event_type\": []}\n  ]\n}\n" +
				rec("c") + "\n",
			want: []readResult{{Line: 5, ID: "a"}, {Line: 10, ID: "b"}, {Line: 11, Err: "line 11: box record: event_type: want a string"}, {Line: 14, ID: "c"}},
		},
		{
			name: "page whose entries text also appears earlier",
			in:   "{\"other\":\n  [" + rec("x") + "],\n  \"entries\":\n  [" + rec("x") + "]}",
			want: []readResult{{Line: 4, ID: "x"}},
		},
		{
			name: "page entries not an array",
			in:   `{"chunk_size":1,"entries":{"event_id":"a"}}` + "\n" + rec("b"),
			want: []readResult{{Line: 1, Err: "entries: want an array"}, {Line: 2, ID: "b"}},
		},
		{
			name: "array of records at column 0",
			in:   "[\n" + rec("a") + ",\n" + rec("b") + ",\n  42,\n" + rec("c") + "\n]\n",
			want: []readResult{{Line: 2, ID: "a"}, {Line: 3, ID: "b"}, {Line: 4, Err: "want a JSON object, got a number"}, {Line: 5, ID: "c"}},
		},
		{
			name: "one-line array and an array of pages",
			in:   "[" + rec("a") + "," + rec("b") + "]\n" + `[{"entries":[` + rec("c") + `]}]`,
			want: []readResult{{Line: 1, ID: "a"}, {Line: 1, ID: "b"}, {Line: 2, ID: "c"}},
		},
		{
			name: "two records on one line",
			in:   rec("a") + " " + rec("b"),
			want: []readResult{{Line: 1, ID: "a"}, {Line: 1, ID: "b"}},
		},
		{
			name: "stray closing bracket",
			in:   "}\n" + rec("a"),
			want: []readResult{{Line: 1, Err: "want a record object"}, {Line: 2, ID: "a"}},
		},
		{
			name: "very long lines",
			in:   rec("a") + "\n" + long + "\n" + long + "\r\n" + rec("b"),
			want: []readResult{{Line: 1, ID: "a"}, {Line: 2, ID: "big"}, {Line: 3, ID: "big"}, {Line: 4, ID: "b"}},
		},
		{
			name: "empty input",
			in:   "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := readAll(t, tc.in)
			for i := range got {
				if i < len(tc.want) && tc.want[i].Err != "" && strings.Contains(got[i].Err, tc.want[i].Err) {
					got[i].Err = tc.want[i].Err
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}

func TestReadRecordsLongLineKeepsRecord(t *testing.T) {
	pad := strings.Repeat("y", 2<<20)
	in := `{"event_id":"big","event_type":"DOWNLOAD","created_at":"2024-01-01T00:00:00Z","source":{"item_type":"file","item_id":"1","item_name":"` + pad + `.pdf"}}`
	var name string
	err := ReadRecords(strings.NewReader(in), func(line int, r Record, err error) error {
		if err != nil {
			return err
		}
		if len(r.Raw) != len(in) {
			t.Errorf("Raw has %d bytes, want %d", len(r.Raw), len(in))
		}
		name = r.Source.Name
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(name) != len(pad)+4 {
		t.Errorf("item name has %d bytes, want %d", len(name), len(pad)+4)
	}
}

func TestReadRecordsStops(t *testing.T) {
	stop := errors.New("enough")
	calls := 0
	err := ReadRecords(strings.NewReader(rec("a")+"\n"+rec("b")+"\n"+rec("c")), func(int, Record, error) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("err %v after %d calls, want %v after 2", err, calls, stop)
	}

	ioErr := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(rec("a")+"\n"), iotest.ErrReader(ioErr))
	var ids []string
	err = ReadRecords(r, func(_ int, rec Record, err error) error {
		if err != nil {
			t.Errorf("unexpected record error %v", err)
		}
		ids = append(ids, rec.EventID)
		return nil
	})
	if !errors.Is(err, ioErr) || len(ids) != 1 {
		t.Fatalf("err %v ids %v, want the I/O error after record a", err, ids)
	}
}
