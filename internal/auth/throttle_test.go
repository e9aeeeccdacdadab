package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// TestSignInThrottle: five failures for one user name from one address refuse that pair, even with
// the right password, until the window ends; the user still signs in from elsewhere; a success
// clears the pair; fifty failures from an address refuse it for every name.
func TestSignInThrottle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.CreateUser(ctx, "alice", "", RoleAnalyst, "correct horse battery", false); err != nil {
		t.Fatal(err)
	}
	const a, b = "198.51.100.7", "203.0.113.9"
	for i := 0; i < failedPerUser; i++ {
		if _, _, err := f.svc.Login(ctx, "alice", "wrong password!", a); !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrThrottled) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, _, err := f.svc.Login(ctx, "Alice ", "correct horse battery", a)
	var th *ThrottledError
	if !errors.As(err, &th) || !errors.Is(err, ErrUnauthenticated) || th.RetryAfter <= 0 || th.RetryAfter > throttleWindow {
		t.Fatalf("sixth attempt, right password: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, "alice", "correct horse battery", b); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	f.clk.Advance(throttleWindow)
	if _, _, err := f.svc.Login(ctx, "alice", "correct horse battery", a); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// A success clears the failures: four, a success, four more are not throttled.
	for round := 0; round < 2; round++ {
		for i := 0; i < failedPerUser-1; i++ {
			f.svc.Login(ctx, "alice", "wrong password!", a)
		}
		if _, _, err := f.svc.Login(ctx, "alice", "correct horse battery", a); err != nil {
			t.Fatalf("round %d: a success after %d failures: %v", round, failedPerUser-1, err)
		}
	}
	// Spraying many names from one address.
	const c = "192.0.2.99"
	for i := 0; i < failedPerAddr; i++ {
		f.svc.Login(ctx, "user"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "guess-"+time.Duration(i).String(), c)
	}
	if _, _, err := f.svc.Login(ctx, "alice", "correct horse battery", c); !errors.Is(err, ErrThrottled) {
		t.Errorf("after %d failures from one address: %v", failedPerAddr, err)
	}

	// The audit log has the sign-ins and refusals (a throttled pair once), never a typed unknown name.
	f.svc.Login(ctx, "my-password-typed-as-name", "x", b)
	_, cookie, err := f.svc.Login(ctx, "alice", "correct horse battery", b)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(ctx, cookie, b); err != nil {
		t.Fatal(err)
	}
	es, err := f.st.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range es {
		count[e.Action+" "+e.Outcome]++
		if strings.Contains(e.Actor+string(e.Details), "my-password-typed-as-name") {
			t.Errorf("audit entry holds a typed unknown name: %+v", e)
		}
		if e.ClientIP == "" || e.Target != "session" {
			t.Errorf("audit entry without address or target: %+v", e)
		}
	}
	want := map[string]int{
		"session.create ok":                    5,
		"session.create 401 Unauthorized":      2*(failedPerUser-1) + failedPerUser + failedPerAddr + 1,
		"session.create 429 Too Many Requests": 2, // alice from a, then the address c
		"session.delete ok":                    1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d audit entries %q, want %d (all: %v)", count[k], k, n, count)
		}
	}
	last := es[0]
	if last.Action != "session.delete" || last.Actor != "alice" || last.ClientIP != b {
		t.Errorf("newest audit entry %+v, want alice's sign-out from %s", last, b)
	}
}
