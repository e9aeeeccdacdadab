package ingest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestRecordsWithoutADriveKeepTheScope (issue 13, defect 2, R2.8): activity records that name no
// drive are placed by the file's drive in the index or its owner's drive, and only in-scope ones are
// captured; the rest are counted by reason. Before, a record without a drive bypassed the scope.
func TestRecordsWithoutADriveKeepTheScope(t *testing.T) {
	// The stream's records name no drive, as a vendor's that does not say whose drive an item is on.
	driveless := streamWrap{Connector: box.New(), changes: func(ctx context.Context, inner connector.Session, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
		p, err := inner.Changes(ctx, sp, cursor)
		for i := range p.Records {
			p.Records[i].Drive = ""
			for j := range p.Records[i].Events {
				p.Records[i].Events[j].File.DriveID = ""
			}
		}
		return p, err
	}}
	e := newEnv(t, driveless, true)
	var active []string
	for _, u := range e.emu.Users() {
		if u.Status == "active" {
			active = append(active, strings.ToLower(u.Login))
		}
	}
	if len(active) < 2 {
		t.Fatalf("the emulator has %d active users", len(active))
	}
	inScope := active[0]
	sets, _ := json.Marshal(map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com",
		"api_url": e.emuURL, "rate_limit": "0"})
	cb, _ := json.Marshal(map[string]string{"client_secret": "emu-client-secret"})
	sealed, err := e.keyring.Seal(cb)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.conns.Create(ctx, connection.NewConnection{Name: "Box one user", Service: "box", TenantID: "900001", ScopeKind: "users",
		Scope: []store.ScopeEntry{{Kind: "user", Value: inScope, Row: 2}}, Settings: sets, Credentials: sealed}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	e.emu.Step(200)
	e.clock.Advance(6 * time.Minute)
	e.settle(200)

	evs, err := e.store.ListEvents(ctx, store.EventFilter{ConnectionID: c.ID, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	mine := 0
	for _, ev := range evs {
		if ev.File.Owner != "" && strings.ToLower(ev.File.Owner) != inScope {
			t.Errorf("captured activity on %s's file %q, who is not in scope", ev.File.Owner, ev.File.Name)
		}
		if strings.ToLower(ev.File.Owner) == inScope {
			mine++
		}
	}
	if mine == 0 {
		t.Errorf("nothing of the one user in scope was captured (%d events)", len(evs))
	}
	left := e.metrics.Counter("telltale_connection_records_left_out_total", "", "connection_id", "service", "reason")
	if n := left.Value(jsonID(c.ID), "box", "out_of_scope"); n == 0 {
		t.Errorf("no record was counted as out of scope")
	}
}

func jsonID(id int64) string { b, _ := json.Marshal(id); return string(b) }
