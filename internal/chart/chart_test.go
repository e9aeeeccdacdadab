package chart

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// wellFormed parses s as XML: a chart must be a valid SVG document.
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, s)
		}
	}
}

func TestLine(t *testing.T) {
	s := Line(`Events <by> "vector"`, []string{"Dec 1", "Dec 2", "Dec 3"}, []Series{
		{Name: "public_link", Values: []float64{1, 5, 2}}, {Name: "email & <x>", Values: []float64{0, 0, 9}}})
	wellFormed(t, s)
	for _, want := range []string{`aria-label="Events &lt;by&gt; &#34;vector&#34;"`, `points="56.0,`, `email &amp; &lt;x&gt;`, "Dec 2", `stroke="#0072B2"`, `stroke="#E69F00"`} {
		if !strings.Contains(s, want) {
			t.Errorf("line chart lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "style=") || strings.Contains(s, "<script") {
		t.Errorf("a chart must not carry inline style or script (CSP):\n%s", s)
	}
	// The highest value sits at the top of its axis, 0 at the bottom.
	if !strings.Contains(s, ">10<") || !strings.Contains(s, ">0<") {
		t.Errorf("y axis ticks: want 0 ... 10 for a maximum of 9:\n%s", s)
	}
	wellFormed(t, Line("empty", nil, nil))
	one := Line("one", []string{"a"}, []Series{{Name: "s", Values: []float64{3}}})
	wellFormed(t, one)
	if !strings.Contains(one, "<circle") {
		t.Errorf("a single point is drawn as a dot:\n%s", one)
	}
}

func TestBars(t *testing.T) {
	s := Bars("Top people", []Bar{{"alice@corp.example", 10}, {"a very long label that goes on and on and on", 5}, {"<b>", 0}})
	wellFormed(t, s)
	for _, want := range []string{`width="444.0"`, `width="222.0"`, "&lt;b&gt;", "…"} {
		if !strings.Contains(s, want) {
			t.Errorf("bar chart lacks %q:\n%s", want, s)
		}
	}
	many := make([]Bar, 80)
	if got := strings.Count(Bars("many", many), "<rect"); got != maxBars {
		t.Errorf("%d bars drawn, want at most %d", got, maxBars)
	}
	if s := Bars("none", nil); !strings.Contains(s, "No data") {
		t.Errorf("an empty bar chart says so:\n%s", s)
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 12: "12", 1.5: "1.5", 12345: "12.3k", 2500000: "2.5M"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}
