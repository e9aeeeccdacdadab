package gmail

import (
	"os"
	"strings"
	"testing"
)

// TestMappingIsDocumented: every skip reason is explained in docs/connectors/gmail.md.
func TestMappingIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/connectors/gmail.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{SkipDraft, SkipNotSent, SkipNoAttachment, SkipGone} {
		if !strings.Contains(string(b), "skipped: `"+s+"`") {
			t.Errorf("docs/connectors/gmail.md does not explain the skip reason %s", s)
		}
	}
}
