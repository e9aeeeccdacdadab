package faults

import "time"

// Retries tells, for an emulator, a client's retry sent before the wait its 429 asked for (an
// early retry: the client did not honor Retry-After or the vendor's backoff) from an identical
// request that was merely in flight when the 429 was written (two workers reading one page: not a
// retry, since its client could not have read the answer yet). It keeps one throttled request per
// key (a user, or the request itself), with how many times in a row it was throttled, for
// vendors whose backoff grows (Google). An emulator cannot tell a client's workers apart, so an
// identical request another worker sends after that 429 was written counts as early too: a
// connector should not ask for the same thing twice at once (the Google Drive connector's members
// lookup, sent by a shared drive's index and stream together, did, and one run in fifty under a
// loaded CPU failed its throttling case for it). Not safe for concurrent use: the emulator's lock
// guards it.
type Retries struct {
	m   map[string]retry
	gen uint64
}

type retry struct {
	sig     string // method and URI
	times   int    // throttles of sig in a row
	until   time.Time
	written time.Time // real time the 429 was written; zero while it is being written
	gen     uint64    // which throttle made it (Written applies to its own)
}

// maxRetries bounds the book; past it, it starts again empty (an early retry may go uncounted).
const maxRetries = 10000

// Arrive notes request sig of key, which arrived at arrived (real time), at emulator time now,
// and reports whether it repeats key's throttled request before its wait ended, and whether it is an identical request that arrived before that 429 was written.
func (b *Retries) Arrive(key, sig string, arrived, now time.Time) (early, inFlight bool) {
	last, ok := b.m[key]
	if !ok || last.sig != sig {
		return false, false
	}
	if last.written.IsZero() || arrived.Before(last.written) {
		return false, true
	}
	return now.Before(last.until), false
}

// Throttled records that key's request sig is answered 429, asking for wait(k), where k counts
// the throttles of sig in a row, and returns that wait and a ticket for Written. An identical
// request in flight (inFlight from Arrive) changes nothing and gets no ticket: its client has seen
// one throttle, as the first one's has, so the backoff does not grow for it and the first answer's
// wait stands.
func (b *Retries) Throttled(key, sig string, inFlight bool, now time.Time, wait func(k int) time.Duration) (time.Duration, uint64) {
	last, ok := b.m[key]
	if inFlight && ok {
		return wait(last.times), 0
	}
	k := 1
	if ok && last.sig == sig {
		k = last.times + 1
	}
	if b.m == nil || len(b.m) >= maxRetries {
		b.m = map[string]retry{}
	}
	d := wait(k)
	b.gen++
	b.m[key] = retry{sig: sig, times: k, until: now.Add(d), gen: b.gen}
	return d, b.gen
}

// Written records when the 429 that Throttled gave ticket to was written (real time): requests
// arriving from then on could have read it. A later throttle of the key has its own ticket.
func (b *Retries) Written(key string, ticket uint64, at time.Time) {
	if last, ok := b.m[key]; ok && ticket != 0 && last.gen == ticket && last.written.IsZero() {
		last.written = at
		b.m[key] = last
	}
}

// Served forgets key's throttled request once sig is answered: the streak is over (for vendors
// whose backoff grows with the throttles in a row; with several clients sending the same request
// it can hide an early retry, so the others keep the entry until it is replaced).
func (b *Retries) Served(key, sig string) {
	if last, ok := b.m[key]; ok && last.sig == sig {
		delete(b.m, key)
	}
}
