package onedrive

import (
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector/connectortest"
)

// FuzzAuditAdapt: any bytes given as an Audit.SharePoint record (a real tenant's records are not
// in this repository: every documented variant, and what no document names) either fail to
// decode with an error that says what is wrong, or adapt to one record with an id that is
// skipped with a reason or carries one valid event; nothing panics, with or without the file
// resolved to a driveItem.
func FuzzAuditAdapt(f *testing.F) {
	for _, op := range AuditMapping {
		f.Add(rec(map[string]any{"Operation": op.name, "TargetUserOrGroupName": "Bob@Partner.example", "TargetUserOrGroupType": "Guest"}))
	}
	f.Add(rec(map[string]any{"Operation": "FileRenamed", "DestinationFileName": "q2.xlsx", "DestinationRelativeUrl": "Documents/Archive"}))
	f.Add(rec(map[string]any{"Operation": "FileCopied", "DestinationFileName": "copy.xlsx", "Workload": "SharePoint"}))
	f.Add(rec(map[string]any{"Operation": "SharingSet", "TargetUserOrGroupName": "SharingLinks.abc.OrganizationEdit", "EventData": "<Type>Edit</Type>"}))
	f.Add(rec(map[string]any{"Operation": "FileDownloaded", "ApplicationId": "app", "CreationTime": "2026-03-02T10:00:00.1234567Z", "UserId": ""}))
	f.Add([]byte(`{"Id":"x","Operation":"FileModified","CreationTime":"not a time"}`))
	f.Add([]byte(`{"Id":1}`))
	f.Add([]byte(`{"Id":"x","CreationTime":"2026-03-02T10:00:00"}`))
	resolved := func(auditRecord) (fileRef, bool) {
		return fileRef{item: "01ITEM", drive: "b!drive", owner: "ada@example.com"}, true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeAudit(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "onedrive audit record") {
				t.Fatalf("error does not say what failed: %v", err)
			}
			return
		}
		for _, o := range []auditOptions{{ownApp: "app"}, {ownApp: "app", resolve: resolved}} {
			connectortest.CheckRecord(t, adaptAuditRecord(r, o))
		}
	})
}
