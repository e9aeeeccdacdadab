package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/ingest"
	"github.com/telltale-dev/telltale/internal/store"
)

// subLife is how long the test vendor's subscriptions last (Graph: at most about 3 days for
// some resources).
const subLife = 72 * time.Hour

// graphLike is the per-drive vendor of TestDriveStreams with Graph-shaped push: one subscription
// per drive that expires, is renewed, can be removed by the vendor, and a validation handshake.
// It keeps the vendor's side of the subscriptions so the test can compare.
type graphLike struct {
	*perDrive
	clk *clock.Fake

	mu      sync.Mutex
	n       int
	live    map[string]connector.Subscription // by id
	renewed map[string]int
	removed []string
	// onSubscribe runs in Subscribe before a subscription is made (outside mu), as the vendor's
	// validation request does; handshakes counts them.
	onSubscribe func()
	handshakes  int
	// refuseUnsubscribe makes Unsubscribe fail (the vendor down, or refusing).
	refuseUnsubscribe bool
	// life is how long a subscription lasts (0: subLife); subscribes counts Subscribe calls.
	life       time.Duration
	subscribes int
	// replace makes Renew answer a new subscription and drop the old one, as Drive channels must
	// be renewed.
	replace bool
}

func (g *graphLike) lifetime() time.Duration {
	if g.life > 0 {
		return g.life
	}
	return subLife
}

func (g *graphLike) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := g.perDrive.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &graphLikeSession{perDriveSession: s.(*perDriveSession), g: g}, nil
}

type graphLikeSession struct {
	*perDriveSession
	g *graphLike
}

const graphClientState = "client-state-secret"

func (s *graphLikeSession) Subscribe(_ context.Context, d connector.Drive, url string, have []connector.Subscription) ([]connector.Subscription, error) {
	s.g.mu.Lock()
	s.g.subscribes++
	s.g.mu.Unlock()
	if d.VendorID == "" {
		return nil, nil // no tenant feed
	}
	if len(have) > 0 {
		return have, nil // Graph cannot be asked cheaply: what Telltale holds is the truth
	}
	g := s.g
	g.mu.Lock()
	hook := g.onSubscribe
	g.mu.Unlock()
	if hook != nil {
		hook()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	sub := connector.Subscription{ID: fmt.Sprintf("sub-%d", g.n), Drive: d.VendorID, Stream: "feed",
		Resource: "/drives/" + d.VendorID + "/root", Detail: fmt.Sprintf("cs-%d", g.n), Expires: g.clk.Now().Add(g.lifetime())}
	g.live[sub.ID] = sub
	return []connector.Subscription{sub}, nil
}

func (s *graphLikeSession) Renew(_ context.Context, sub connector.Subscription) (connector.Subscription, error) {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.live[sub.ID]; !ok {
		return sub, fmt.Errorf("%w: %s", connector.ErrSubscriptionGone, sub.ID)
	}
	sub.Expires = g.clk.Now().Add(g.lifetime())
	if g.replace {
		delete(g.live, sub.ID)
		g.n++
		sub.ID = fmt.Sprintf("sub-%d", g.n)
		sub.Detail = "replaced"
	}
	g.live[sub.ID] = sub
	g.renewed[sub.ID]++
	return sub, nil
}

func (s *graphLikeSession) Unsubscribe(_ context.Context, sub connector.Subscription) error {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refuseUnsubscribe {
		return errors.New("vendor: 503 service unavailable")
	}
	delete(g.live, sub.ID)
	g.removed = append(g.removed, sub.ID)
	return nil
}

// Deliver: a validation request echoes its token; a notification carries the subscription id, its
// clientState and an optional lifecycle event, as Graph's do. A clientState "cs-<n>" is one made
// for a subscription (Subscription.Detail), given to ingest as the notice's State to match.
func (s *graphLikeSession) Deliver(_ context.Context, p connector.Push) (connector.Delivery, error) {
	if tok := p.Query.Get("validationToken"); tok != "" {
		return connector.Delivery{Reply: &connector.Reply{Body: []byte(tok)}}, nil
	}
	var n struct {
		ID, SubscriptionID, ClientState, LifecycleEvent string
	}
	err := json.Unmarshal(p.Body, &n)
	perSub := strings.HasPrefix(n.ClientState, "cs-")
	if err != nil || (n.ClientState != graphClientState && !perSub) {
		return connector.Delivery{}, &connector.WebhookRefusal{Reason: connector.WebhookBadSignature, Detail: "clientState"}
	}
	lc := map[string]string{"reauthorizationRequired": connector.LifecycleReauthorize, "missed": connector.LifecycleMissed,
		"subscriptionRemoved": connector.LifecycleRemoved}[n.LifecycleEvent]
	nt := connector.Notice{Subscription: n.SubscriptionID, Lifecycle: lc}
	if perSub {
		nt.State = n.ClientState
	}
	return connector.Delivery{ID: n.ID, FreshUntil: s.g.clk.Now().Add(time.Hour), Notices: []connector.Notice{nt}}, nil
}

// TestPushSubscriptionLifecycle (issue 13, contract v2 push): ingest keeps one row per vendor
// subscription, renews each before it expires, wakes only the stream a delivery concerns, answers
// a validation handshake with the connector's reply, makes a removed subscription again, renews on
// reauthorizationRequired, drops the subscriptions of a drive no longer followed, and removes every
// subscription at the vendor when collection stops.
func TestPushSubscriptionLifecycle(t *testing.T) {
	e, g := newGraphLike(t, 0)
	c := e.connect("Graph-like push", "", nil)
	e.settle(300)
	e.clock.Advance(2 * time.Minute) // the push unit's first round after start
	e.settle(300)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) < 3 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	rowsOf := func(d store.Drive) []store.Subscription {
		t.Helper()
		rows, err := e.store.ListSubscriptions(ctx, c.ID, []int64{d.ID})
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	for _, d := range drives {
		rows := rowsOf(d)
		if len(rows) != 1 || rows[0].Stream != fmt.Sprintf("drive:%d:feed", d.ID) {
			t.Fatalf("drive %s: subscriptions %+v, want one waking its own stream", d.VendorID, rows)
		}
	}
	deliver := func(body map[string]string, query url.Values) (*connector.Reply, error) {
		b, _ := json.Marshal(body)
		reply, err := e.ingest.Webhook(ctx, "box", fmt.Sprint(c.ID), http.Header{}, query, bytes.NewReader(b))
		e.ingest.WaitWebhooks()
		return reply, err
	}

	// A validation handshake outside a push round is refused like a forgery (it carries no
	// signature: answering it would tell a sender which connections exist, in Telltale's name).
	if reply, err := deliver(nil, url.Values{"validationToken": {"Validation: token <1>"}}); err == nil || reply != nil {
		t.Errorf("a handshake while no subscription is being made was answered: %+v %v", reply, err)
	}
	if r := ingest.WebhookRefusalReason(func() error { _, err := deliver(nil, url.Values{"validationToken": {"x"}}); return err }()); r != ingest.WebhookUnexpectedHandshake {
		t.Errorf("refusal reason %q", r)
	}
	// During a push round (the vendor validates while Subscribe runs), it gets the connector's reply.
	g.mu.Lock()
	g.onSubscribe = func() {
		reply, err := deliver(nil, url.Values{"validationToken": {"Validation: token <1>"}})
		if err != nil || reply == nil || string(reply.Body) != "Validation: token <1>" {
			t.Errorf("handshake during a push round: %+v %v", reply, err)
		}
		g.handshakes++
	}
	g.mu.Unlock()
	// The vendor lost drive 0's subscription and Telltale its row: the next round subscribes.
	lost := rowsOf(drives[0])[0].VendorID
	g.mu.Lock()
	delete(g.live, lost)
	g.mu.Unlock()
	if err := e.store.DeleteSubscription(ctx, c.ID, lost); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ScheduleWork(ctx, store.Work{Kind: ingest.WorkPush, Key: fmt.Sprint(c.ID), ConnectionID: c.ID, NextRunAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.settle(50)
	g.mu.Lock()
	if g.handshakes == 0 {
		t.Errorf("no handshake was tried during the push round: the case proves nothing")
	}
	g.onSubscribe = nil
	g.mu.Unlock()
	// A forged notification is refused.
	if _, err := deliver(map[string]string{"ID": "n0", "SubscriptionID": rowsOf(drives[0])[0].VendorID, "ClientState": "guess"}, nil); err == nil {
		t.Fatal("a notification with the wrong clientState was accepted")
	}

	// A notification wakes only the stream of its subscription.
	e.clock.Advance(30 * time.Second) // every stream unit is now due in more than a minute
	a := drives[0]
	if _, err := deliver(map[string]string{"ID": "n1", "SubscriptionID": rowsOf(a)[0].VendorID, "ClientState": graphClientState}, nil); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	for _, d := range drives {
		w, err := e.store.GetWork(ctx, ingest.WorkStream, fmt.Sprintf("%d:drive:%d:feed", c.ID, d.ID))
		if err != nil {
			t.Fatal(err)
		}
		woken := !w.NextRunAt.After(now)
		if woken != (d.ID == a.ID) {
			t.Errorf("drive %s: stream due %v at %v after a notification for drive %s", d.VendorID, w.NextRunAt, now, a.VendorID)
		}
	}
	e.settle(100)

	// A notification of a subscription Telltale does not hold wakes no drive's stream (only the
	// tenant's, of which this vendor has none) and makes no unit.
	e.clock.Advance(30 * time.Second)
	unitsBefore, _ := e.store.ListWork(ctx, c.ID)
	unknownBefore := e.ingest.Stats().WebhookUnknownSubscriptions
	if _, err := deliver(map[string]string{"ID": "n-unknown", "SubscriptionID": "sub-nobody-made", "ClientState": graphClientState}, nil); err != nil {
		t.Fatal(err)
	}
	// ... and is counted (issue 15: unknown subscription ids are refused or skipped, and counted).
	if n := e.ingest.Stats().WebhookUnknownSubscriptions - unknownBefore; n != 1 {
		t.Errorf("%d notices of unknown subscriptions counted, want 1", n)
	}
	if n := e.metrics.Counter("telltale_webhook_unknown_subscriptions_total", "", "service").Value("box"); n != 1 {
		t.Errorf("telltale_webhook_unknown_subscriptions_total{service=box} = %d, want 1", n)
	}
	unitsAfter, _ := e.store.ListWork(ctx, c.ID)
	if len(unitsAfter) != len(unitsBefore) {
		t.Errorf("a notification of an unknown subscription changed the units: %d before, %d after", len(unitsBefore), len(unitsAfter))
	}
	for _, d := range drives {
		w, err := e.store.GetWork(ctx, ingest.WorkStream, fmt.Sprintf("%d:drive:%d:feed", c.ID, d.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !w.NextRunAt.After(e.clock.Now()) {
			t.Errorf("drive %s's stream woken by a notification of a subscription nobody holds", d.VendorID)
		}
	}
	e.settle(100)

	// Renewal before expiry: after two and a half days every subscription was renewed once.
	for range 60 {
		e.clock.Advance(time.Hour)
		e.settle(20)
	}
	g.mu.Lock()
	for _, d := range drives {
		id := rowsOf(d)[0].VendorID
		if g.renewed[id] == 0 {
			t.Errorf("subscription %s of drive %s was not renewed before it expired", id, d.VendorID)
		}
		if _, ok := g.live[id]; !ok {
			t.Errorf("subscription %s of drive %s expired at the vendor", id, d.VendorID)
		}
	}
	g.mu.Unlock()
	for _, d := range drives {
		if row := rowsOf(d)[0]; !row.ExpiresAt.After(e.clock.Now().Add(subLife / 2)) {
			t.Errorf("drive %s: the stored expiry %v was not moved by the renewal (now %v)", d.VendorID, row.ExpiresAt, e.clock.Now())
		}
	}

	// The vendor removes A's subscription and says so: ingest subscribes again, at once.
	old := rowsOf(a)[0].VendorID
	g.mu.Lock()
	delete(g.live, old)
	g.mu.Unlock()
	if _, err := deliver(map[string]string{"ID": "n2", "SubscriptionID": old, "ClientState": graphClientState, "LifecycleEvent": "subscriptionRemoved"}, nil); err != nil {
		t.Fatal(err)
	}
	e.settle(50)
	if rows := rowsOf(a); len(rows) != 1 || rows[0].VendorID == old {
		t.Errorf("after subscriptionRemoved: %+v, want one new subscription", rows)
	}
	// reauthorizationRequired for B: renewed now.
	b := drives[1]
	bid := rowsOf(b)[0].VendorID
	g.mu.Lock()
	before := g.renewed[bid]
	g.mu.Unlock()
	if _, err := deliver(map[string]string{"ID": "n3", "SubscriptionID": bid, "ClientState": graphClientState, "LifecycleEvent": "reauthorizationRequired"}, nil); err != nil {
		t.Fatal(err)
	}
	e.settle(50)
	g.mu.Lock()
	after := g.renewed[bid]
	g.mu.Unlock()
	if after != before+1 {
		t.Errorf("reauthorizationRequired: renewed %d times, want %d", after, before+1)
	}

	// A drive no longer followed loses its subscription within a day.
	gone := drives[2]
	gid := rowsOf(gone)[0].VendorID
	e.emu.SetUserStatus(gone.VendorID, "inactive")
	if _, err := e.store.ScheduleWork(ctx, store.Work{Kind: ingest.WorkDiscover, Key: fmt.Sprint(c.ID), ConnectionID: c.ID, NextRunAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.settle(50)
	e.clock.Advance(25 * time.Hour)
	e.settle(50)
	if rows := rowsOf(gone); len(rows) != 0 {
		t.Errorf("drive %s left the scope but keeps %+v", gone.VendorID, rows)
	}
	g.mu.Lock()
	if _, ok := g.live[gid]; ok {
		t.Errorf("the subscription of a drive out of scope is still live at the vendor")
	}
	g.mu.Unlock()

	// Deauthorized: nothing stays subscribed at the vendor, and no row is left.
	if _, err := e.conns.Deauthorize(ctx, c.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	e.settle(100)
	if _, err := e.conns.Apply(ctx, c.ID, connection.ActionDeauthorized, "system", "stopped"); err != nil {
		t.Fatal(err)
	}
	e.settle(100)
	g.mu.Lock()
	if len(g.live) != 0 {
		t.Errorf("%d subscriptions left at the vendor after deauthorize: %v", len(g.live), g.live)
	}
	g.mu.Unlock()
	for _, d := range drives {
		if rows := rowsOf(d); len(rows) != 0 {
			t.Errorf("drive %s keeps subscription rows after deauthorize: %+v", d.VendorID, rows)
		}
	}

}

// failOne makes one drive's Subscribe fail (a per-drive limit), or run a hook first.
type failOne struct {
	*graphLike
	mu     sync.Mutex
	bad    string
	before func(d connector.Drive) // called in Subscribe before it answers
}

func (f *failOne) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := f.graphLike.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &failOneSession{graphLikeSession: s.(*graphLikeSession), f: f}, nil
}

type failOneSession struct {
	*graphLikeSession
	f *failOne
}

func (s *failOneSession) Subscribe(ctx context.Context, d connector.Drive, url string, have []connector.Subscription) ([]connector.Subscription, error) {
	s.f.mu.Lock()
	if d.VendorID != "" && s.f.bad == "" {
		s.f.bad = d.VendorID
	}
	bad, before := s.f.bad, s.f.before
	s.f.mu.Unlock()
	if before != nil && d.VendorID != "" {
		before(d)
	}
	if before == nil && d.VendorID != "" && d.VendorID == bad {
		return nil, errors.New("vendor: 400 subscription limit reached for this drive")
	}
	return s.graphLikeSession.Subscribe(ctx, d, url, have)
}

// TestOneDrivePushFailureDoesNotStopTheRound (review of issue 13): one drive whose subscription
// cannot be made neither keeps the other drives from theirs nor puts the connection in Error.
func TestOneDrivePushFailureDoesNotStopTheRound(t *testing.T) {
	var f *failOne
	e, _ := newGraphLike(t, 0, func(g *graphLike) connector.Connector { f = &failOne{graphLike: g}; return f })
	c := e.connect("One bad drive", "", nil)
	e.settle(300)
	for range 10 {
		e.clock.Advance(2 * time.Minute)
		e.settle(50)
	}
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) < 3 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	f.mu.Lock()
	bad := f.bad
	f.mu.Unlock()
	for _, d := range drives {
		rows, err := e.store.ListSubscriptions(ctx, c.ID, []int64{d.ID})
		if err != nil {
			t.Fatal(err)
		}
		if d.VendorID != bad && len(rows) == 0 {
			t.Errorf("drive %s has no subscription because drive %s's could not be made", d.VendorID, bad)
		}
	}
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Errorf("one drive's push subscription failing moved the connection to %q: %q", got.Status, got.ErrorReason)
	}
	failures := e.metrics.Counter("telltale_push_subscription_failures_total", "", "connection_id", "service")
	if n := failures.Value(fmt.Sprint(c.ID), "box"); n == 0 {
		t.Errorf("the failure was not counted")
	}
}

// TestPushRoundStoppedByDeauthorize (review of issue 13): a connection deauthorized while a push
// round is calling the vendor keeps no subscription: what the round made is removed at the vendor
// and no row is saved (the unpush unit only sees rows).
func TestPushRoundStoppedByDeauthorize(t *testing.T) {
	var f *failOne
	e, g := newGraphLike(t, 0, func(g *graphLike) connector.Connector { f = &failOne{graphLike: g}; return f })
	c := e.connect("Deauthorized mid-round", "", nil)
	var once sync.Once
	f.mu.Lock()
	f.before = func(connector.Drive) {
		once.Do(func() {
			// Another node stops collection and removes the subscriptions it finds (none yet
			// for this round's) while this round is at the vendor.
			if _, err := e.conns.Deauthorize(ctx, c.ID, "admin"); err != nil {
				t.Error(err)
			}
			if err := e.ingest.Reconcile(ctx); err != nil {
				t.Error(err)
			}
			if _, err := e.runner.RunDue(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	f.mu.Unlock()
	e.settle(300)
	e.clock.Advance(2 * time.Minute)
	e.settle(300)
	if _, err := e.conns.Apply(ctx, c.ID, connection.ActionDeauthorized, "system", "stopped"); err != nil {
		t.Fatal(err)
	}
	e.settle(100)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.live) != 0 {
		t.Errorf("%d subscriptions left at the vendor after a deauthorize during the push round: %v", len(g.live), g.live)
	}
	if g.n == 0 {
		t.Errorf("the round made no subscription: the case proves nothing")
	}
}

// TestDeleteWaitsForUnpush (review of issue 13): deleting a connection whose push subscriptions
// could not yet be removed at the vendor keeps it in Deleting (with its credentials and rows) until
// ingest has removed them, then purges it; before, the purge deleted the rows at once and the
// subscriptions stayed at the vendor for good.
func TestDeleteWaitsForUnpush(t *testing.T) {
	e, g := newGraphLike(t, 0)
	c := e.connect("Delete waits", "", nil)
	e.settle(300)
	e.clock.Advance(2 * time.Minute)
	e.settle(300)
	g.mu.Lock()
	made := len(g.live)
	g.refuseUnsubscribe = true
	g.mu.Unlock()
	if made == 0 {
		t.Fatal("no subscription was made: the case proves nothing")
	}
	if _, err := e.conns.Deauthorize(ctx, c.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	e.settle(50)
	if _, err := e.conns.Apply(ctx, c.ID, connection.ActionDeauthorized, "system", "stopped"); err != nil {
		t.Fatal(err)
	}
	if err := e.conns.Delete(ctx, c.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.GetConnection(ctx, c.ID)
	if err != nil || got.Status != string(connection.Deleting) {
		t.Fatalf("while the vendor refuses to remove its subscriptions the connection is %+v (%v), want it kept in Deleting", got.Status, err)
	}
	// The vendor answers again: ingest removes the subscriptions, then the purge finishes.
	g.mu.Lock()
	g.refuseUnsubscribe = false
	g.mu.Unlock()
	for range 5 {
		e.clock.Advance(time.Minute)
		e.settle(50)
	}
	if _, err := e.conns.RunRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetConnection(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the connection was not purged once its subscriptions were removed: %v", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.live) != 0 {
		t.Errorf("%d subscriptions left at the vendor after the connection was deleted", len(g.live))
	}
}

// TestPushRoundResumes (review of issue 13): a push round visits a bounded number of drives per
// run and goes on from where it stopped, so every drive gets its subscription and a big
// connection's round neither holds a worker for hours nor restarts from the first drive.
func TestPushRoundResumes(t *testing.T) {
	p := &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}}
	g := &graphLike{perDrive: p, live: map[string]connector.Subscription{}, renewed: map[string]int{}}
	e := newEnv(t, g, true)
	g.clk = e.clock
	e.opts.PushDrivesPerRun = 1
	e.start()
	c := e.connect("Resuming push round", "", nil)
	e.settle(300) // no public URL yet: no push round
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) < 3 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	// The node restarts with a public URL: the first run of the round visits one drive and
	// leaves where it stopped.
	e.opts.PublicURL = "https://telltale.example.com"
	e.start()
	if err := e.ingest.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(61 * time.Second)
	if _, err := e.runner.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if at, _ := e.store.GetCursor(ctx, c.ID, "push:resume"); at == "" {
		t.Errorf("a round cut by its budget left no resume point")
	}
	e.settle(100)
	for _, d := range drives {
		if rows, _ := e.store.ListSubscriptions(ctx, c.ID, []int64{d.ID}); len(rows) != 1 {
			t.Errorf("drive %s: %d subscriptions after the resumed round, want 1", d.VendorID, len(rows))
		}
	}
	if at, _ := e.store.GetCursor(ctx, c.ID, "push:resume"); at != "" {
		t.Errorf("the finished round kept its resume point %q", at)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n != len(drives) {
		t.Errorf("%d subscriptions made for %d drives: a resumed round made some twice or missed some", g.n, len(drives))
	}
}

// TestRenewalsDoNotWalkTheDrives (review of issue 13): subscriptions coming due are renewed by the
// renewal unit, which reads only those expiring soon; the daily round that walks every drive is not
// run for them (before, a round reran whole whenever any subscription was due).
func TestRenewalsDoNotWalkTheDrives(t *testing.T) {
	e, g := newGraphLike(t, 6*time.Hour)
	c := e.connect("Renewals", "", nil)
	e.settle(300)
	e.clock.Advance(2 * time.Minute)
	e.settle(300)
	g.mu.Lock()
	made, calls := len(g.live), g.subscribes
	g.mu.Unlock()
	if made < 3 {
		t.Fatalf("%d subscriptions made", made)
	}
	// Six-hour subscriptions are renewed halfway: within four hours every one is, with no round.
	for range 16 {
		e.clock.Advance(15 * time.Minute)
		e.settle(20)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for id := range g.live {
		if g.renewed[id] == 0 {
			t.Errorf("subscription %s was not renewed halfway through its life", id)
		}
	}
	if g.subscribes != calls {
		t.Errorf("Subscribe was called %d times more while only renewals were due: the round walked the drives", g.subscribes-calls)
	}
	rows, err := e.store.ListExpiringSubscriptions(ctx, c.ID, e.clock.Now().Add(time.Hour), 10)
	if err != nil || len(rows) != 0 {
		t.Errorf("subscriptions expiring within the hour after the renewals: %+v %v", rows, err)
	}
}

// newGraphLike is an env whose vendor is graphLike (subscriptions lasting life; 0: subLife),
// optionally wrapped, with a public URL so that push subscriptions are made.
func newGraphLike(t *testing.T, life time.Duration, wrap ...func(*graphLike) connector.Connector) (*env, *graphLike) {
	p := &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}}
	g := &graphLike{perDrive: p, live: map[string]connector.Subscription{}, renewed: map[string]int{}, life: life}
	var con connector.Connector = g
	for _, w := range wrap {
		con = w(g)
	}
	e := newEnv(t, con, true)
	g.clk = e.clock
	e.opts.PublicURL = "https://telltale.example.com"
	e.start()
	return e, g
}

// TestRenewalThatReplaces (issue 14, Drive channels): a vendor that cannot extend a subscription
// answers Renew with a new one (another id); ingest keeps the new one in the old one's row, so
// deliveries through it wake the drive's stream and the next renewal and the unpush reach it.
func TestRenewalThatReplaces(t *testing.T) {
	e, g := newGraphLike(t, 6*time.Hour)
	g.mu.Lock()
	g.replace = true
	g.mu.Unlock()
	c := e.connect("Replacing renewals", "", nil)
	e.settle(300)
	e.clock.Advance(2 * time.Minute)
	e.settle(300)
	for range 40 { // ten hours: every subscription is replaced at least twice
		e.clock.Advance(15 * time.Minute)
		e.settle(20)
	}
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) < 3 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	g.mu.Lock()
	live := map[string]bool{}
	for id := range g.live {
		live[id] = true
	}
	renewed := len(g.renewed)
	g.mu.Unlock()
	if renewed < 2*len(drives) {
		t.Fatalf("%d replacements for %d drives in ten hours of six-hour subscriptions", renewed, len(drives))
	}
	held := 0
	for _, d := range drives {
		rows, err := e.store.ListSubscriptions(ctx, c.ID, []int64{d.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			held++
			if !live[r.VendorID] {
				t.Errorf("drive %s holds subscription %s, which the vendor replaced", d.VendorID, r.VendorID)
			}
			if r.Detail != "replaced" || r.Stream != fmt.Sprintf("drive:%d:feed", d.ID) {
				t.Errorf("drive %s: row %+v, want the replacement's detail and the drive's stream", d.VendorID, r)
			}
		}
	}
	if held != len(live) {
		t.Errorf("%d rows for %d subscriptions live at the vendor", held, len(live))
	}
}

// TestNotificationStateOfAnotherSubscription (issue 15, known gap): a notification carrying a
// genuine clientState of one of the connection's subscriptions, copied onto another of its
// subscription ids, is refused (wrong_subscription, counted in telltale_webhook_refused_total) and
// wakes nothing; the same clientState on its own subscription is accepted and wakes that stream.
func TestNotificationStateOfAnotherSubscription(t *testing.T) {
	e, _ := newGraphLike(t, 0)
	c := e.connect("Graph-like push", "", nil)
	e.settle(300)
	e.clock.Advance(2 * time.Minute)
	e.settle(300)
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) < 2 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	var subs []store.Subscription
	for _, d := range drives[:2] {
		rows, err := e.store.ListSubscriptions(ctx, c.ID, []int64{d.ID})
		if err != nil || len(rows) != 1 || rows[0].Detail == "" {
			t.Fatalf("drive %s: subscriptions %+v %v", d.VendorID, rows, err)
		}
		subs = append(subs, rows[0])
	}
	a, b := subs[0], subs[1]
	deliver := func(id, sub, state string) error {
		body, _ := json.Marshal(map[string]string{"ID": id, "SubscriptionID": sub, "ClientState": state})
		return e.webhook("box", fmt.Sprint(c.ID), http.Header{}, bytes.NewReader(body))
	}
	due := func(stream string) bool {
		w, err := e.store.GetWork(ctx, ingest.WorkStream, fmt.Sprintf("%d:%s", c.ID, stream))
		if err != nil {
			t.Fatal(err)
		}
		return !w.NextRunAt.After(e.clock.Now())
	}
	if due(a.Stream) {
		t.Fatalf("setup: the stream of %s is already due", a.VendorID)
	}
	refused := e.metrics.Counter("telltale_webhook_refused_total", "", "service", "reason")
	if err := deliver("copied", a.VendorID, b.Detail); ingest.WebhookRefusalReason(err) != ingest.WebhookWrongSubscription {
		t.Errorf("%s's clientState on %s: %v, want refused as %s", b.VendorID, a.VendorID, err, ingest.WebhookWrongSubscription)
	}
	if n := refused.Value("box", ingest.WebhookWrongSubscription); n != 1 {
		t.Errorf("telltale_webhook_refused_total{reason=wrong_subscription} = %d, want 1", n)
	}
	if due(a.Stream) {
		t.Errorf("the refused notification woke the stream of %s", a.VendorID)
	}
	if err := deliver("genuine", a.VendorID, a.Detail); err != nil {
		t.Fatalf("its own clientState: %v", err)
	}
	if !due(a.Stream) {
		t.Errorf("the genuine notification did not wake the stream of %s", a.VendorID)
	}
}
