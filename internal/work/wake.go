package work

import (
	"context"
	"encoding/json"
	"time"
)

// Wake-ups across nodes. A unit scheduled to run now (ScheduleWork) by one node, for example for a
// push notification that reached it, should run at once on whichever node may take it, not at
// that node's next poll. Wake sends the unit's name to every runner through Options.Waker
// (PostgreSQL NOTIFY); a runner receiving it
//
//   - that is running the unit now claims it again as soon as the run ends (the store keeps the
//     request in rerun_at, so the unit is due again then);
//   - otherwise counts the work afresh and claims what is due within its fair share, so the node
//     whose share the unit is in takes it at once; the others leave it, as a poll would.
//
// Nothing depends on a wake-up arriving: a lost one (a listener reconnecting, a node starting)
// costs latency only, as the runners poll every PollInterval; after a listener reconnects its
// runner claims at once, for units woken while it was deaf.

// wakeNotifyTimeout bounds sending one wake-up.
const wakeNotifyTimeout = 5 * time.Second

// wakeMsg is a wake-up's payload.
type wakeMsg struct {
	Kind string `json:"kind,omitempty"` // empty: some work became due (Kick)
	Key  string `json:"key,omitempty"`
	From string `json:"from"` // the sending runner's owner: it has woken itself already
}

// unitName names a unit in running and rerun.
func unitName(kind, key string) string { return kind + "\x00" + key }

// Wake tells every node that the unit kind/key was scheduled to run now: this runner at once,
// the others through Options.Waker. Call it after the schedule committed. It returns when the
// wake-up is sent (a failure is logged: the unit still runs at the next poll).
func (r *Runner) Wake(ctx context.Context, kind, key string) {
	r.wakeLocal(kind, key)
	if r.o.Waker == nil {
		return
	}
	b, err := json.Marshal(wakeMsg{Kind: kind, Key: key, From: r.o.Owner})
	if err == nil {
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wakeNotifyTimeout)
		err = r.o.Waker.NotifyWork(nctx, string(b))
		cancel()
	}
	if err != nil {
		r.o.Log.Warn("work: waking the other nodes failed; the unit runs at their next poll", "kind", kind, "key", key, "err", err)
	}
}

// wakeLocal has this runner claim the unit now, or again right after the run it is in.
func (r *Runner) wakeLocal(kind, key string) {
	r.mu.Lock()
	if r.running[unitName(kind, key)] > 0 {
		r.rerun[unitName(kind, key)] = true
	}
	r.mu.Unlock()
	r.kickLocal()
}

// broadcastKick tells the other nodes, without blocking, that work of some kind became due
// (Kick). One broadcast at a time: kicks meanwhile add nothing, the others count afresh anyway.
func (r *Runner) broadcastKick() {
	if r.o.Waker == nil || !r.kicking.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer r.kicking.Store(false)
		b, _ := json.Marshal(wakeMsg{From: r.o.Owner})
		ctx, cancel := context.WithTimeout(context.Background(), wakeNotifyTimeout)
		defer cancel()
		if err := r.o.Waker.NotifyWork(ctx, string(b)); err != nil {
			r.o.Log.Debug("work: waking the other nodes failed; they look at their next poll", "err", err)
		}
	}()
}

// received handles a wake-up from the Waker: a unit named (Wake), or none (Kick: look for any).
func (r *Runner) received(payload string) {
	var m wakeMsg
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.From == "" {
		r.o.Log.Debug("work: ignoring a malformed wake-up", "bytes", len(payload))
		return
	}
	if m.From == r.o.Owner {
		return
	}
	if m.Kind == "" {
		r.kickLocal()
		return
	}
	if r.handler(m.Kind) == nil {
		return
	}
	r.o.Log.Debug("work: woken", "kind", m.Kind, "key", m.Key, "from", m.From)
	r.wakeLocal(m.Kind, m.Key)
}

// listen runs the Waker's listener until ctx ends.
func (r *Runner) listen(ctx context.Context, done chan struct{}) {
	defer close(done)
	down := false
	r.o.Waker.ListenWork(ctx, r.received, func(err error) {
		if err == nil {
			if down {
				r.o.Log.Info("work: listening for wake-ups again")
				r.kickLocal() // units woken while this node was deaf
			}
			down = false
			return
		}
		if !down {
			r.o.Log.Warn("work: listening for wake-ups failed; polling meanwhile and reconnecting", "err", err)
		}
		down = true
	})
}

// startRunning records that this runner runs w; the returned func records the end and reports
// whether the unit was woken meanwhile.
func (r *Runner) startRunning(kind, key string) (end func() (woken bool)) {
	name := unitName(kind, key)
	r.mu.Lock()
	r.running[name]++
	r.mu.Unlock()
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.running[name]--; r.running[name] > 0 {
			return false
		}
		delete(r.running, name)
		woken := r.rerun[name]
		delete(r.rerun, name)
		return woken
	}
}
