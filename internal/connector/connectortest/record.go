package connectortest

import (
	"encoding/json"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
)

// CheckRecord fails t unless r is a record an adapter may hand ingest: it has an id, and it is
// either skipped with a reason or carries exactly one event, which validates. The connectors'
// fuzz targets check every record they adapt with it.
func CheckRecord(t testing.TB, r connector.Record) {
	t.Helper()
	if r.VendorID == "" {
		t.Fatal("a record without an id")
	}
	if (r.Skip == "") != (len(r.Events) == 1) {
		t.Fatalf("record %.80q: skip %q with %d events", r.VendorID, r.Skip, len(r.Events))
	}
	for i := range r.Events {
		if err := r.Events[i].Validate(); err != nil {
			b, _ := json.Marshal(r.Events[i])
			t.Fatalf("record %.80q: invalid event: %v\n%.2000s", r.VendorID, err, b)
		}
	}
}
