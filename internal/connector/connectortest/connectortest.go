// Package connectortest is the conformance suite every data connector passes: discovery, scope,
// baseline indexing, live collection with exactly-once storage under faults and duplicated or
// reordered vendor records, restart from the durable cursor, expired-cursor resync, throttling and
// inaccessible drives. It drives the connector through the real ingest path into a real SQLite store
// against the vendor's emulator over loopback HTTP, on an injected clock.
package connectortest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/ingest"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/work"
)

// Truth is one activity the vendor emulator generated.
type Truth struct {
	VendorID string // the vendor record id (Box event_id)
	Owner    string // email of the drive owner
	Actor    string
	Kind     string // the vendor's record type, for messages
	// File is true for activity a data connection records (see each emulator's ground truth).
	File bool
	// Shared is true for activity on a shared drive (Google's shared drives): always monitored,
	// whatever the scope (R3.1); Owner is then "".
	Shared bool
	// PushFile is set by a vendor whose pushed feed stores an activity under other ids than
	// VendorID (Google Drive: a drive's changes feed stores it seconds after the action; the
	// Reports API record that carries VendorID arrives hours later and enriches that event): the
	// vendor id of the activity's file. The push case counts the activity collected without a poll
	// once an event on that file is stored after the action.
	PushFile string
	// NoPush: only a feed without push notifications reports the activity (Google Drive's
	// downloads and views, and folders, are in the Reports API only): the push case does not
	// wait for it; the polls after it collect it, once.
	NoPush bool
}

// monitored: the activity is on the drive of one of owners, or on a shared drive.
func monitored(owners []string) func(Truth) bool {
	return func(tr Truth) bool { return tr.Shared || slices.Contains(owners, tr.Owner) }
}

// Vendor controls a vendor emulator for the suite.
type Vendor interface {
	// Connection returns the tenant, settings and credentials that reach the emulator.
	Connection() (tenant string, settings, credentials map[string]string)
	// Owners returns the emails of the active and the inactive users.
	Owners() (active, inactive []string)
	// Files returns how many files each active user's drive holds (by the user's email) and each
	// shared drive (by its vendor id).
	Files() map[string]int
	// Groups returns group names with their members' emails.
	Groups() map[string][]string
	// AddToGroup and RemoveFromGroup change a group's membership.
	AddToGroup(group, email string)
	RemoveFromGroup(group, email string)
	// AddUser adds an active user with a few files and returns its email.
	AddUser(name string) string
	// Act generates n random activities now and returns them.
	Act(n int) []Truth
	// Faults sets the share of failing requests (every transport fault class the vendor's emulator
	// has: 5xx, 429, truncated bodies, dropped connections) and of repeated stream records, and
	// reordering.
	Faults(rate, duplicates float64, reorder bool)
	// FaultsInjected counts the requests the emulator failed on purpose.
	FaultsInjected() int64
	// RateLimit sets the vendor's per-user limit (requests per minute; < 0 off).
	RateLimit(perMinute int)
	// Throttled reports how many requests the vendor answered with a throttle.
	Throttled() int64
	// RetriedEarly reports how many requests came before the Retry-After of the sender's last
	// throttle had passed (0 when throttling is honoured).
	RetriedEarly() int64
	// StreamRetention is how long the vendor keeps a stream position usable: past it, a stream
	// must resync (Box: 14 days).
	StreamRetention() time.Duration
	// Inaccessible makes the drives of the given users unreadable (false: readable again).
	Inaccessible(emails []string, yes bool)
}

// PushVendor is a Vendor whose emulator delivers push notifications (Box webhooks, Drive
// channels, Graph subscriptions) to the address the connector subscribed.
type PushVendor interface {
	Vendor
	// DropPushes makes the emulator lose its push notifications (true) or deliver them (false).
	DropPushes(drop bool)
	// PushesDelivered counts the push notifications the emulator delivered (answered 2xx).
	PushesDelivered() int64
}

// PushEndpointVendor is a PushVendor whose push endpoint the admin sets at the vendor, not the
// connector (a Cloud Pub/Sub push subscription for Gmail's users.watch): the suite tells it the
// connection's webhook URL before collection starts.
type PushEndpointVendor interface {
	PushVendor
	PushEndpoint(url string)
}

// IndexVendor is a Vendor that can act while a baseline crawl runs.
type IndexVendor interface {
	Vendor
	// DuringIndex makes the emulator call fn once, the next time it serves a page of a drive's
	// baseline crawl (before answering it).
	DuringIndex(fn func())
}

// CursorVendor is a Vendor that can expire a stream position on demand.
type CursorVendor interface {
	Vendor
	// ExpireCursor makes the vendor treat the next stream position it is given as expired,
	// answering as the vendor does then (Box: from the oldest event kept; Drive: 410 for the page
	// token; Graph: 410 resyncRequired).
	ExpireCursor()
	// CursorsExpired counts the positions the vendor treated as expired.
	CursorsExpired() int64
}

// Harness is what a connector brings to the suite.
type Harness struct {
	Connector connector.Connector
	// NewVendor starts a fresh emulator on clk (loopback HTTP), stopped at the end of the test.
	NewVendor func(t *testing.T, clk *clock.Fake) Vendor
}

// Env is one connection under test.
type Env struct {
	t      *testing.T
	H      Harness
	V      Vendor
	Clock  *clock.Fake
	Store  store.Store
	Conns  *connection.Service
	Ingest *ingest.Service
	Runner *work.Runner
	Conn   store.Connection
	// Metrics is the registry ingest counts in (telltale_webhook_refused_total, ...), kept across
	// restarts as a process's would not be: a case reads what every run counted.
	Metrics *metrics.Registry
	keyring *secret.Keyring
	reg     *connector.Registry
	// publicURL is the node's URL as the vendor reaches it (push notifications); "" polls only.
	publicURL string
}

var ctx = context.Background()

// NewEnv builds a store, services and a connection to a fresh emulator with the given scope.
func NewEnv(t *testing.T, h Harness, scopeKind string, scope []store.ScopeEntry) *Env {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	e := &Env{t: t, H: h, Clock: clk, reg: connector.NewRegistry(h.Connector), Metrics: metrics.New()}
	e.V = h.NewVendor(t, clk)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.Store = st
	key := make([]byte, 32)
	rand.Read(key)
	if e.keyring, err = secret.LoadKeyring(secret.KeyConfig{Key: base64.StdEncoding.EncodeToString(key)}); err != nil {
		t.Fatal(err)
	}
	if _, err := settings.Save(ctx, st, settings.Settings{TrustedDomains: []string{"example.com"}, RetentionDays: 90}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e.Conns = connection.NewService(connection.Options{Store: st, Clock: clk, Log: log, Services: connection.ServicesOf(h.Connector.Spec())})
	e.restart()
	tenant, sets, creds := e.V.Connection()
	sb, _ := json.Marshal(sets)
	cb, _ := json.Marshal(creds)
	sealed, err := e.keyring.Seal(cb)
	if err != nil {
		t.Fatal(err)
	}
	sp := h.Connector.Spec()
	if e.Conn, err = e.Conns.Create(ctx, connection.NewConnection{Name: "conformance", Service: sp.Service, TenantID: tenant,
		ScopeKind: scopeKind, Scope: scope, Settings: sb, Credentials: sealed}, "admin"); err != nil {
		t.Fatal(err)
	}
	return e
}

// restart replaces the ingest service and runner, as a restarted process would.
func (e *Env) restart() {
	log := slog.New(slog.DiscardHandler)
	e.Runner = work.NewRunner(work.Options{Store: e.Store, Clock: e.Clock, Log: log, Concurrency: 4,
		Backoff: func(int) time.Duration { return time.Second }})
	e.Ingest = ingest.New(ingest.Options{Store: e.Store, Connections: e.Conns, Registry: e.reg, Keyring: e.keyring, Clock: e.Clock,
		Log: log, AllowLoopback: true, PageBudget: time.Minute, DefaultRetentionDays: 90, PublicURL: e.publicURL, Metrics: e.Metrics,
		Sleep: e.Clock.Sleep}) // every wait is on the injected clock: no wall-clock sleep
	e.Ingest.Register(e.Runner)
}

// Restart simulates a process restart: new sessions, new runner, same database.
func (e *Env) Restart() { e.restart() }

// SetPublicURL makes url the node's address as the vendor reaches it (push notifications to
// url + /api/v1/webhooks/{service}/{id}) and restarts the node with it.
func (e *Env) SetPublicURL(url string) {
	e.publicURL = url
	e.restart()
}

// WebhookServer serves the node's webhook route, /api/v1/webhooks/{service}/{id}, on loopback as
// the API does: each delivery goes to ingest; a refusal is answered 401, a handshake with its
// reply, and a delivery ingest took with 202, after accepted (if not nil) has its headers and
// body. The caller closes it (or leaves it to the test's end) and makes its URL the public URL.
func (e *Env) WebhookServer(accepted func(h http.Header, body []byte)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/webhooks/"), "/")
		if len(parts) != 2 {
			http.NotFound(w, r)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		reply, err := e.Ingest.Webhook(r.Context(), parts[0], parts[1], r.Header, r.URL.Query(), bytes.NewReader(b))
		switch {
		case err != nil:
			http.Error(w, "refused", http.StatusUnauthorized)
		case reply != nil:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(reply.Body)
		default:
			if accepted != nil {
				accepted(r.Header.Clone(), b)
			}
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	e.t.Cleanup(srv.Close)
	return srv
}

// Push is a delivery ingest accepted, as the vendor sent it.
type Push struct {
	Header http.Header
	Body   []byte
}

// FirstPush serves the node's webhook route (WebhookServer) as its public URL (and tells a
// PushEndpointVendor where it is), lets the push unit make its subscriptions, has the vendor act n
// times, and returns what it did and the first delivery ingest accepted that keep selects, running
// due work meanwhile; the test fails if none arrives within 10 s. The bad-input cases start from
// such a genuine push.
func (e *Env) FirstPush(n int, keep func(Push) bool) ([]Truth, Push) {
	e.t.Helper()
	var mu sync.Mutex
	var first *Push
	srv := e.WebhookServer(func(h http.Header, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil && keep(Push{h, b}) {
			first = &Push{h, b}
		}
	})
	if ev, ok := e.V.(PushEndpointVendor); ok {
		ev.PushEndpoint(fmt.Sprintf("%s/api/v1/webhooks/%s/%d", srv.URL, e.H.Connector.Spec().Service, e.Conn.ID))
	}
	e.SetPublicURL(srv.URL)
	e.Settle(400)
	e.Clock.Advance(2 * time.Minute) // the push unit's first round
	e.Settle(400)
	truths := e.V.Act(n)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := e.Runner.RunDue(ctx); err != nil {
			e.t.Fatal(err)
		}
		mu.Lock()
		got := first
		mu.Unlock()
		if got != nil {
			e.Ingest.WaitWebhooks()
			return truths, *got
		}
		if time.Now().After(deadline) {
			e.t.Fatal("no genuine push arrived within 10 s: the case proves nothing")
		}
	}
}

// Settle runs due work until none is due, advancing the clock by a second between rounds so that
// retries come due, for at most rounds rounds.
func (e *Env) Settle(rounds int) {
	e.t.Helper()
	if err := e.Ingest.Reconcile(ctx); err != nil {
		e.t.Fatal(err)
	}
	idle := 0
	for i := 0; i < rounds; i++ {
		n, err := e.Runner.RunDue(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			idle++
			if idle > 3 {
				return
			}
		} else {
			idle = 0
		}
		e.Clock.Advance(time.Second)
	}
}

// Poll moves the clock past the poll interval and runs what comes due.
func (e *Env) Poll() {
	e.t.Helper()
	e.Clock.Advance(6 * time.Minute)
	e.Settle(200)
}

// Connection re-reads the connection.
func (e *Env) Connection() store.Connection {
	e.t.Helper()
	c, err := e.Store.GetConnection(ctx, e.Conn.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// VendorIDs counts, for each vendor record id, how many stored events carry it.
func (e *Env) VendorIDs() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	var after int64
	for {
		evs, err := e.Store.ListEvents(ctx, store.EventFilter{ConnectionID: e.Conn.ID, AfterID: after, Limit: 1000, IncludeHeld: true})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, ev := range evs {
			for _, id := range ev.Event.VendorIDs {
				out[id]++
			}
			after = ev.Event.ID
		}
	}
}

// lastEventID is the id of the connection's latest stored event (0: none).
func (e *Env) lastEventID() int64 {
	e.t.Helper()
	var last int64
	for {
		evs, err := e.Store.ListEvents(ctx, store.EventFilter{ConnectionID: e.Conn.ID, AfterID: last, Limit: 1000, IncludeHeld: true})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(evs) == 0 {
			return last
		}
		last = evs[len(evs)-1].Event.ID
	}
}

// filesAfter is the set of vendor file ids of the connection's events stored after event id after.
func (e *Env) filesAfter(after int64) map[string]bool {
	e.t.Helper()
	out := map[string]bool{}
	for {
		evs, err := e.Store.ListEvents(ctx, store.EventFilter{ConnectionID: e.Conn.ID, AfterID: after, Limit: 1000, IncludeHeld: true})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, ev := range evs {
			out[ev.File.ID] = true
			after = ev.Event.ID
		}
	}
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	t.Run("DiscoveryAndIndexing", func(t *testing.T) { testDiscovery(t, h) })
	t.Run("ScopeUsers", func(t *testing.T) { testScopeUsers(t, h) })
	t.Run("ScopeGroups", func(t *testing.T) { testScopeGroups(t, h) })
	t.Run("ExactlyOnceUnderFaults", func(t *testing.T) { testExactlyOnce(t, h) })
	t.Run("RestartFromCursor", func(t *testing.T) { testRestart(t, h) })
	t.Run("ExpiredCursorResync", func(t *testing.T) { testResync(t, h) })
	t.Run("Throttling", func(t *testing.T) { testThrottling(t, h) })
	t.Run("InaccessibleDrives", func(t *testing.T) { testInaccessible(t, h) })
	t.Run("NewDrive", func(t *testing.T) { testNewDrive(t, h) })
	t.Run("DeauthorizeResume", func(t *testing.T) { testDeauthorizeResume(t, h) })
	t.Run("ActDuringIndexing", func(t *testing.T) { testActDuringIndexing(t, h) })
	t.Run("PushDeliveredAndDropped", func(t *testing.T) { testPush(t, h) })
	t.Run("CursorExpiredOnDemand", func(t *testing.T) { testExpireOnDemand(t, h) })
}

// testExpireOnDemand: a stream position the vendor refuses mid-collection costs nothing: whatever
// the vendor answers (a re-read, a resync), every activity is stored once.
func testExpireOnDemand(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	cv, ok := e.V.(CursorVendor)
	if !ok {
		t.Fatalf("the %s harness's vendor cannot expire a cursor: implement connectortest.CursorVendor", h.Connector.Spec().Service)
	}
	e.Settle(400)
	truths := e.V.Act(30)
	e.Poll()
	cv.ExpireCursor()
	truths = append(truths, e.V.Act(30)...)
	active, _ := e.V.Owners()
	collectAll(t, e, truths, monitored(active))
	if cv.CursorsExpired() == 0 {
		t.Errorf("the vendor expired no position: the case proves nothing")
	}
}

func status(e *Env) connection.Status { return connection.Status(e.Connection().Status) }

func testDiscovery(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	e.Settle(400)
	active, inactive := e.V.Owners()
	drives, err := e.Store.ListDrives(ctx, store.DriveFilter{ConnectionID: e.Conn.ID, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for _, d := range drives {
		if d.Kind != "shared" {
			owners = append(owners, d.Owner)
		}
		if d.State != store.DriveIndexed {
			t.Errorf("drive %s is %s, want indexed", cmp.Or(d.Owner, d.Name), d.State)
		}
	}
	sort.Strings(owners)
	want := slices.Clone(active)
	sort.Strings(want)
	if !slices.Equal(owners, want) {
		t.Errorf("drives %v\nwant the active users %v (inactive %v are not monitored, R3.9)", owners, want, inactive)
	}
	// The inactive users are people all the same (R8.3): each has a status that says so and the
	// directory's reason; the active ones are active.
	if len(inactive) == 0 {
		t.Error("the vendor has no inactive user: the case cannot check their status")
	}
	sts, err := e.Store.PersonStates(ctx, inactive)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != len(inactive) {
		t.Errorf("%d directory states for the %d inactive users %v: %+v", len(sts), len(inactive), inactive, sts)
	}
	for _, st := range sts {
		if p, err := e.Store.GetPersonByEmail(ctx, st.Email); err != nil || p.Status != st.Status || st.Reason == "" ||
			(st.Status != store.PersonBlocked && st.Status != store.PersonInactive) {
			t.Errorf("inactive user %s: state %+v, person %+v (%v)", st.Email, st, p, err)
		}
	}
	for _, a := range active {
		if p, err := e.Store.GetPersonByEmail(ctx, a); err != nil || p.Status != store.PersonActive {
			t.Errorf("active user %s: %+v (%v), want a person with status active", a, p, err)
		}
	}
	files := e.V.Files()
	for _, d := range drives {
		n, err := e.Store.CountFiles(ctx, e.Conn.ID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		key := d.Owner
		if d.Kind == "shared" {
			key = d.VendorID
		}
		if n != int64(files[key]) || d.FileCount != n {
			t.Errorf("drive %s: %d files stored (count shown %d), the vendor holds %d", key, n, d.FileCount, files[key])
		}
	}
	if s := status(e); s != connection.Monitoring {
		t.Errorf("status %s, want Monitoring once every drive is indexed", s)
	}
	var path []string
	hist, _ := e.Store.ListStatusChanges(ctx, e.Conn.ID)
	for _, hch := range hist {
		path = append(path, hch.To)
	}
	// R1.5: a cloud connection indexes its drives before it monitors; an email connection has no
	// baseline and monitors once its mailboxes are found.
	want = []string{string(connection.Searching), string(connection.Indexing), string(connection.Monitoring)}
	if h.Connector.Spec().ServiceType == connection.Email {
		want = []string{string(connection.Searching), string(connection.Monitoring)}
	}
	if !slices.Equal(path, want) {
		t.Errorf("status history %v, want %v for a %s connection", path, want, h.Connector.Spec().ServiceType)
	}
}

// testActDuringIndexing: activity while the baseline crawl runs is collected once: each stream's
// start position is taken before the crawl (or handed over by it), so nothing falls between the
// baseline and the stream.
func testActDuringIndexing(t *testing.T, h Harness) {
	if h.Connector.Spec().ServiceType == connection.Email {
		t.Skip("an email connection has no baseline crawl (R1.5): a mailbox's stream starts when it is registered")
	}
	e := NewEnv(t, h, "all", nil)
	iv, ok := e.V.(IndexVendor)
	if !ok {
		t.Fatalf("the %s harness's vendor cannot act during a crawl: implement connectortest.IndexVendor", h.Connector.Spec().Service)
	}
	var during []Truth
	acted := false
	iv.DuringIndex(func() { acted = true; during = e.V.Act(40) })
	e.Settle(400)
	if !acted {
		t.Fatal("the vendor served no crawl page: nothing was indexed")
	}
	active, _ := e.V.Owners()
	collectAll(t, e, during, monitored(active))
}

// testPush: with a public URL, the connector subscribes to push; a vendor's notification makes the
// stream poll at once (the activity is stored without waiting for the poll interval); lost
// notifications cost only latency: the next poll collects everything, once.
func testPush(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	pv, ok := e.V.(PushVendor)
	if !ok {
		t.Skipf("the %s vendor has no push notifications", h.Connector.Spec().Service)
	}
	srv := e.WebhookServer(nil)
	t.Cleanup(srv.Close)
	e.publicURL = srv.URL
	if ev, ok := pv.(PushEndpointVendor); ok {
		ev.PushEndpoint(fmt.Sprintf("%s/api/v1/webhooks/%s/%d", srv.URL, h.Connector.Spec().Service, e.Conn.ID))
	}
	e.restart()
	e.Settle(400)
	e.Clock.Advance(2 * time.Minute) // the push unit's first round after start
	e.Settle(400)
	active, _ := e.V.Owners()
	inScope := func(tr Truth) bool { return tr.File && !tr.NoPush && monitored(active)(tr) }
	// missing counts the activities of truths a push-woken stream has not stored: by their vendor
	// id, or (PushFile) as an event on their file stored after the action (event id above after).
	missing := func(truths []Truth, after int64) int {
		got, files := e.VendorIDs(), e.filesAfter(after)
		n := 0
		for _, tr := range truths {
			switch {
			case !inScope(tr):
			case tr.PushFile != "" && !files[tr.PushFile]:
				n++
			case tr.PushFile == "" && got[tr.VendorID] == 0:
				n++
			}
		}
		return n
	}
	// Delivered: collected without the clock reaching the poll interval.
	before := pv.PushesDelivered()
	mark := e.lastEventID()
	pushed := e.V.Act(30)
	deadline := time.Now().Add(10 * time.Second)
	for missing(pushed, mark) > 0 && time.Now().Before(deadline) {
		if _, err := e.Runner.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // deliveries arrive on the emulator's own goroutines
	}
	waited := 0
	for _, tr := range pushed {
		if inScope(tr) {
			waited++
		}
	}
	t.Logf("%d of %d activities are stored by a push-woken stream", waited, len(pushed))
	if waited == 0 {
		t.Fatalf("none of %d activities is one a push-woken stream stores: the case proves nothing", len(pushed))
	}
	if pv.PushesDelivered() == before {
		t.Fatalf("the vendor delivered no push notification (subscriptions: is the push unit keeping them?)")
	}
	if n := missing(pushed, mark); n > 0 {
		files := e.filesAfter(mark)
		var which []string
		for _, tr := range pushed {
			if inScope(tr) && ((tr.PushFile != "" && !files[tr.PushFile]) || (tr.PushFile == "" && e.VendorIDs()[tr.VendorID] == 0)) {
				which = append(which, tr.Kind+" "+cmp.Or(tr.PushFile, tr.VendorID))
			}
		}
		t.Errorf("%d activities not collected after their push notifications, without a poll: %v", n, which)
	}
	// Late deliveries of the first activity would wake the stream during the next case: wait until
	// the vendor has sent them all, and let the wakes run.
	for last, stable := pv.PushesDelivered(), time.Now(); time.Since(stable) < 300*time.Millisecond && time.Now().Before(deadline.Add(10*time.Second)); {
		time.Sleep(20 * time.Millisecond)
		if n := pv.PushesDelivered(); n != last {
			last, stable = n, time.Now()
		}
	}
	for range 20 {
		if _, err := e.Runner.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Dropped: nothing wakes the stream until the poll interval; then everything is collected once.
	pv.DropPushes(true)
	mark = e.lastEventID()
	dropped := e.V.Act(30)
	for range 20 {
		if _, err := e.Runner.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if missing(dropped, mark) == 0 {
		t.Errorf("activity was collected although its push notifications were dropped and no poll came due: the case proves nothing")
	}
	collectAll(t, e, append(pushed, dropped...), monitored(active))
	pv.DropPushes(false)
}

// CollectAll polls until every file activity of truths that expect selects is stored, then checks
// that each is stored exactly once and nothing out of scope is (for a connector's own cases).
func CollectAll(t *testing.T, e *Env, truths []Truth, expect func(Truth) bool) {
	t.Helper()
	collectAll(t, e, truths, expect)
}

// Monitored selects the activity on the drive of one of owners, or on a shared drive.
func Monitored(owners []string) func(Truth) bool { return monitored(owners) }

// collectAll generates activity and polls until every expected record is stored, then checks
// exactly-once storage.
func collectAll(t *testing.T, e *Env, truths []Truth, expect func(Truth) bool) {
	t.Helper()
	want := map[string]bool{}
	for _, tr := range truths {
		if tr.File && expect(tr) {
			want[tr.VendorID] = true
		}
	}
	for round := 0; round < 30; round++ {
		e.Poll()
		got := e.VendorIDs()
		missing := 0
		for id := range want {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
	}
	got := e.VendorIDs()
	var missing, doubled, unexpected []string
	for id := range want {
		switch got[id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			doubled = append(doubled, id)
		}
	}
	byID := map[string]Truth{}
	for _, tr := range truths {
		byID[tr.VendorID] = tr
	}
	for id := range got {
		if tr, ok := byID[id]; ok && !want[id] {
			unexpected = append(unexpected, fmt.Sprintf("%s (owner %s)", id, tr.Owner))
		}
	}
	if len(missing)+len(doubled)+len(unexpected) > 0 {
		for _, id := range head(missing) {
			t.Logf("missing %s: %+v", id, byID[id])
		}
		t.Logf("ingest stats: %+v", e.Ingest.Stats())
		t.Errorf("of %d expected records: %d missing %v, %d stored more than once %v, %d stored but out of scope %v",
			len(want), len(missing), head(missing), len(doubled), head(doubled), len(unexpected), head(unexpected))
	}
}

func head(xs []string) []string {
	if len(xs) > 5 {
		return xs[:5]
	}
	return xs
}

func testScopeUsers(t *testing.T, h Harness) {
	e := NewEnv(t, h, "users", nil)
	active, inactive := e.V.Owners()
	if len(active) < 3 || len(inactive) < 1 {
		t.Fatalf("the emulator needs at least 3 active and 1 inactive users, has %d and %d", len(active), len(inactive))
	}
	in := []string{strings.ToUpper(active[0]), active[1], inactive[0]}
	if err := e.Store.ReplaceScope(ctx, e.Conn.ID, []store.ScopeEntry{
		{ConnectionID: e.Conn.ID, Kind: "user", Value: in[0], Row: 2}, {ConnectionID: e.Conn.ID, Kind: "user", Value: in[1], Row: 3},
		{ConnectionID: e.Conn.ID, Kind: "user", Value: in[2], Row: 4}}); err != nil {
		t.Fatal(err)
	}
	e.Settle(300)
	drives, _ := e.Store.ListDrives(ctx, store.DriveFilter{ConnectionID: e.Conn.ID})
	var owners []string
	for _, d := range drives {
		if d.Kind != "shared" { // shared drives are monitored whatever the scope (R3.1)
			owners = append(owners, d.Owner)
		}
	}
	sort.Strings(owners)
	want := []string{active[0], active[1]}
	sort.Strings(want)
	if !slices.Equal(owners, want) {
		t.Errorf("drives %v, want %v (the inactive user in the CSV is not monitored)", owners, want)
	}
	truths := e.V.Act(150)
	collectAll(t, e, truths, monitored([]string{active[0], active[1]}))
}

func testScopeGroups(t *testing.T, h Harness) {
	e := NewEnv(t, h, "groups", nil)
	groups := e.V.Groups()
	var names []string
	for n, m := range groups {
		if len(m) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("the emulator has no group with members")
	}
	g := names[0]
	if err := e.Store.ReplaceScope(ctx, e.Conn.ID, []store.ScopeEntry{
		{ConnectionID: e.Conn.ID, Kind: "group", Value: g, Row: 2},
		{ConnectionID: e.Conn.ID, Kind: "group", Value: "No Such Group", Row: 3}}); err != nil {
		t.Fatal(err)
	}
	e.Settle(300)
	active, _ := e.V.Owners()
	isActive := map[string]bool{}
	for _, a := range active {
		isActive[a] = true
	}
	inScope := func() []string {
		ds, _ := e.Store.ListDrives(ctx, store.DriveFilter{ConnectionID: e.Conn.ID})
		var out []string
		for _, d := range ds {
			if d.InScope && d.Kind != "shared" {
				out = append(out, d.Owner)
			}
		}
		sort.Strings(out)
		return out
	}
	var want []string
	for _, m := range groups[g] {
		if isActive[m] {
			want = append(want, m)
		}
	}
	sort.Strings(want)
	if got := inScope(); !slices.Equal(got, want) {
		t.Errorf("drives in scope %v, want the active members of %q %v", got, g, want)
	}
	sc, _ := e.Store.ListScope(ctx, e.Conn.ID)
	for _, s := range sc {
		if s.Value == "No Such Group" && (s.Found || !s.NextLookupAt.Equal(e.Clock.Now().Add(24*time.Hour)) && s.NextLookupAt.Sub(e.Clock.Now()) < 23*time.Hour) {
			t.Errorf("missing group entry %+v: want not found, looked up again in 24 hours (R2.6)", s)
		}
		if s.Value == g && !s.Found {
			t.Errorf("group %q not marked found", g)
		}
	}
	// Membership changes are followed (R2.7): someone joins, someone leaves.
	var outsider string
	for _, a := range active {
		if !slices.Contains(groups[g], a) {
			outsider = a
			break
		}
	}
	e.V.AddToGroup(g, outsider)
	e.V.RemoveFromGroup(g, want[0])
	e.Clock.Advance(rediscover(h, 10*time.Minute))
	e.Settle(300)
	got := inScope()
	if !slices.Contains(got, outsider) || slices.Contains(got, want[0]) {
		t.Errorf("after membership changes drives in scope are %v: want %s added and %s removed", got, outsider, want[0])
	}
}

func testExactlyOnce(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	e.Settle(400)
	e.V.Faults(0.10, 0.25, true)
	var truths []Truth
	for range 4 {
		truths = append(truths, e.V.Act(100)...)
		e.Poll()
	}
	e.V.Faults(0, 0, false)
	active, _ := e.V.Owners()
	collectAll(t, e, truths, monitored(active))
	st := e.Ingest.Stats()
	if st.Duplicates == 0 {
		t.Errorf("the vendor repeated records but ingest dropped none as duplicates: %+v", st)
	}
	if e.V.FaultsInjected() == 0 {
		t.Errorf("the vendor failed no request: the case proves nothing about faults")
	}
}

func testRestart(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	e.Settle(400)
	truths := e.V.Act(60)
	e.Poll()
	e.Restart()
	truths = append(truths, e.V.Act(60)...)
	e.Poll()
	e.Restart()
	active, _ := e.V.Owners()
	collectAll(t, e, truths, monitored(active))
	// New and changed files are hashed while monitoring (R3.3, R3.10).
	evs, err := e.Store.ListEvents(ctx, store.EventFilter{ConnectionID: e.Conn.ID, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	// The hashes the spec says the vendor gives are ones events keep.
	for _, n := range h.Connector.Spec().Hashes {
		if !slices.Contains(connector.HashNames(), n) {
			t.Errorf("Spec.Hashes names %q; known hashes are %v", n, connector.HashNames())
		}
	}
	var created, hashed int
	sp := h.Connector.Spec()
	// An email connection creates no files: the attachments its users send are what it hashes (R4.3).
	hashedAction := event.ActionCreated
	if sp.ServiceType == connection.Email {
		hashedAction = event.ActionEmailed
	}
	for _, ev := range evs {
		// Items the vendor holds no bytes for (Spec.NoContent: Google Docs) have no hashes.
		if ev.Event.Action == hashedAction && !strings.HasPrefix(ev.File.ID, "folder:") && sp.HasContent(ev.File.MimeType) {
			created++
			if len(ev.File.Hash.MD5) == 32 && len(ev.File.Hash.SHA256) == 64 {
				hashed++
			}
		}
	}
	if created == 0 || hashed != created {
		t.Errorf("%d of %d created files carry MD5 and SHA-256", hashed, created)
	}
}

func testResync(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	e.Settle(400)
	truths := e.V.Act(30)
	e.Poll()
	// Collection stops for longer than the vendor keeps its stream positions; activity goes on.
	e.Clock.Advance(e.V.StreamRetention() + 24*time.Hour)
	truths = append(truths, e.V.Act(40)...)
	active, _ := e.V.Owners()
	collectAll(t, e, truths, monitored(active))
	hist, _ := e.Store.ListStatusChanges(ctx, e.Conn.ID)
	found := false
	for _, hc := range hist {
		// Ingest words the line the same for every vendor (connector.Resync is typed).
		if strings.HasPrefix(hc.Reason, "activity stream ") && strings.Contains(hc.Reason, " resynced: its position had expired") &&
			strings.Contains(hc.Reason, "is read again") {
			found = true
		}
	}
	if !found {
		t.Errorf("no expired-position resync recorded in the history %+v", hist)
	}
}

// testThrottling: under a vendor limit well below what collection asks for, every activity is still
// collected once; the vendor did throttle (a case that passes with zero throttles proves nothing),
// every Retry-After was waited out (on the injected clock), and the connection shows it (R3.7).
func testThrottling(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	e.V.RateLimit(2) // a burst of 10, then one request every 30 s per principal
	e.Settle(2000)
	truths := e.V.Act(400) // a page whose downloads exceed the burst of one user
	active, _ := e.V.Owners()
	collectAll(t, e, truths, monitored(active))
	if e.V.Throttled() == 0 {
		t.Fatalf("the vendor throttled nothing: the case needs a lower limit to test anything (status %s, stats %+v)", status(e), e.Ingest.Stats())
	}
	if n := e.V.RetriedEarly(); n > 0 {
		t.Errorf("%d requests came before the Retry-After the vendor gave (%d throttles)", n, e.V.Throttled())
	}
	if e.Connection().ThrottledUntil.IsZero() {
		t.Errorf("the vendor throttled %d requests but the connection does not show it (R3.7)", e.V.Throttled())
	}
}

func testInaccessible(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	active, _ := e.V.Owners()
	e.V.Inaccessible(active[:len(active)/2+1], true)
	e.Settle(400)
	c := e.Connection()
	if connection.Status(c.Status) != connection.Error || !strings.Contains(c.ErrorReason, "inaccessible") {
		t.Fatalf("with most drives inaccessible: status %s reason %q, want Error (R1.5)", c.Status, c.ErrorReason)
	}
	e.V.Inaccessible(active[:len(active)/2+1], false)
	e.Clock.Advance(rediscover(h, 10*time.Minute))
	e.Settle(400)
	e.Clock.Advance(10 * time.Minute)
	e.Settle(400)
	if s := status(e); s != connection.Monitoring {
		t.Errorf("after access came back: %s (%q), want Monitoring", s, e.Connection().ErrorReason)
	}
}

// rediscover is how long a case waits for discovery to run again: at least d, and past the
// connector's discovery interval (R3.4: Box within minutes, Google Drive and OneDrive within 8
// hours; group membership and access coming back are seen by the same discovery).
func rediscover(h Harness, d time.Duration) time.Duration {
	return max(d, h.Connector.Spec().DiscoveryInterval+time.Minute)
}

func testNewDrive(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	e.Settle(400)
	email := e.V.AddUser("New Hire")
	e.Clock.Advance(rediscover(h, 6*time.Minute)) // within minutes, or the vendor's discovery interval (R3.4)
	e.Settle(400)
	ds, _ := e.Store.ListDrives(ctx, store.DriveFilter{ConnectionID: e.Conn.ID, Limit: 10000})
	for _, d := range ds {
		if d.Owner == email {
			if d.State != store.DriveIndexed {
				t.Errorf("new drive %s is %s", email, d.State)
			}
			return
		}
	}
	t.Errorf("the new user's drive %s was not discovered", email)
}

// testDeauthorizeResume: nothing is collected while deauthorized, not even later by a backfill;
// after resume collection continues from then on.
func testDeauthorizeResume(t *testing.T, h Harness) {
	e := NewEnv(t, h, "all", nil)
	e.Settle(400)
	active, _ := e.V.Owners()
	inScope := monitored(active)
	before := e.V.Act(30)
	collectAll(t, e, before, inScope)
	if _, err := e.Conns.Deauthorize(ctx, e.Conn.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := e.Ingest.Reconcile(ctx); err != nil { // stops collection
		t.Fatal(err)
	}
	if _, err := e.Conns.Apply(ctx, e.Conn.ID, connection.ActionDeauthorized, "system", "stopped"); err != nil {
		t.Fatal(err)
	}
	during := e.V.Act(30)
	e.Poll()
	if _, err := e.Conns.Resume(ctx, e.Conn.ID, "admin", connection.Resume{}); err != nil {
		t.Fatal(err)
	}
	e.Settle(400)
	after := e.V.Act(30)
	collectAll(t, e, append(before, after...), inScope)
	got := e.VendorIDs()
	n := 0
	for _, tr := range during {
		if got[tr.VendorID] > 0 {
			n++
		}
	}
	if n > 0 {
		t.Errorf("%d records from while the connection was deauthorized were collected", n)
	}
	if s := status(e); s != connection.Monitoring {
		t.Errorf("status after resume %s, want Monitoring", s)
	}
}
