package box

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds adds the inputs of testdata/adapter (each record of each) to f.
func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "adapter", "*.json"))
	for _, file := range files {
		if strings.HasSuffix(file, ".out.json") {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var c adapterCase
		if err := json.Unmarshal(b, &c); err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		f.Add([]byte(c.Input))
		_ = ReadRecords(bytes.NewReader(c.Input), func(_ int, rec Record, err error) error {
			if err == nil {
				f.Add([]byte(rec.Raw))
			}
			return nil
		})
	}
	f.Add([]byte(`{"event_id":"1","event_type":"SHARE","created_at":"2024-01-01T00:00:00Z","source":{"type":"collaboration","item":{"type":"folder","id":"3"}}}`))
}

// FuzzAdapt: DecodeRecord and Adapt never panic, and every event they produce validates.
func FuzzAdapt(f *testing.F) {
	fuzzSeeds(f)
	items := []*Item{nil, {Known: true, Path: "/A/B/old name.pdf", Size: 7, SHA1: "ABCDEF0123456789ABCDEF0123456789ABCDEF01", LinkAccess: "open", DriveID: "42"}, {Path: "x"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := DecodeRecord(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "box record") {
				t.Fatalf("error does not say what failed: %v", err)
			}
			return
		}
		for _, it := range items {
			evs, skip, err := Adapt(rec, it)
			if err != nil {
				if evs != nil || skip != "" {
					t.Fatalf("error %v with events %v / skip %q", err, evs, skip)
				}
				continue
			}
			if (skip == "") == (len(evs) == 0) {
				t.Fatalf("skip %q with %d events", skip, len(evs))
			}
			for i := range evs {
				if err := evs[i].Validate(); err != nil {
					t.Fatalf("event does not validate: %v\n%+v", err, evs[i])
				}
				if _, err := json.Marshal(&evs[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// FuzzReadRecords: ReadRecords never panics or fails on in-memory input, reports lines in order
// within the input, and every record it yields adapts without panicking.
func FuzzReadRecords(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte("\xef\xbb\xbf{\"event_id\":\"1\"}\r\n\r\n{bad\n[{\"entries\":[{}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		err := ReadRecords(bytes.NewReader(data), func(line int, rec Record, err error) error {
			if line < 1 || line > lines {
				t.Fatalf("line %d outside 1..%d", line, lines)
			}
			if err == nil {
				_, _, _ = Adapt(rec, nil)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("ReadRecords on a byte slice failed: %v", err)
		}
	})
}
