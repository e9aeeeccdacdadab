package faults

import (
	"testing"
	"time"
)

// TestRetries: a retry before the wait is early; one after is not; an identical request that
// arrived before the 429 was written is in flight, not early, and neither grows the backoff nor
// moves the wait; a served request ends the streak.
func TestRetries(t *testing.T) {
	var b Retries
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	backoff := func(k int) time.Duration { return time.Duration(1<<(k-1)) * time.Second }
	const u, sig = "ann", "GET /files?page=2"

	if early, inFlight := b.Arrive(u, sig, t0, t0); early || inFlight {
		t.Fatal("a first request is neither early nor in flight")
	}
	d, first := b.Throttled(u, sig, false, t0, backoff)
	if d != time.Second {
		t.Fatalf("first throttle waits %v, want 1s", d)
	}
	// Another worker's identical request, arrived before the 429 was written.
	early, inFlight := b.Arrive(u, sig, t0, t0)
	if early || !inFlight {
		t.Fatalf("a request arrived before the 429 was written: early %v, in flight %v", early, inFlight)
	}
	if _, ticket := b.Throttled(u, sig, inFlight, t0, backoff); ticket != 0 {
		t.Fatal("an in-flight request's throttle got a ticket")
	}
	b.Written(u, first, t0.Add(time.Millisecond))
	// Its client retries 10 ms later: before the 1 s (not 2 s: the in-flight one did not double it).
	if early, inFlight = b.Arrive(u, sig, t0.Add(10*time.Millisecond), t0.Add(10*time.Millisecond)); !early || inFlight {
		t.Fatalf("a retry 10 ms after the 429: early %v, in flight %v", early, inFlight)
	}
	if early, _ = b.Arrive(u, sig, t0.Add(1500*time.Millisecond), t0.Add(1500*time.Millisecond)); early {
		t.Fatal("a retry after the wait counted as early")
	}
	d, second := b.Throttled(u, sig, false, t0.Add(1500*time.Millisecond), backoff)
	if d != 2*time.Second {
		t.Fatalf("second throttle in a row waits %v, want 2s", d)
	}
	b.Written(u, first, t0.Add(1501*time.Millisecond)) // the first 429's ticket: not this entry's
	if _, inFlight = b.Arrive(u, sig, t0.Add(1502*time.Millisecond), t0.Add(1502*time.Millisecond)); !inFlight {
		t.Fatal("an earlier throttle's ticket marked the new 429 as written")
	}
	b.Written(u, second, t0.Add(1501*time.Millisecond))
	if early, _ = b.Arrive(u, "GET /other", t0.Add(1600*time.Millisecond), t0.Add(1600*time.Millisecond)); early {
		t.Fatal("another request counted as an early retry")
	}
	b.Served(u, sig)
	if early, inFlight = b.Arrive(u, sig, t0.Add(1700*time.Millisecond), t0.Add(1700*time.Millisecond)); early || inFlight {
		t.Fatal("after the request was served, its repeat is neither early nor in flight")
	}
	if d, _ := b.Throttled(u, sig, false, t0.Add(2*time.Second), backoff); d != time.Second {
		t.Fatalf("a throttle after a success waits %v, want 1s (the streak ended)", d)
	}
}
