package googledrive

import (
	"os"
	"strings"
	"testing"
)

// TestMappingIsDocumented: every event name the adapter maps, and every skip reason, is in
// docs/connectors/google_drive.md, so the document cannot fall behind the table.
func TestMappingIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/connectors/google_drive.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range Mapping {
		if !strings.Contains(doc, "| `"+r.name+"` | "+string(r.action)) {
			t.Errorf("docs/connectors/google_drive.md does not map `%s` to %s", r.name, r.action)
		}
	}
	for _, s := range []string{SkipNotFileActivity, SkipSecondary, SkipReconciled, SkipCopySource, SkipFolder, SkipOwnRead, SkipNoDocument} {
		if !strings.Contains(doc, "| `"+s+"` |") {
			t.Errorf("docs/connectors/google_drive.md does not explain the skip reason %s", s)
		}
	}
}
