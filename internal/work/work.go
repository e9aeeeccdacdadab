// Package work runs units of scheduled work (store.Work) on every node. The database is the
// scheduler: units live in the work table with a next-run time and a lease; a Runner claims due
// units with a compare-and-set (store.ClaimWork), runs the Handler registered for their kind, keeps
// the lease alive while the handler runs, and writes back when the unit runs next.
//
// Several nodes sharing one PostgreSQL never run the same unit at once: a unit is claimed by one
// owner until its lease ends, and a node that dies loses its leases when they expire, after which
// another node takes the units over. Delivery is therefore at least once: a node that loses a lease
// (paused longer than LeaseFor) may see its result refused (store.ErrConflict) while another node
// runs the unit again, so handlers are idempotent.
//
// Outcomes of a run:
//
//	handler returns          the unit
//	zero next, nil error     is deleted (done)
//	next, nil error          runs again at next; Attempts and LastError are cleared
//	RetryAfter(d)            runs again after d; not a failure: Attempts and LastError are cleared
//	any other error, panic   runs again after Backoff(Attempts+1); Attempts+1, LastError recorded, logged
//
// Due-ness and lease times come from the injected clock; only the poll sleep and the lease-renewal
// ticker use real time.
//
// Fair share. A started runner writes a heartbeat to the nodes table every LeaseFor/4
// (store.BeatNode); the nodes heard from within 3/4 LeaseFor are the live ones. With N > 1 live nodes,
// a runner claims of each kind at most its share of the units due or held now (store.WorkLoad):
// T/N, the T mod N left over going to the first nodes in an order that turns with the kind, so the
// shares add up to T and no node waits for a unit another node holds beyond its share. A runner
// over its share (N grew, or the work shrank) gives back the surplus at its next lease renewal: the
// handler is cancelled and the unit is released due now, for a node under its share. A node that
// joins or leaves therefore changes every share within one heartbeat and the surplus moves within
// one renewal, both shorter than a lease; a killed node's units move once its leases and its
// heartbeat have run out. So that a share held for a node that is gone (killed, not yet silent
// long enough) or busy never strands work, units overdue by LeaseFor/4 go to any node with a free
// slot, which keeps them (they are not given back, or they would bounce between nodes). With one
// node (always on SQLite) nothing is capped and the claim is the single query it always was.
// RunDue ignores shares: it is one explicit round.
//
// Wake-ups. With several nodes, work scheduled now on one node (a push notification) is usually in
// another node's share; Wake and Kick reach every node through Options.Waker (PostgreSQL
// LISTEN/NOTIFY), so that node claims it at once rather than at its next poll (wake.go).
package work

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/store"
)

// Handler runs one unit. It returns when the unit runs next; a zero next with a nil error deletes
// the unit. An error (or a panic) reschedules the unit after Options.Backoff, except RetryAfter.
// ctx ends when the runner stops for good (Stop's deadline) or the unit's lease was lost.
type Handler func(ctx context.Context, w store.Work) (next time.Time, err error)

// retryAfter is the error RetryAfter returns.
type retryAfter struct{ d time.Duration }

func (e *retryAfter) Error() string { return fmt.Sprintf("retry after %v", e.d) }

// RetryAfter returns an error a handler returns (possibly wrapped) to be run again after d, for
// example when a vendor says to come back later. It is not a failure: the unit's Attempts restart
// from 0, its LastError is cleared, and Backoff is not consulted. d <= 0 means as soon as possible.
func RetryAfter(d time.Duration) error { return &retryAfter{d: d} }

// Options configure a Runner. Zero fields get the defaults noted.
type Options struct {
	Store store.Store
	Clock clock.Clock  // default clock.Real
	Log   *slog.Logger // default: discard
	// Owner names this node in leases; default hostname-pid-random.
	Owner string
	// Concurrency bounds the handlers running at once; default 4.
	Concurrency int
	// LeaseFor is how long a claim lasts; it is renewed every LeaseFor/3 while the handler runs.
	// Default 1m.
	LeaseFor time.Duration
	// PollInterval is how long the loop sleeps (real time) when nothing is due, unless kicked. Default 1s.
	PollInterval time.Duration
	// Backoff is the delay before retrying a unit that has failed attempts times in a row
	// (attempts >= 1). Default DefaultBackoff.
	Backoff func(attempts int) time.Duration
	// Waker carries Wake between the nodes sharing the database (PostgreSQL LISTEN/NOTIFY); nil:
	// Wake reaches this node only (SQLite, one node).
	Waker Waker
}

// Waker sends a payload to every node's runner, the sender's included, and receives them. The
// PostgreSQL store is one (NOTIFY on the channel telltale_work, LISTEN on a connection of its own).
// Delivery is best effort: nothing depends on a payload arriving, the runners poll as well.
type Waker interface {
	// NotifyWork sends payload to every listener; called after the change it announces committed.
	NotifyWork(ctx context.Context, payload string) error
	// ListenWork calls fn with each payload received until ctx ends, reconnecting when its
	// connection drops; state gets nil when it (re)starts listening and the cause when it stops.
	ListenWork(ctx context.Context, fn func(payload string), state func(err error))
}

// DefaultBackoff is 5s·2^(attempts-1) (5s, 10s, 20s, ...) capped at one hour, minus up to 20%
// jitter so that units failing together spread out.
func DefaultBackoff(attempts int) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	d := time.Hour
	if attempts <= 10 {
		d = min(5*time.Second<<(attempts-1), time.Hour)
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

const (
	// finishTimeout bounds writing a unit's result after its handler returned.
	finishTimeout = 30 * time.Second
	// runDueLimit bounds how many units one RunDue claims.
	runDueLimit = 1000
	// maxErrorLen bounds the error text stored with a unit.
	maxErrorLen = 2000
)

var errLeaseLost = errors.New("work: lease lost to another owner")

// Runner claims and runs work units. Register handlers with Handle, then Start (or call RunDue).
type Runner struct {
	o   Options
	sem chan struct{} // one token per running handler

	mu       sync.Mutex
	handlers map[string]Handler
	started  bool
	stopped  bool
	loopStop context.CancelFunc
	loopDone chan struct{}

	kick  chan struct{} // Kick: claim now
	freed chan struct{} // a handler finished: a slot is free

	runCtx    context.Context // parent of handler contexts; cancelled when Stop gives up waiting
	runCancel context.CancelFunc
	wg        sync.WaitGroup // claimed units not yet finished

	// Fair share (under mu).
	nodes    []string                  // live nodes' owners, sorted; this runner among them once it beat
	load     map[string]store.WorkLoad // units due and held per kind, as last counted
	loadAt   time.Time                 // real time of that count
	held     map[string]int            // units this runner holds per kind (claimed, not finished)
	giving   map[string]int            // of those, units being given back
	turn     int                       // rotates which kind gets a free slot first
	beatStop context.CancelFunc
	beatDone chan struct{}

	// Wake-ups (under mu).
	running    map[string]int  // units this runner is running, by unitName
	rerun      map[string]bool // of those, the ones woken while running: claim again when they finish
	listenStop context.CancelFunc
	listenDone chan struct{}
	kicking    atomic.Bool // a broadcast Kick is being sent
}

// errGiveBack cancels a handler whose unit this runner holds beyond its fair share.
var errGiveBack = errors.New("work: unit given back to a node under its fair share")

// NewRunner returns a Runner. o.Store is required.
func NewRunner(o Options) *Runner {
	if o.Store == nil {
		panic("work: NewRunner needs a Store")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Owner == "" {
		o.Owner = defaultOwner()
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.LeaseFor <= 0 {
		o.LeaseFor = time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{o: o, sem: make(chan struct{}, o.Concurrency), handlers: map[string]Handler{},
		kick: make(chan struct{}, 1), freed: make(chan struct{}, 1), runCtx: ctx, runCancel: cancel,
		held: map[string]int{}, giving: map[string]int{}, running: map[string]int{}, rerun: map[string]bool{}}
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	b := make([]byte, 4)
	_, _ = crand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Owner returns the name this runner leases units under.
func (r *Runner) Owner() string { return r.o.Owner }

// Handle registers h for units of kind; the runner claims only kinds it has handlers for.
// Registering a kind twice replaces the handler.
func (r *Runner) Handle(kind string, h Handler) {
	if kind == "" || h == nil {
		panic("work: Handle needs a kind and a handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[kind] = h
}

func (r *Runner) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (r *Runner) handler(kind string) Handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handlers[kind]
}

// Kick wakes the loop to claim due work now instead of at the next poll (for example after
// scheduling a unit for now). It never blocks. With several nodes the work is counted afresh
// before that claim (the unit may have just made this node's share non-zero), and the other
// nodes are woken too through Options.Waker, since the new work may be in their share (Wake
// names the unit; Kick does not).
func (r *Runner) Kick() {
	r.kickLocal()
	r.broadcastKick()
}

// kickLocal wakes this runner's loop, with the work counted afresh first.
func (r *Runner) kickLocal() {
	r.mu.Lock()
	r.loadAt = time.Time{}
	r.mu.Unlock()
	signal(r.kick)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Start runs the claim loop in the background until ctx is done or Stop is called. Ending ctx only
// stops claiming: handlers run under contexts of their own, which Stop cancels once its deadline
// passes, so that a shutdown can let running units finish. Call Stop to wait for them.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("work: runner already started")
	}
	if r.stopped {
		return errors.New("work: runner stopped; make a new one")
	}
	if len(r.handlers) == 0 {
		r.o.Log.Warn("work: runner started with no handlers; it will claim nothing")
	}
	r.started = true
	// Join the nodes before the first claim, so that the others make room at their next heartbeat.
	r.mu.Unlock()
	r.beat(ctx)
	r.mu.Lock()
	bctx, bcancel := context.WithCancel(ctx)
	r.beatStop, r.beatDone = bcancel, make(chan struct{})
	go r.heartbeat(bctx, r.beatDone)
	if r.o.Waker != nil {
		wctx, wcancel := context.WithCancel(ctx)
		r.listenStop, r.listenDone = wcancel, make(chan struct{})
		go r.listen(wctx, r.listenDone)
	}
	lctx, cancel := context.WithCancel(ctx)
	r.loopStop, r.loopDone = cancel, make(chan struct{})
	go r.loop(lctx, r.loopDone)
	return nil
}

// Stop shuts down in two stages: it stops claiming and waits for running handlers until ctx is
// done; then it cancels their contexts and waits for them to return, and returns an error wrapping
// ctx's error. Results of cancelled handlers are still recorded. A stopped runner cannot restart.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	stop, done := r.loopStop, r.loopDone
	bstop, bdone := r.beatStop, r.beatDone
	wstop, wdone := r.listenStop, r.listenDone
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if wstop != nil {
		wstop()
		<-wdone
	}
	if bstop != nil {
		bstop()
		<-bdone
		// Leave the nodes at once, so that the others take this node's share at their next
		// heartbeat rather than after a lease.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		if err := r.o.Store.LeaveNode(lctx, r.o.Owner); err != nil {
			r.o.Log.Warn("work: leaving the nodes failed; the others see this node gone after a lease", "err", err)
		}
		cancel()
	}
	all := make(chan struct{})
	go func() { r.wg.Wait(); close(all) }()
	select {
	case <-all:
		r.runCancel()
		return nil
	case <-ctx.Done():
		r.o.Log.Warn("work: stop deadline reached; cancelling running handlers")
		r.runCancel()
		<-all
		return fmt.Errorf("work: stop: running handlers were cancelled: %w", ctx.Err())
	}
}

// loop claims and starts due units until ctx ends. It sleeps PollInterval when nothing is due and
// wakes early on Kick, or when a slot frees after a full batch (more may be due).
func (r *Runner) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	timer := time.NewTimer(r.o.PollInterval)
	defer timer.Stop()
	for {
		more := r.claimOnce(ctx)
		var freed chan struct{}
		if more {
			freed = r.freed
		}
		timer.Reset(r.o.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-freed:
		case <-timer.C:
		}
	}
}

// claimOnce claims as many due units as there are free slots and starts them. It reports whether
// a slot freeing up should trigger the next claim: no slot was free, or a whole batch was due.
func (r *Runner) claimOnce(ctx context.Context) (more bool) {
	kinds := r.kinds()
	if len(kinds) == 0 {
		return false
	}
	free := 0
acquire:
	for free < cap(r.sem) {
		select {
		case r.sem <- struct{}{}:
			free++
		default:
			break acquire
		}
	}
	if free == 0 {
		return true
	}
	// The claim itself is not cut short by Stop: a claim committed but never read would hold its
	// units until their leases expire.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	units, fair, err := r.claimShare(cctx, kinds, free)
	cancel()
	if err != nil {
		r.o.Log.Warn("work: claiming due work failed; retrying at the next poll", "err", err)
	}
	r.hold(units)
	for range free - len(units) {
		<-r.sem
	}
	for i, w := range units {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.sem; signal(r.freed) }()
			r.run(r.runCtx, w, i < fair)
		}()
	}
	return err == nil && len(units) == free
}

// RunDue claims the units of the registered kinds that are due now (at most 1000), runs them, at
// most Concurrency at a time (counting handlers the loop runs), and returns how many ran. It is one
// round: units a handler reschedules as due again are not run twice. Handlers' contexts end with ctx.
func (r *Runner) RunDue(ctx context.Context) (int, error) {
	kinds := r.kinds()
	if len(kinds) == 0 {
		return 0, nil
	}
	units, err := r.o.Store.ClaimWork(ctx, store.ClaimRequest{Owner: r.o.Owner, Now: r.o.Clock.Now(), LeaseFor: r.o.LeaseFor, Kinds: kinds, Limit: runDueLimit})
	if err != nil {
		return 0, fmt.Errorf("work: claiming due work: %w", err)
	}
	r.hold(units)
	parent, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.runCtx, cancel)()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	for _, w := range units {
		wg.Add(1)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer wg.Done()
			// Keep the lease while waiting for a slot.
			stopRenew := r.renewLease(w, func(error) {}, false)
			select {
			case r.sem <- struct{}{}:
			case <-parent.Done():
				stopRenew()
				r.release(w)
				r.unhold(w.Kind, false)
				return
			}
			defer func() { <-r.sem; signal(r.freed) }()
			stopRenew()
			r.run(parent, w, false)
			mu.Lock()
			ran++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ran, ctx.Err()
}

// release gives back a claimed unit that was not run, keeping its schedule.
func (r *Runner) release(w store.Work) {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	// FinishWork with an error text counts one more attempt; a unit that had failed before keeps
	// its error (Attempts grows by one), others are released clean. Rare: a cancelled RunDue.
	if err := r.o.Store.FinishWork(ctx, w.ID, r.o.Owner, w.NextRunAt, w.LastError); err != nil && !errors.Is(err, store.ErrConflict) {
		r.o.Log.Warn("work: releasing an unrun unit failed; it runs when its lease expires", "kind", w.Kind, "key", w.Key, "err", err)
	}
}

// renewLease extends w's lease every LeaseFor/3 until the returned stop is called. When the lease
// was taken by another owner, or could not be renewed before it ended, it calls lost and stops.
// A unit that may be given back (mayGive) is, at a renewal, when this runner holds more of its
// kind than its fair share: lost is called with errGiveBack.
func (r *Runner) renewLease(w store.Work, lost func(error), mayGive bool) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		every := max(r.o.LeaseFor/3, time.Millisecond)
		t := time.NewTicker(every)
		defer t.Stop()
		until := w.LeaseUntil
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := r.o.Clock.Now()
			next := now.Add(r.o.LeaseFor)
			// A renewal slower than two periods has all but lost the lease anyway, and one still
			// waiting when the lease ends is too late: the unit may be another node's by then.
			wait := 2 * every
			if left := until.Sub(now); left > 0 && left < wait {
				wait = left
			}
			ctx, cancel := context.WithTimeout(context.Background(), max(wait, time.Millisecond))
			err := r.o.Store.ExtendLease(ctx, w.ID, r.o.Owner, next)
			cancel()
			switch {
			case err == nil:
				until = next
				if mayGive && r.giveBack(w.Kind) {
					r.o.Log.Info("work: giving a unit back to a node under its fair share", "kind", w.Kind, "key", w.Key, "owner", r.o.Owner)
					lost(errGiveBack)
					return
				}
			case errors.Is(err, store.ErrConflict):
				r.o.Log.Warn("work: lease lost to another owner; cancelling the handler", "kind", w.Kind, "key", w.Key, "owner", r.o.Owner)
				lost(errLeaseLost)
				return
			case !r.o.Clock.Now().Add(every).Before(until):
				// The next try would come after the lease ends, when another node may have taken
				// the unit: stop now rather than run beside it (a node cut off from the database).
				r.o.Log.Warn("work: lease ends before it can be renewed; cancelling the handler", "kind", w.Kind, "key", w.Key, "err", err)
				lost(errLeaseLost)
				return
			default:
				r.o.Log.Warn("work: renewing a lease failed; retrying", "kind", w.Kind, "key", w.Key, "err", err)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-exited }) }
}

// run runs one claimed unit under parent and records its result. The caller holds a slot. A unit
// claimed within this runner's fair share may be given back (mayGive); one it took overdue, when
// no node under its share had, is kept: giving it back would only bounce it between nodes.
func (r *Runner) run(parent context.Context, w store.Work, mayGive bool) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	endRunning := r.startRunning(w.Kind, w.Key)
	stopRenew := r.renewLease(w, cancel, mayGive)
	next, err := r.call(ctx, w)
	stopRenew()
	gaveBack := errors.Is(context.Cause(ctx), errGiveBack)
	defer func() { r.unhold(w.Kind, gaveBack) }()

	now := r.o.Clock.Now()
	errText := ""
	var ra *retryAfter
	switch {
	case gaveBack && err != nil:
		// Given back: due now, for a node under its share; cut short is not a failure.
		next, err = now, nil
	case errors.As(err, &ra):
		next = now.Add(max(ra.d, 0))
		r.o.Log.Debug("work: unit asked to run again later", "kind", w.Kind, "key", w.Key, "retry_at", next, "reason", err)
	case err != nil:
		errText = truncate(err.Error(), maxErrorLen)
		next = now.Add(r.o.Backoff(w.Attempts + 1))
		r.o.Log.Warn("work: unit failed", "kind", w.Kind, "key", w.Key, "attempts", w.Attempts+1, "retry_at", next, "err", err)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), finishTimeout)
	defer fcancel()
	if err := r.o.Store.FinishWork(fctx, w.ID, r.o.Owner, next, errText); err != nil {
		if errors.Is(err, store.ErrConflict) {
			r.o.Log.Warn("work: lease lost before the result was recorded; the new owner runs the unit again", "kind", w.Kind, "key", w.Key, "owner", r.o.Owner)
		} else {
			r.o.Log.Error("work: recording a unit's result failed; it runs again when its lease expires", "kind", w.Kind, "key", w.Key, "err", err)
		}
	}
	if endRunning() {
		r.kickLocal() // woken while it ran: due again now (rerun_at), claim it rather than wait for a poll
	}
}

// call runs the unit's handler, turning a panic into an error.
func (r *Runner) call(ctx context.Context, w store.Work) (next time.Time, err error) {
	h := r.handler(w.Kind)
	if h == nil {
		return time.Time{}, fmt.Errorf("no handler for work kind %q", w.Kind)
	}
	defer func() {
		if p := recover(); p != nil {
			r.o.Log.Error("work: handler panicked", "kind", w.Kind, "key", w.Key, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			next, err = time.Time{}, fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h(ctx, w)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// ---- fair share ----

// beatEvery is how often a runner writes its heartbeat and recounts the work: a quarter lease.
func (r *Runner) beatEvery() time.Duration { return max(r.o.LeaseFor/4, time.Millisecond) }

// liveFor is how recent a heartbeat keeps a node counted: three beats (one slow beat does not
// drop a node). A killed node then stops counting about when its leases run out.
func (r *Runner) liveFor() time.Duration { return 3 * r.beatEvery() }

// heartbeat beats every beatEvery until ctx ends.
func (r *Runner) heartbeat(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(r.beatEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.beat(ctx)
	}
}

// beat records this node alive, learns the live nodes and, with several, recounts the work. When
// the nodes changed it kicks the loop: this node's share changed.
func (r *Runner) beat(ctx context.Context) {
	bctx, cancel := context.WithTimeout(ctx, r.beatEvery())
	defer cancel()
	ns, err := r.o.Store.BeatNode(bctx, r.o.Owner, r.o.Clock.Now(), r.liveFor())
	if err != nil {
		r.o.Log.Warn("work: node heartbeat failed; retrying", "err", err)
		return
	}
	owners := make([]string, 0, len(ns))
	for _, n := range ns {
		owners = append(owners, n.Owner)
	}
	sort.Strings(owners)
	r.mu.Lock()
	changed := fmt.Sprint(owners) != fmt.Sprint(r.nodes)
	if changed {
		r.o.Log.Info("work: nodes sharing the work changed", "nodes", len(owners), "owner", r.o.Owner)
	}
	r.nodes = owners
	r.mu.Unlock()
	if len(owners) > 1 {
		r.recount(bctx)
	}
	if changed {
		r.kickLocal()
	}
}

// recount reads the units due and held per kind.
func (r *Runner) recount(ctx context.Context) error {
	load, err := r.o.Store.WorkLoad(ctx, r.o.Clock.Now(), r.kinds())
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.load, r.loadAt = load, time.Now()
	r.mu.Unlock()
	return nil
}

// Share returns this runner's fair share of total units of kind among the live nodes, and the
// number of live nodes; with fewer than two nodes the share is total.
func (r *Runner) Share(kind string, total int) (share, nodes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shareLocked(kind, total), len(r.nodes)
}

func (r *Runner) shareLocked(kind string, total int) int {
	n := len(r.nodes)
	me := sort.SearchStrings(r.nodes, r.o.Owner)
	if n < 2 || me == n || r.nodes[me] != r.o.Owner {
		return total
	}
	// The T mod N units left over go to the nodes from an offset that depends on the kind, so
	// that the kinds with a single unit spread over the nodes rather than all landing on the first.
	var h uint32 = 2166136261
	for i := 0; i < len(kind); i++ {
		h = (h ^ uint32(kind[i])) * 16777619
	}
	rank := (me + n - int(h%uint32(n))) % n
	share := total / n
	if rank < total%n {
		share++
	}
	return share
}

// capLocked is how many units of kind this runner may hold now.
func (r *Runner) capLocked(kind string) int {
	l := r.load[kind]
	return r.shareLocked(kind, l.Due+l.Held)
}

// hold counts claimed units as held by this runner.
func (r *Runner) hold(units []store.Work) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range units {
		r.held[w.Kind]++
	}
}

// unhold counts a unit no longer held (its result recorded).
func (r *Runner) unhold(kind string, gaveBack bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[kind]--; r.held[kind] <= 0 {
		delete(r.held, kind)
	}
	if gaveBack {
		if r.giving[kind]--; r.giving[kind] <= 0 {
			delete(r.giving, kind)
		}
	}
}

// giveBack reports whether this runner holds units of kind beyond its share (counting those it is
// already giving back), and if so reserves one to give back.
func (r *Runner) giveBack(kind string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.nodes) < 2 || r.load == nil {
		return false
	}
	if r.held[kind]-r.giving[kind] > r.capLocked(kind) {
		r.giving[kind]++
		return true
	}
	return false
}

// claimShare claims up to free due units of kinds: all of them with one node; with several, of
// each kind up to this node's share less what it holds, then any unit overdue by a quarter lease.
// The first fair units were claimed within the share (with one node: all).
func (r *Runner) claimShare(ctx context.Context, kinds []string, free int) (units []store.Work, fair int, err error) {
	now := r.o.Clock.Now()
	r.mu.Lock()
	several := len(r.nodes) > 1
	stale := time.Since(r.loadAt) > min(r.o.PollInterval, r.beatEvery())/2
	r.mu.Unlock()
	if !several {
		units, err := r.o.Store.ClaimWork(ctx, store.ClaimRequest{Owner: r.o.Owner, Now: now, LeaseFor: r.o.LeaseFor, Kinds: kinds, Limit: free})
		return units, len(units), err
	}
	if stale {
		if err := r.recount(ctx); err != nil {
			return nil, 0, err
		}
	}
	// Room per kind, handed out one slot at a time from a kind that turns with each claim, so that
	// no kind starves the others of this node's free slots.
	r.mu.Lock()
	room := make([]int, len(kinds))
	for i, k := range kinds {
		if r.load[k].Due > 0 {
			room[i] = max(r.capLocked(k)-r.held[k], 0)
		}
	}
	r.turn++
	start := r.turn
	r.mu.Unlock()
	take := make([]int, len(kinds))
	for left := free; left > 0; {
		gave := false
		for j := range kinds {
			i := (start + j) % len(kinds)
			if left > 0 && take[i] < room[i] {
				take[i]++
				left--
				gave = true
			}
		}
		if !gave {
			break
		}
	}
	for i, k := range kinds {
		if take[i] == 0 {
			continue
		}
		got, err := r.o.Store.ClaimWork(ctx, store.ClaimRequest{Owner: r.o.Owner, Now: now, LeaseFor: r.o.LeaseFor, Kinds: []string{k}, Limit: take[i]})
		units = append(units, got...)
		if err != nil {
			return units, len(units), err
		}
	}
	fair = len(units)
	// Units overdue by a quarter lease (their node's share is held for a node that is gone, or
	// that node is busy) go to any node with a free slot. Claiming "as of" then keeps the lease
	// as long as any other.
	if left := free - len(units); left > 0 {
		grace := r.beatEvery()
		got, err := r.o.Store.ClaimWork(ctx, store.ClaimRequest{Owner: r.o.Owner, Now: now.Add(-grace), LeaseFor: r.o.LeaseFor + grace, Kinds: kinds, Limit: left})
		units = append(units, got...)
		if err != nil {
			return units, fair, err
		}
	}
	return units, fair, nil
}
