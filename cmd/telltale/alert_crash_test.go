package main

import (
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// TestKill9DuringAlertEvaluation kills `telltale serve` with SIGKILL at random moments while events
// keep being committed and its evaluator raises alerts on them (a rule raising one alert per
// event), restarts it each time (10 cycles, TELLTALE_KILL9_CYCLES for more), and checks that every
// event committed got exactly one alert: none lost, none doubled.
func TestKill9DuringAlertEvaluation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	token := "alert-crash-bootstrap-token-0123456789"
	env := []string{"TELLTALE_DATA_DIR=" + dataDir, "TELLTALE_BOOTSTRAP_TOKEN=" + token, "TELLTALE_SECRET_KEY=" + randomKey(t),
		"TELLTALE_LOG_LEVEL=warn"}
	n := startNode(t, bin, env)
	ctx := context.Background()
	code, body, err := api(ctx, n.url, token, "POST", "/api/v1/rules", map[string]any{"name": "every file", "query": "action:modified",
		"kind": "threshold", "params": map[string]any{"value": 1, "group_by": []string{"file_id"}, "max_alerts_per_hour": 10000}, "severity": "low"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create rule: %d %s %v", code, body, err)
	}

	// Events are committed by this process into the node's database (SQLite takes one writer at a
	// time across processes), as ingest would, while the node is killed and restarted.
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
			for j := range 10 {
				k := i*10 + j
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
			time.Sleep(30 * time.Millisecond)
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

	// Wait for the evaluator to pass the newest event.
	newest, err := st.NewestEventID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		pos, err := st.GetAlertPosition(ctx)
		if err == nil && pos >= newest {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("evaluation at %d of %d after a minute (%v); node stderr:\n%s", pos, newest, err, n.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	perEvent := map[int64]int{}
	alerts := 0
	before := int64(0)
	for {
		as, err := st.ListAlerts(ctx, store.AlertFilter{BeforeID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(as) == 0 {
			break
		}
		for _, a := range as {
			alerts++
			ids, err := st.ListAlertEventIDs(ctx, a.ID, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				perEvent[id]++
			}
			before = a.ID
		}
	}
	var lost, doubled []int64
	for id := int64(1); id <= newest; id++ {
		switch perEvent[id] {
		case 1:
		case 0:
			lost = append(lost, id)
		default:
			doubled = append(doubled, id)
		}
	}
	t.Logf("kill -9 result: %d cycles over %s, %d events committed, %d alerts, %d events without an alert, %d with more than one",
		cycles, time.Since(started).Round(time.Second), committed, alerts, len(lost), len(doubled))
	if committed < 500 || int64(committed) != newest {
		t.Errorf("%d events committed, newest id %d: the test needs at least 500 and ids from 1", committed, newest)
	}
	if len(lost) > 0 || len(doubled) > 0 || alerts != committed {
		t.Errorf("lost %d: %v\ndoubled %d: %v\nlast stderr:\n%s", len(lost), headIDs(lost), len(doubled), headIDs(doubled), n.stderr)
	}

	// Commit to alert on a quiet node: one event at a time, the time until its alert is listed.
	var delays []time.Duration
	for i := range 10 {
		time.Sleep(time.Duration(mathrand.IntN(700)) * time.Millisecond) // not in step with the evaluator's rhythm
		e := &event.FileEvent{Timestamp: time.Now().UTC(), Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox,
			ConnectionID: conn.ID, VendorIDs: []string{fmt.Sprint("latency-", i)}}, User: event.User{Email: "late@corp.example"},
			File: event.File{ID: fmt.Sprint("latency-file-", i), Name: "b.docx"}}
		t0 := time.Now()
		if _, err := st.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
			t.Fatal(err)
		}
		for {
			as, err := st.ListAlerts(ctx, store.AlertFilter{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(as) == 1 && as[0].GroupKey == e.File.ID {
				break
			}
			if time.Since(t0) > 30*time.Second {
				t.Fatalf("no alert for event %d after 30 s", e.Event.ID)
			}
			time.Sleep(10 * time.Millisecond)
		}
		delays = append(delays, time.Since(t0))
	}
	slices.Sort(delays)
	t.Logf("event committed to alert listed, 10 events one at a time: median %v, max %v", delays[4].Round(10*time.Millisecond), delays[9].Round(10*time.Millisecond))
	if delays[9] > 5*time.Second {
		t.Errorf("commit to alert took up to %v, want at most 5 s", delays[9])
	}
}

func headIDs(xs []int64) []int64 {
	if len(xs) > 8 {
		return xs[:8]
	}
	return xs
}
