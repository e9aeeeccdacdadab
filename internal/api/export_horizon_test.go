package api_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/api"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestExportStopsAtHorizon (PostgreSQL): an export taken while an event transaction with a smaller
// id is still open writes none of the events above that id, though a later one is committed (the
// next incremental export resumes after the last id written and would skip the open one's);
// taken again after it commits, it writes both.
func TestExportStopsAtHorizon(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.CreateConnection(ctx, store.Connection{Name: "c", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(name string) *event.FileEvent {
		return &event.FileEvent{Timestamp: time.Now().UTC(), Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox,
			ConnectionID: c.ID, VendorIDs: []string{name}}, File: event.File{ID: name, Name: name + ".txt"}}
	}
	drawn, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- st.InTx(ctx, func(q store.Queries) error {
			_, err := q.InsertEvents(ctx, []*event.FileEvent{ev("open")}, false)
			close(drawn)
			if err != nil {
				return err
			}
			<-release
			return nil
		})
	}()
	<-drawn
	if _, err := st.InsertEvents(ctx, []*event.FileEvent{ev("later")}, false); err != nil {
		close(release)
		t.Fatal(err)
	}
	export := func() string {
		var b bytes.Buffer
		if err := api.WriteExport(ctx, st, search.Query{}, "jsonl", 0, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if out := export(); strings.Contains(out, "later.txt") || strings.Contains(out, "open.txt") {
		t.Errorf("export with an earlier id uncommitted wrote past it:\n%s", out)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out := export(); !strings.Contains(out, "open.txt") || !strings.Contains(out, "later.txt") {
		t.Errorf("export after the commit lacks an event:\n%s", out)
	}
}
