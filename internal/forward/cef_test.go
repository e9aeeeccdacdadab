package forward_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/internal/emulator/syslog"
	"github.com/telltale-dev/telltale/internal/forward"
)

// FuzzCEFEscaping: any value written with the CEF escapes reads back exactly from a CEF parser,
// in the header and in an extension, followed by another extension.
func FuzzCEFEscaping(f *testing.F) {
	for _, s := range []string{"", "a=b", `back\slash`, "pi|pe", "line\nbreak\r", "x= y z=", `\=\\|`, "trailing space "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.TrimSpace(s) != s || strings.Contains(s, "  ") {
			t.Skip() // CEF values end at the space before the next key; surrounding spaces are not kept
		}
		line := "CEF:0|V|P|1|" + forward.CEFHeaderEscape(s) + "|n|5|fname=" + forward.CEFValueEscape(s) + " act=x"
		c, err := syslog.ParseCEF(line)
		if err != nil {
			t.Fatalf("%q: %v (line %q)", s, err, line)
		}
		wantHeader := strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
		if c.ClassID != wantHeader || c.Ext["act"] != "x" {
			t.Errorf("%q: header %q, act %q", s, c.ClassID, c.Ext["act"])
		}
		if s != "" && c.Ext["fname"] != s {
			t.Errorf("%q: fname read back as %q", s, c.Ext["fname"])
		}
	})
}
