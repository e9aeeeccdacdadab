// Package work runs units of scheduled work (store.Work) on every node. Units live in the
// database; a Runner claims due units with a lease, runs the Handler registered for their kind,
// keeps the lease alive while the handler runs, and writes back when the unit runs next.
//
// Claiming is a compare-and-set in the store, so several nodes sharing one PostgreSQL never run
// the same unit at once. A node that dies loses its leases when they expire and another node
// takes over the units.
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
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/store"
)

// Handler runs one unit. It returns when the unit runs next; a zero next with a nil error deletes
// the unit. An error (or a panic) reschedules the unit after Options.Backoff.
type Handler func(ctx context.Context, w store.Work) (next time.Time, err error)

// Options configure a Runner. Zero fields get the defaults noted.
type Options struct {
	Store store.Store
	Clock clock.Clock  // default clock.Real
	Log   *slog.Logger // default: discard
	// Owner names this node in leases; default hostname-pid-random.
	Owner string
	// Concurrency bounds the handlers running at once; default 4.
	Concurrency int
	// LeaseFor is how long a claim lasts; it is extended every LeaseFor/3 while the handler runs. Default 1m.
	LeaseFor time.Duration
	// PollInterval is how long the loop sleeps (real time) when nothing is due, unless kicked. Default 1s.
	PollInterval time.Duration
	// Backoff is the delay before retrying a unit that failed attempts times in a row (attempts >= 1).
	// Default DefaultBackoff.
	Backoff func(attempts int) time.Duration
}

// DefaultBackoff is 5s·2^(attempts-1), capped at one hour, minus up to 20% jitter.
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

// finishTimeout bounds writing a unit's result after its handler returned.
const finishTimeout = 30 * time.Second

// Runner claims and runs work units. Register handlers with Handle before Start or RunDue.
type Runner struct {
	o   Options
	sem chan struct{} // one token per running handler

	mu       sync.Mutex
	handlers map[string]Handler
	started  bool
	stopped  bool
	loopStop context.CancelFunc
	loopDone chan struct{}

	kick chan struct{}

	runCtx    context.Context // parent of handler contexts; cancelled when Stop gives up waiting
	runCancel context.CancelFunc
	wg        sync.WaitGroup // running units
}

// NewRunner returns a Runner.
func NewRunner(o Options) *Runner {
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
		kick: make(chan struct{}, 1), runCtx: ctx, runCancel: cancel}
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

// Handle registers h for units of kind. Registering a kind twice replaces the handler.
func (r *Runner) Handle(kind string, h Handler) {
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

// Kick wakes the loop to claim due work now instead of at the next poll.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Start runs the claim loop in the background until ctx is done or Stop is called. Handlers run
// under a context of their own, which only Stop cancels, so that they may finish after ctx ends.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("work: runner already started")
	}
	if r.stopped {
		return errors.New("work: runner stopped")
	}
	if len(r.handlers) == 0 {
		r.o.Log.Warn("work: runner started with no handlers")
	}
	r.started = true
	lctx, cancel := context.WithCancel(ctx)
	r.loopStop, r.loopDone = cancel, make(chan struct{})
	go r.loop(lctx, r.loopDone)
	return nil
}

// Stop stops claiming, waits for running handlers until ctx is done, then cancels their contexts
// and waits for them to return. It returns ctx's error when handlers had to be cancelled.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	stop, done := r.loopStop, r.loopDone
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	all := make(chan struct{})
	go func() { r.wg.Wait(); close(all) }()
	select {
	case <-all:
		r.runCancel()
		return nil
	case <-ctx.Done():
		r.o.Log.Warn("work: stop timed out; cancelling running handlers")
		r.runCancel()
		<-all
		return fmt.Errorf("work: running handlers cancelled: %w", ctx.Err())
	}
}

func (r *Runner) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		full := r.claimOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if full {
			// A whole batch was due: there may be more; claim again once a slot frees (handlers kick).
			select {
			case <-ctx.Done():
				return
			case <-r.kick:
				continue
			case <-time.After(r.o.PollInterval):
				continue
			}
		}
		timer.Reset(r.o.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// claimOnce claims as many due units as there are free slots and starts them. It reports whether
// it claimed a full batch (so more may be due).
func (r *Runner) claimOnce(ctx context.Context) bool {
	kinds := r.kinds()
	if len(kinds) == 0 {
		return false
	}
	free := 0
	for free < cap(r.sem) {
		select {
		case r.sem <- struct{}{}:
			free++
			continue
		default:
		}
		break
	}
	if free == 0 {
		return false
	}
	units, err := r.o.Store.ClaimWork(ctx, store.ClaimRequest{Owner: r.o.Owner, Now: r.o.Clock.Now(), LeaseFor: r.o.LeaseFor, Kinds: kinds, Limit: free})
	if err != nil {
		for range free {
			<-r.sem
		}
		if ctx.Err() == nil {
			r.o.Log.Warn("work: claiming due work failed", "err", err)
		}
		return false
	}
	for range free - len(units) {
		<-r.sem
	}
	for _, w := range units {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.sem; r.Kick() }()
			r.run(w)
		}()
	}
	return len(units) == free
}

// RunDue claims every due unit of the registered kinds once, runs them (at most Concurrency at a
// time) and returns how many ran. Units a handler reschedules as due again are not run twice.
func (r *Runner) RunDue(ctx context.Context) (int, error) {
	kinds := r.kinds()
	if len(kinds) == 0 {
		return 0, nil
	}
	units, err := r.o.Store.ClaimWork(ctx, store.ClaimRequest{Owner: r.o.Owner, Now: r.o.Clock.Now(), LeaseFor: r.o.LeaseFor, Kinds: kinds, Limit: 100000})
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, w := range units {
		wg.Add(1)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer wg.Done()
			// Keep the lease while waiting for a slot.
			stopExtend := r.extendLease(w, func() {})
			select {
			case r.sem <- struct{}{}:
			case <-ctx.Done():
				stopExtend()
				r.release(w)
				return
			}
			defer func() { <-r.sem }()
			stopExtend()
			r.run(w)
		}()
	}
	wg.Wait()
	return len(units), ctx.Err()
}

// release gives back a claimed unit that was not run, keeping its schedule and attempts.
func (r *Runner) release(w store.Work) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.runCtx), finishTimeout)
	defer cancel()
	errText := w.LastError
	if w.Attempts > 0 && errText == "" {
		errText = "not run"
	}
	// FinishWork counts an error as one more attempt; a unit given back unrun keeps its error text
	// only when it already had failures, so Attempts may grow by one. Rare (cancelled RunDue).
	if err := r.o.Store.FinishWork(ctx, w.ID, r.o.Owner, w.NextRunAt, errText); err != nil && !errors.Is(err, store.ErrConflict) {
		r.o.Log.Warn("work: releasing unit failed", "kind", w.Kind, "key", w.Key, "err", err)
	}
}

// extendLease keeps w's lease alive every LeaseFor/3 until the returned stop is called. When the
// lease is lost it calls lost.
func (r *Runner) extendLease(w store.Work, lost func()) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(max(r.o.LeaseFor/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(r.runCtx, r.o.LeaseFor/3+time.Second)
			err := r.o.Store.ExtendLease(ctx, w.ID, r.o.Owner, r.o.Clock.Now().Add(r.o.LeaseFor))
			cancel()
			if errors.Is(err, store.ErrConflict) {
				r.o.Log.Warn("work: lease lost; cancelling the handler", "kind", w.Kind, "key", w.Key)
				lost()
				return
			}
			if err != nil && r.runCtx.Err() == nil {
				r.o.Log.Warn("work: extending lease failed", "kind", w.Kind, "key", w.Key, "err", err)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-exited }) }
}

// run runs one claimed unit and records its result. The caller holds a slot.
func (r *Runner) run(w store.Work) {
	h := r.handler(w.Kind)
	ctx, cancel := context.WithCancel(r.runCtx)
	stopExtend := r.extendLease(w, cancel)
	var next time.Time
	var err error
	if h == nil {
		err = fmt.Errorf("no handler for work kind %q", w.Kind)
	} else {
		next, err = call(ctx, h, w, r.o.Log)
	}
	stopExtend()
	cancel()
	errText := ""
	if err != nil {
		errText = err.Error()
		next = r.o.Clock.Now().Add(r.o.Backoff(w.Attempts + 1))
		r.o.Log.Warn("work: unit failed", "kind", w.Kind, "key", w.Key, "attempts", w.Attempts+1, "retry_at", next, "err", err)
	}
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(r.runCtx), finishTimeout)
	defer fcancel()
	if err := r.o.Store.FinishWork(fctx, w.ID, r.o.Owner, next, errText); err != nil {
		if errors.Is(err, store.ErrConflict) {
			r.o.Log.Warn("work: lease lost before the unit finished; another node may run it again", "kind", w.Kind, "key", w.Key)
		} else {
			r.o.Log.Error("work: recording unit result failed", "kind", w.Kind, "key", w.Key, "err", err)
		}
	}
}

// call runs h, turning a panic into an error.
func call(ctx context.Context, h Handler, w store.Work, log *slog.Logger) (next time.Time, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("work: handler panicked", "kind", w.Kind, "key", w.Key, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			next, err = time.Time{}, fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h(ctx, w)
}
