package auth

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sign-in throttling: a guessed password costs an attacker a sign-in attempt, so attempts are
// limited where they come from. Per user name and client address: after failedPerUser failures
// within throttleWindow, that pair is refused until the window (counted from its first failure)
// ends; a success clears the pair. Per client address: failedPerAddr failures within the window
// (password spraying across user names) refuse the address. Keying the user's limit on the address
// too means an attacker cannot lock a user out from everywhere by failing on purpose. The counts
// are this node's (in memory): with several nodes each limits what reaches it.
const (
	throttleWindow = 15 * time.Minute
	failedPerUser  = 5
	failedPerAddr  = 50
	throttleKeys   = 100000 // bound on remembered keys; expired ones go first
)

// ErrThrottled is wrapped by the error of a sign-in refused for too many recent failures; the error
// is a *ThrottledError saying when to try again.
var ErrThrottled = fmt.Errorf("%w: too many failed sign-ins", ErrUnauthenticated)

// ThrottledError is a sign-in refused for too many recent failures.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins from this address: try again in %s", e.RetryAfter.Round(time.Second))
}

func (e *ThrottledError) Unwrap() error { return ErrThrottled }

type failures struct {
	n     int
	start time.Time // first failure of the window
}

type throttle struct {
	mu   sync.Mutex
	keys map[string]*failures
}

func userKey(username, addr string) string {
	return "u\x00" + strings.ToLower(strings.TrimSpace(username)) + "\x00" + addr
}
func addrKey(addr string) string { return "a\x00" + addr }

// blocked returns how long the attempt must wait, or 0 when it may go ahead. first says whether
// this is the first refusal of the key's window (to audit once, not every hammered attempt).
func (t *throttle) blocked(username, addr string, now time.Time) (wait time.Duration, first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range []struct {
		key   string
		limit int
	}{{userKey(username, addr), failedPerUser}, {addrKey(addr), failedPerAddr}} {
		f := t.keys[k.key]
		if f == nil || now.Sub(f.start) >= throttleWindow || now.Before(f.start) {
			continue
		}
		if f.n >= k.limit {
			f.n++
			return f.start.Add(throttleWindow).Sub(now), f.n == k.limit+1
		}
	}
	return 0, false
}

// failed counts a failed attempt.
func (t *throttle) failed(username, addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = map[string]*failures{}
	}
	if len(t.keys) >= throttleKeys {
		for k, f := range t.keys {
			if now.Sub(f.start) >= throttleWindow {
				delete(t.keys, k)
			}
		}
		for k := range t.keys { // still full: forget arbitrary keys rather than grow
			if len(t.keys) < throttleKeys*9/10 {
				break
			}
			delete(t.keys, k)
		}
	}
	for _, key := range []string{userKey(username, addr), addrKey(addr)} {
		f := t.keys[key]
		if f == nil || now.Sub(f.start) >= throttleWindow || now.Before(f.start) {
			t.keys[key] = &failures{n: 1, start: now}
			continue
		}
		f.n++
	}
}

// succeeded clears the user name's failures from the address.
func (t *throttle) succeeded(username, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, userKey(username, addr))
}

// clearUser forgets the user name's failures from every address: a password reset (or a change)
// ends the lockout it advises.
func (t *throttle) clearUser(username string) {
	prefix := userKey(username, "")
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.keys {
		if strings.HasPrefix(k, prefix) {
			delete(t.keys, k)
		}
	}
}

// ClientAddr is the address a request comes from: the connection's peer, or with trustProxy (only
// behind a proxy the operator runs, which sets it) the first address of X-Forwarded-For.
func ClientAddr(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
