package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/emulator/webhook"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// TestKill9DuringDelivery kills `telltale serve` with SIGKILL at random moments while events keep
// being committed, its evaluator raises an alert per event and a flow delivers each alert to a
// signed webhook (a receiver that acts once per Idempotency-Key and counts the keys it saw again),
// restarts it each time (10 cycles, TELLTALE_KILL9_CYCLES for more), and checks that every alert
// was delivered, that none was acted on twice, and that no delivery failed; it reports how many
// arrivals were repeats (at-least-once: a kill between the receiver's answer and the commit of
// "sent" repeats that delivery, with its key).
func TestKill9DuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	const signing = "whsec-crash-test-0123456789"
	rx := webhook.New(signing)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(mathrand.IntN(30)) * time.Millisecond) // kills land while requests are in flight
		rx.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(slow)
	defer srv.Close()

	bin := buildBinary(t)
	dataDir := t.TempDir()
	token := "delivery-crash-bootstrap-token-0123456789"
	env := []string{"TELLTALE_DATA_DIR=" + dataDir, "TELLTALE_BOOTSTRAP_TOKEN=" + token, "TELLTALE_SECRET_KEY=" + randomKey(t),
		"TELLTALE_LOG_LEVEL=warn", "TELLTALE_ALLOW_LOOPBACK_VENDORS=true"}
	n := startNode(t, bin, env)
	ctx := context.Background()
	code, body, err := api(ctx, n.url, token, "POST", "/api/v1/rules", map[string]any{"name": "every file", "query": "action:modified",
		"kind": "threshold", "params": map[string]any{"value": 1, "group_by": []string{"file_id"}, "max_alerts_per_hour": 10000}, "severity": "high"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create rule: %d %s %v", code, body, err)
	}
	code, body, err = api(ctx, n.url, token, "POST", "/api/v1/integrations", map[string]any{"kind": "webhook", "name": "receiver",
		"settings": map[string]any{"url": srv.URL + "/in"}, "secrets": map[string]any{"signing_secret": signing}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create integration: %d %s %v", code, body, err)
	}
	var integ struct{ ID string }
	json.Unmarshal(body, &integ)
	code, body, err = api(ctx, n.url, token, "POST", "/api/v1/flows", map[string]any{"name": "all to receiver", "integration_ids": []string{integ.ID}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create flow: %d %s %v", code, body, err)
	}

	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "telltale.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := st.CreateConnection(ctx, store.Connection{Name: "crash feed", Service: "crash-test", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	writeCtx, stopWriting := context.WithCancel(ctx)
	var writing sync.WaitGroup
	var committed int
	writing.Add(1)
	go func() {
		defer writing.Done()
		for i := 0; writeCtx.Err() == nil; i++ {
			var evs []*event.FileEvent
			for j := range 5 {
				k := i*5 + j
				evs = append(evs, &event.FileEvent{Timestamp: time.Now().UTC(),
					Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox, ConnectionID: conn.ID, VendorIDs: []string{fmt.Sprint("crash-", k)}},
					User:  event.User{Email: fmt.Sprintf("p%d@corp.example", k%7)}, File: event.File{ID: fmt.Sprint("file-", k), Name: "a.docx"}})
			}
			if _, err := st.InsertEvents(writeCtx, evs, false); err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("insert: %v", err)
				}
				return
			}
			committed += len(evs)
			time.Sleep(40 * time.Millisecond)
		}
	}()
	cycles := kill9Cycles(t)
	started := time.Now()
	for round := 1; round <= cycles; round++ {
		time.Sleep(time.Duration(300+mathrand.IntN(1500)) * time.Millisecond)
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
		n = startNode(t, bin, env)
	}
	stopWriting()
	writing.Wait()

	// Wait until evaluation passed the newest event and no delivery is pending.
	newest, err := st.NewestEventID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		pos, err := st.GetAlertPosition(ctx)
		pending, perr := st.ListDeliveries(ctx, store.DeliveryFilter{State: store.OutboxPending, Limit: 1})
		if err == nil && perr == nil && pos >= newest && len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: evaluation at %d of %d (%v), pending deliveries %v (%v); node stderr:\n%s", pos, newest, err, pending, perr, n.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	alerts := map[int64]bool{}
	for before := int64(0); ; {
		as, err := st.ListAlerts(ctx, store.AlertFilter{BeforeID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(as) == 0 {
			break
		}
		for _, a := range as {
			alerts[a.ID] = true
			before = a.ID
		}
	}
	var integID int64
	fmt.Sscan(integ.ID, &integID)
	keys := rx.Keys()
	var missing []int64
	for a := range alerts {
		if keys[integration.Key(a, integID, integration.TopicAlertRaised)] == 0 {
			missing = append(missing, a)
		}
	}
	dead, err := st.ListDeliveries(ctx, store.DeliveryFilter{State: store.OutboxDead, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 result: %d cycles over %s, %d events committed, %d alerts, %d delivered (distinct keys), %d missing, %d repeated arrivals (acted on once), %d refused by signature, %d failed for good",
		cycles, time.Since(started).Round(time.Second), committed, len(alerts), len(keys), len(missing), rx.Duplicates(), rx.Refused(), len(dead))
	if committed < 200 || len(alerts) != committed {
		t.Errorf("%d events committed, %d alerts: want at least 200 and one alert each", committed, len(alerts))
	}
	if len(missing) > 0 || len(keys) != len(alerts) || len(dead) > 0 || rx.Refused() > 0 {
		t.Errorf("missing %d: %v; keys %d for %d alerts; dead %+v; refused %d\nlast stderr:\n%s", len(missing), headIDs(missing), len(keys), len(alerts), dead, rx.Refused(), n.stderr)
	}
}
