package onedrive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	"github.com/telltale-dev/telltale/internal/ingest"
	"github.com/telltale-dev/telltale/internal/store"
)

// brokenAudit stands in front of the emulator and spoils the Management Activity API's content
// as a tenant's can be: every blob it serves gets three records that are not records and one of
// an operation nobody knows, and the first listing that names blobs names one more, whose body is
// not a JSON array. It counts what it spoiled.
type brokenAudit struct {
	next http.Handler

	mu           sync.Mutex
	listed       bool
	undecodable  int // broken records and broken blobs served
	unknownOps   int // records of an unknown operation served
	spoiledBlobs int
}

const brokenBlobID = "20991231$1$audit_sharepoint$Audit_SharePoint"

func (b *brokenAudit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, op, isFeed := strings.Cut(r.URL.Path, "/activity/feed/")
	switch {
	case !isFeed || r.Method != http.MethodGet:
		b.next.ServeHTTP(w, r)
		return
	case op == "audit/"+brokenBlobID:
		b.mu.Lock()
		b.undecodable++
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte(`{"not":"an array of records"}`))
		return
	case op != "subscriptions/content" && !strings.HasPrefix(op, "audit/"):
		b.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	b.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	var items []json.RawMessage
	if rec.Code == http.StatusOK && json.Unmarshal(body, &items) == nil {
		b.mu.Lock()
		switch {
		case op == "subscriptions/content" && len(items) > 0 && !b.listed:
			b.listed = true
			var first map[string]any
			json.Unmarshal(items[0], &first)
			uri, _ := first["contentUri"].(string)
			first["contentId"] = brokenBlobID
			first["contentUri"] = uri[:strings.LastIndex(uri, "/")+1] + brokenBlobID
			extra, _ := json.Marshal(first)
			items = append(items, extra)
		case strings.HasPrefix(op, "audit/") && len(items) > 0:
			b.spoiledBlobs++
			b.undecodable += 3
			b.unknownOps++
			unknown := map[string]any{}
			json.Unmarshal(items[0], &unknown)
			unknown["Id"] = fmt.Sprintf("0000beef-0000-4000-8000-%012d", b.spoiledBlobs)
			unknown["Operation"] = "FileTeleported"
			u, _ := json.Marshal(unknown)
			items = append(items, json.RawMessage(`{"Id":"half a record"}`), json.RawMessage(`"a string"`), json.RawMessage(`[1,2]`), u)
		}
		b.mu.Unlock()
		body, _ = json.Marshal(items)
	}
	for k, vs := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func (b *brokenAudit) counts() (undecodable, unknownOps, blobs int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.undecodable, b.unknownOps, b.spoiledBlobs
}

// TestBadInputRefusedCountedNothingLost (issue 15, "Done when"): while the tenant acts and Graph
// pushes its genuine notifications, the webhook also gets forged clientStates, subscription ids
// Telltale never made, another tenant's and malformed bodies: each is refused with its reason and
// counted (a genuine one naming a subscription Telltale does not hold is taken, and counted). The Management Activity API's blobs carry broken records, records of an unknown
// operation and a blob that is not an array: each is skipped and counted. Nothing else is lost:
// every file action of the tenant is stored exactly once.
func TestBadInputRefusedCountedNothingLost(t *testing.T) {
	spoiler := &brokenAudit{}
	newVendor := func(t *testing.T, clk *clock.Fake) connectortest.Vendor {
		v := msVendorWith(t, clk, time.Minute, 20*time.Minute)
		spoiler.next = v.emu.Handler()
		srv := httptest.NewServer(spoiler)
		t.Cleanup(srv.Close)
		v.url = srv.URL
		return v
	}
	e := connectortest.NewEnv(t, connectortest.Harness{Connector: New(), NewVendor: newVendor}, "all", nil)
	truths, first := e.FirstPush(60, func(p connectortest.Push) bool { return bytes.Contains(p.Body, []byte(`"subscriptionId"`)) })
	genuine := first.Body // a notification Graph sent, as it sent it
	var n struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(genuine, &n); err != nil || len(n.Value) == 0 {
		t.Fatalf("the genuine notification %s: %v", genuine, err)
	}
	note := n.Value[0]
	with := func(changes map[string]any) []byte {
		m := map[string]any{}
		for k, v := range note {
			m[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(m, k)
				continue
			}
			m[k] = v
		}
		b, _ := json.Marshal(map[string]any{"value": []any{m}})
		return b
	}
	before := e.Ingest.Stats()
	cases := []struct {
		name, reason string
		body         []byte
	}{
		{"forged clientState", connector.WebhookBadSignature, with(map[string]any{"clientState": "tt1.bm9uY2U.Zm9yZ2Vk"})},
		{"no clientState", connector.WebhookBadSignature, with(map[string]any{"clientState": nil})},
		{"a subscription id that is no GUID", connector.WebhookUnknownSubscription, with(map[string]any{"subscriptionId": "../../etc/passwd"})},
		{"another tenant's", connector.WebhookUnknownSubscription, with(map[string]any{"tenantId": "11111111-2222-3333-4444-555555555555"})},
		{"not JSON", connector.WebhookMalformed, []byte(`{"value":[`)},
		{"no notifications", connector.WebhookMalformed, []byte(`{"value":[]}`)},
		{"no subscription id", connector.WebhookMalformed, with(map[string]any{"subscriptionId": nil})},
		{"an unknown lifecycle event", connector.WebhookMalformed, with(map[string]any{"lifecycleEvent": "selfDestruct"})},
		{"a clientState of another subscription", ingest.WebhookWrongSubscription, nil}, // filled below
	}
	// A genuine clientState on another of the connection's subscription ids.
	var other string
	subs, _ := e.Store.ListSubscriptions(context.Background(), e.Conn.ID, driveRowIDs(t, e))
	for _, s := range subs {
		if s.VendorID != note["subscriptionId"] {
			other = s.VendorID
			break
		}
	}
	if other == "" {
		t.Fatal("setup: fewer than two subscriptions")
	}
	cases[len(cases)-1].body = with(map[string]any{"subscriptionId": other})
	for _, c := range cases {
		_, err := e.Ingest.Webhook(context.Background(), "onedrive", fmt.Sprint(e.Conn.ID), http.Header{}, url.Values{}, bytes.NewReader(c.body))
		if got := ingest.WebhookRefusalReason(err); got != c.reason {
			t.Errorf("%s: refused as %q (%v), want %q", c.name, got, err, c.reason)
		}
	}
	if got := e.Ingest.Stats().WebhooksRefused - before.WebhooksRefused; got != int64(len(cases)) {
		t.Errorf("%d refusals counted, want %d", got, len(cases))
	}
	// A subscription id Graph could have made but Telltale does not hold (a leftover), with a
	// genuine clientState: taken (it wakes no drive's stream, only the tenant's), and counted.
	if _, err := e.Ingest.Webhook(context.Background(), "onedrive", fmt.Sprint(e.Conn.ID), http.Header{}, url.Values{},
		bytes.NewReader(with(map[string]any{"subscriptionId": "0f3c2a8e-1b4d-4e5f-9a6b-7c8d9e0f1a2b"}))); err != nil {
		t.Errorf("a genuine notification of a subscription Telltale does not hold: %v", err)
	}
	e.Ingest.WaitWebhooks()
	if got := e.Ingest.Stats().WebhookUnknownSubscriptions - before.WebhookUnknownSubscriptions; got != 1 {
		t.Errorf("%d notifications of subscriptions Telltale does not hold counted, want 1", got)
	}
	// The genuine notification, as Graph sent it, is still taken (acknowledged: a retry of one
	// accepted).
	if _, err := e.Ingest.Webhook(context.Background(), "onedrive", fmt.Sprint(e.Conn.ID), http.Header{}, url.Values{}, bytes.NewReader(genuine)); err != nil {
		t.Errorf("the genuine notification after the forgeries: %v", err)
	}
	e.Ingest.WaitWebhooks()

	// Everything the tenant did is collected, once; what was broken is counted.
	active, _ := e.V.Owners()
	expected := 0
	for _, tr := range truths {
		if tr.File && connectortest.Monitored(active)(tr) {
			expected++
		}
	}
	if expected < 20 {
		t.Fatalf("only %d file actions: the case proves little", expected)
	}
	connectortest.CollectAll(t, e, truths, connectortest.Monitored(active))
	undecodable, unknown, blobs := spoiler.counts()
	st := e.Ingest.Stats()
	if blobs == 0 || !spoiler.listed {
		t.Fatalf("no blob was spoiled (%d) or no broken blob listed: the case proves nothing", blobs)
	}
	if st.Skipped[SkipUndecodable] != int64(undecodable) || st.Skipped[SkipUnknownOp] != int64(unknown) {
		t.Errorf("skipped %v; served %d undecodable records or blobs and %d of an unknown operation", st.Skipped, undecodable, unknown)
	}
	if st.WebhooksAccepted <= before.WebhooksAccepted {
		t.Errorf("the genuine notification sent after the forgeries was not accepted: %+v", st)
	}
	t.Logf("%d forged or malformed notifications sent; %d spoiled blobs, %d broken records or blobs and %d unknown operations skipped; %d file actions expected; stats %+v",
		len(cases), blobs, undecodable, unknown, expected, st)
}

// driveRowIDs are the store ids of the connection's drives, and 0 (the tenant).
func driveRowIDs(t *testing.T, e *connectortest.Env) []int64 {
	t.Helper()
	ids := []int64{0}
	for after := int64(0); ; {
		ds, err := e.Store.ListDrives(context.Background(), store.DriveFilter{ConnectionID: e.Conn.ID, AfterID: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return ids
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
			after = d.ID
		}
	}
}
