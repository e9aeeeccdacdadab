package api_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestHealthOverHTTP: a read-only user reads the health view; a connection in Error comes first
// as a blind spot with its status history; its throttling of the last day is counted; a watchlist
// member added over the API without a monitored data source raises a warning that goes when a
// monitoring connection's drive covers them. A forwarder's last error is shown to admins only. The
// route is in the OpenAPI document.
func TestHealthOverHTTP(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Now().Truncate(time.Second)
	st := f.app.Store
	ok, err := st.CreateConnection(ctx, store.Connection{Name: "Drive", Service: "google_drive", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := st.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "error", ErrorReason: "the token was revoked", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendStatusChange(ctx, store.StatusChange{ConnectionID: bad.ID, At: time.Now(), From: "monitoring", To: "error", Actor: "system", Reason: "the token was revoked"}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordThrottle(ctx, store.Throttle{ConnectionID: ok.ID, At: now.Add(-time.Hour), Until: now.Add(-time.Hour + time.Minute)}); err != nil {
		t.Fatal(err)
	}
	reader := f.namedToken(t, "rita", auth.RoleReadOnly)
	analyst := f.namedToken(t, "ann", auth.RoleAnalyst)
	code, body := f.do(t, analyst, "GET", "/api/v1/watchlists", nil)
	dep := decodeAs[client.WatchlistList](t, code, body, 200).Items[0]
	code, body = f.do(t, analyst, "POST", "/api/v1/watchlists/"+dep.ID+"/members", client.WatchlistMembersInput{Members: []client.WatchlistMember{{Email: "bob@corp.example"}}})
	decodeAs[client.WatchlistChange](t, code, body, 201)

	code, body = f.do(t, reader, "GET", "/api/v1/health", nil)
	h := decodeAs[client.Health](t, code, body, 200)
	if len(h.Connections) != 2 || h.Connections[0].Name != "Box" || !h.Connections[0].BlindSpot || h.BlindSpots != 1 ||
		h.Connections[0].ErrorReason != "the token was revoked" || len(h.Connections[0].History) != 1 || h.Connections[0].History[0].ToLabel != "Error" {
		t.Errorf("blind spot first with its history: %+v", h.Connections)
	}
	if h.Throttles24h != 1 || h.Connections[1].Throttles24h != 1 || h.Connections[1].ThrottledSecs != 60 {
		t.Errorf("throttling: %d, %+v", h.Throttles24h, h.Connections[1])
	}
	if h.HRSources != "none configured" || h.Devices.Coverage != 1 {
		t.Errorf("HR %q devices %+v", h.HRSources, h.Devices)
	}
	found := false
	for _, w := range h.Warnings {
		found = found || (w.Kind == "watchlist_unmonitored" && w.Subject == dep.Name)
	}
	if !found {
		t.Fatalf("bob has no source: %+v", h.Warnings)
	}
	if _, err := st.UpsertDrive(ctx, store.Drive{ConnectionID: ok.ID, VendorID: "u1", Kind: "user", Owner: "bob@corp.example", State: store.DriveIndexed, InScope: true, DiscoveredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	code, body = f.do(t, reader, "GET", "/api/v1/health", nil)
	for _, w := range decodeAs[client.Health](t, code, body, 200).Warnings {
		if w.Kind == "watchlist_unmonitored" {
			t.Errorf("bob covered by a drive: %+v", w)
		}
	}
	// A SIEM destination's answer is an admin's to read; others see its state.
	fd, err := st.CreateForwardDestination(ctx, store.ForwardDestination{Name: "splunk", Kind: "splunk_hec", Format: "json", State: store.ForwardOK})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetForwardFailure(ctx, fd.ID, store.ForwardRetrying, 1, "403 from https://splunk.corp.example:8088: invalid token", now); err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]string{reader: "(shown to admins)", f.admin: "403 from https://splunk.corp.example:8088: invalid token"} {
		code, body = f.do(t, token, "GET", "/api/v1/health", nil)
		if fw := decodeAs[client.Health](t, code, body, 200).Forwarders; len(fw) != 1 || fw[0].State != "retrying" || fw[0].LastError != want {
			t.Errorf("forwarders %+v, want last error %q", fw, want)
		}
	}
	code, body = f.do(t, reader, "GET", "/api/v1/openapi.json", nil)
	if code != 200 || !bytes.Contains(body, []byte(`"/api/v1/health"`)) {
		t.Errorf("openapi: %d", code)
	}
}
