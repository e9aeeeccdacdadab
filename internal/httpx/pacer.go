package httpx

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// KeyStats counts what happened under one key.
type KeyStats struct {
	Requests  int64 // attempts sent (first tries and retries)
	Retries   int64 // attempts that were retries
	Throttled int64 // throttle answers seen (429, 503 with Retry-After, or a vendor's classified throttle)
}

// keyState is the pacer of one key: an optional rate limiter for call starts and the Retry-After fence.
type keyState struct {
	lim   *rate.Limiter // nil: not paced
	own   bool          // lim was set for this key by SetRate(key, ...), not taken from the default
	fence time.Time     // no request of the key starts before this
	stats KeyStats
	// streaks count each request's throttles in a row (by method and URL) across calls, for
	// Options.ThrottleWait: a request given up on and sent again by a later call continues the
	// vendor's exponential backoff instead of starting it over.
	streaks map[string]streak
}

// streak is a request's throttles in a row and when the last one was.
type streak struct {
	n    int
	last time.Time
}

// streakMax bounds a key's remembered streaks; streakIdle forgets a streak not throttled for
// that long (past any vendor's maximum backoff).
const (
	streakMax  = 4096
	streakIdle = 10 * time.Minute
)

// throttleStreak records a throttle of request sig under key and returns its throttles in a row.
func (c *Client) throttleStreak(key, sig string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.state(key)
	now := c.now()
	if ks.streaks == nil || len(ks.streaks) >= streakMax {
		ks.streaks = map[string]streak{}
	}
	st := ks.streaks[sig]
	if now.Sub(st.last) > streakIdle {
		st.n = 0
	}
	st.n++
	st.last = now
	ks.streaks[sig] = st
	return st.n
}

// endStreak forgets request sig's throttles once it succeeds.
func (c *Client) endStreak(key, sig string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ks := c.keys[key]; ks != nil {
		delete(ks.streaks, sig)
	}
}

func newLimiter(perMinute float64, burst int) *rate.Limiter {
	if perMinute <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perMinute/60), max(burst, 1))
}

// state returns key's state, creating it with the default rate. c.mu must be held.
func (c *Client) state(key string) *keyState {
	ks := c.keys[key]
	if ks == nil {
		ks = &keyState{lim: newLimiter(c.defRate, c.defBurst)}
		c.keys[key] = ks
	}
	return ks
}

// SetRate paces key at perMinute request starts per minute with the given burst. With key "" it sets the default
// for every key without a rate of its own; each such key gets its own bucket (the pacing is per principal, not
// shared). perMinute <= 0 removes the limit: for "" the default, for a key its own rate (it follows the default
// again).
func (c *Client) SetRate(key string, perMinute float64, burst int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if key == "" {
		c.defRate, c.defBurst = perMinute, burst
		for _, ks := range c.keys {
			if !ks.own {
				ks.lim = newLimiter(perMinute, burst)
			}
		}
		return
	}
	ks := c.state(key)
	if perMinute <= 0 {
		ks.own = false
		ks.lim = newLimiter(c.defRate, c.defBurst)
		return
	}
	ks.own = true
	ks.lim = newLimiter(perMinute, burst)
}

// ThrottledUntil reports until when key is fenced by a Retry-After (the zero time when it is not). A key ending
// in "*" is a prefix: the latest fence of any key starting with it.
func (c *Client) ThrottledUntil(key string) time.Time {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var until time.Time
	prefix, isPrefix := strings.CutSuffix(key, "*")
	for k, ks := range c.keys {
		if (k == key || isPrefix && strings.HasPrefix(k, prefix)) && ks.fence.After(now) && ks.fence.After(until) {
			until = ks.fence
		}
	}
	return until
}

// Stats returns a copy of the counters of every key seen.
func (c *Client) Stats() map[string]KeyStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]KeyStats, len(c.keys))
	for k, ks := range c.keys {
		out[k] = ks.stats
	}
	return out
}

func (c *Client) count(key string, f func(*KeyStats)) {
	c.mu.Lock()
	f(&c.state(key).stats)
	c.mu.Unlock()
}

// setFence moves key's fence to until unless it is already later, and returns the fence in force.
func (c *Client) setFence(key string, until time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.state(key)
	if until.After(ks.fence) {
		ks.fence = until
	}
	return ks.fence
}

// waitTurn blocks until key may start a request: past its fence and given a token by its rate limiter. A fence
// further away than MaxWait fails at once with ErrThrottled.
func (c *Client) waitTurn(ctx context.Context, key string) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := c.now()
		c.mu.Lock()
		ks := c.state(key)
		fence := ks.fence
		if fence.After(now) {
			c.mu.Unlock()
			w := fence.Sub(now)
			if w > c.o.MaxWait {
				return &ThrottledError{Key: key, Until: fence, msg: fmt.Sprintf("%v: %s may not send before %s (%s away, longer than MaxWait %s): try again later",
					ErrThrottled, key, fence.UTC().Format(time.RFC3339), w.Round(time.Second), c.o.MaxWait)}
			}
			if err := c.sleep(ctx, w); err != nil {
				return err
			}
			continue
		}
		if ks.lim == nil {
			c.mu.Unlock()
			return nil
		}
		lim := ks.lim
		r := lim.ReserveN(now, 1)
		c.mu.Unlock()
		d := r.DelayFrom(now)
		if d <= 0 {
			return nil
		}
		if err := c.sleep(ctx, d); err != nil {
			r.CancelAt(c.now())
			return err
		}
		// A throttle seen while this request was being paced fences it too.
		after := c.now()
		c.mu.Lock()
		fenced := c.state(key).fence.After(after)
		c.mu.Unlock()
		if !fenced {
			return nil
		}
	}
}
