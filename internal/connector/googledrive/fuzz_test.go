package googledrive

import (
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector/connectortest"
)

// FuzzAdapt: DecodeActivity and Adapt never panic; an error says it is a Google Drive activity's;
// every record either carries one valid event or a skip reason, and its id is not empty.
func FuzzAdapt(f *testing.F) {
	f.Add(activity("1", "bob@corp.example", ev("access", "upload", doc("d1", "plan.pdf", "pdf")...)))
	f.Add(activity(7, "", ev("acl_change", "change_document_access_scope", append(doc("d1", "a", "folder"), p("target_domain", "all"))...)))
	f.Add([]byte(`{"id":{"time":"2026-11-30T14:03:07Z"},"events":[{"name":"move","parameters":[{"name":"doc_id","intValue":"5"},{"name":"destination_folder_title","multiValue":["a","b"]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeActivity(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "google drive activity") {
				t.Fatalf("error does not say what failed: %v", err)
			}
			return
		}
		for _, r := range Adapt(a, Options{OwnApps: []string{"app"}}) {
			connectortest.CheckRecord(t, r)
		}
	})
}
