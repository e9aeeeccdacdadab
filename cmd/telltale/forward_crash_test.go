package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/emulator/hec"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// TestKill9DuringForwarding kills `telltale serve` with SIGKILL at random moments while events
// keep being committed and a Splunk HEC destination (indexer acks, answers delayed so that kills
// land in flight) receives them, restarts it each time (10 cycles, TELLTALE_KILL9_CYCLES for more),
// and checks that every committed event reached Splunk, and that repeats (a kill between Splunk's
// ack and the position's commit) all carry an event id seen before, so a SIEM can drop them.
func TestKill9DuringForwarding(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	splunk := hec.New("crash-hec-token", true)
	splunk.SetKeep(0)
	// Requests take a while, and one whose sender died meanwhile is dropped (a connection cut before
	// Splunk answered indexes nothing), so a kill lands between sending and acknowledgement.
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		time.Sleep(time.Duration(mathrand.IntN(40)) * time.Millisecond)
		if r.Context().Err() != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		splunk.Handler().ServeHTTP(w, r)
	})
	srv := httptest.NewServer(slow)
	defer srv.Close()

	bin := buildBinary(t)
	dataDir := t.TempDir()
	token := "forward-crash-bootstrap-token-0123456789"
	env := []string{"TELLTALE_DATA_DIR=" + dataDir, "TELLTALE_BOOTSTRAP_TOKEN=" + token, "TELLTALE_SECRET_KEY=" + randomKey(t),
		"TELLTALE_LOG_LEVEL=warn", "TELLTALE_ALLOW_LOOPBACK_VENDORS=true"}
	n := startNode(t, bin, env)
	ctx := context.Background()
	code, body, err := api(ctx, n.url, token, "POST", "/api/v1/forward-destinations", map[string]any{"name": "splunk", "kind": "splunk_hec",
		"format": "ocsf", "from_start": true, "settings": map[string]any{"url": srv.URL, "acks": true}, "secrets": map[string]any{"token": "crash-hec-token"}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create destination: %d %s %v", code, body, err)
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
			for j := range 50 {
				k := i*50 + j
				evs = append(evs, &event.FileEvent{Timestamp: time.Now().UTC(),
					Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: conn.ID, VendorIDs: []string{fmt.Sprint("fwd-", k)}},
					User:  event.User{Email: fmt.Sprintf("p%d@corp.example", k%7)}, File: event.File{ID: fmt.Sprint("file-", k), Name: "a.docx"}})
			}
			if _, err := st.InsertEvents(writeCtx, evs, false); err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("insert: %v", err)
				}
				return
			}
			committed += len(evs)
			time.Sleep(20 * time.Millisecond)
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

	newest, err := st.NewestEventID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		ds, err := st.ListForwardDestinations(ctx)
		if err == nil && len(ds) == 1 && ds[0].Position >= newest {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s the destination is at %+v of %d (%v); node stderr:\n%s", ds, newest, err, n.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var missing []int64
	for id := int64(1); id <= newest; id++ {
		if !splunk.Seen(id) {
			missing = append(missing, id)
		}
	}
	s := splunk.Stats()
	t.Logf("kill -9 result: %d cycles over %s, %d events committed, %d distinct event ids indexed, %d missing, %d repeats (each with an id indexed before)",
		cycles, time.Since(started).Round(time.Second), committed, s.Distinct, len(missing), s.Repeats)
	if committed < 1000 || int64(committed) != newest || len(missing) > 0 || s.Distinct != newest || s.Events != s.Distinct+s.Repeats {
		t.Errorf("committed %d, newest %d, missing %d (first %v), stats %+v\nlast stderr:\n%s", committed, newest, len(missing), headIDs(missing), s, n.stderr)
	}
}
