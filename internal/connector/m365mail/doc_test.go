package m365mail

import (
	"os"
	"strings"
	"testing"
)

// TestMappingIsDocumented: every skip reason is explained in docs/connectors/microsoft365_mail.md.
func TestMappingIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/connectors/microsoft365_mail.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{SkipDraft, SkipNoAttachment, SkipGone} {
		if !strings.Contains(string(b), "skipped: `"+s+"`") {
			t.Errorf("docs/connectors/microsoft365_mail.md does not explain the skip reason %s", s)
		}
	}
}
