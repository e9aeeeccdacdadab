package faults

import (
	"math/rand/v2"
	"sync"
)

// Stream mangles an activity stream the way vendors' feeds are: at least once (a fraction of the
// records comes again in a later batch: Box admin_logs_streaming, the Office 365 Management API),
// out of order (records shuffled within a batch and some held back to the next one: Box, Google
// Reports), and with positions that expire (a test flips ExpireNext; the emulator answers its
// vendor's own expired-cursor answer). It is seeded, so a run can be repeated, and safe for
// concurrent use.
type Stream struct {
	mu        sync.Mutex
	rng       *rand.Rand
	dupRate   float64
	reorder   bool
	expire    bool
	stats     StreamStats
	holdBack  int // with reorder, one record in holdBack is held to the next batch
	minToHold int // ... when the batch has at least this many fresh records
}

// StreamStats count what a Stream did.
type StreamStats struct {
	Duplicated int // records queued to come again
	HeldBack   int // records held back to the next batch by reordering
	Expired    int // cursor reads answered as expired
}

// NewStream returns a Stream that changes nothing until Set; seed makes its draws repeatable.
func NewStream(seed uint64) *Stream {
	return &Stream{rng: rand.New(rand.NewPCG(seed, 0x57ea3)), holdBack: 5, minToHold: 2}
}

// Set makes a fraction duplicateRate (0..1) of the fresh records a batch delivers come again in the
// next batch and, with reorder, shuffles each batch and holds about a fifth of its fresh records
// back to the next (those are not drawn for duplication).
func (s *Stream) Set(duplicateRate float64, reorder bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dupRate, s.reorder = duplicateRate, reorder
}

// ExpireNext makes the next cursor read the emulator asks about (Expired) an expired one.
func (s *Stream) ExpireNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire = true
}

// Expired reports, once after ExpireNext, that the cursor being read has expired; the emulator
// consults it on each read from a cursor and answers as its vendor does for an expired one.
func (s *Stream) Expired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.expire {
		return false
	}
	s.expire = false
	s.stats.Expired++
	return true
}

// Stats returns the counts so far.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Mangle returns the next batch to deliver: the records held back before (*held) and the fresh
// ones, mangled as Set says; what is to come in the next batch (held back, or again) is left in
// *held. Nothing is lost: every fresh record is in this batch or the next, and a call with no fresh
// records releases everything held. A method cannot have a type parameter, hence the function.
func Mangle[T any](s *Stream, held *[]T, fresh []T) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := *held
	*held = nil
	fresh = append([]T(nil), fresh...)
	if s.reorder {
		s.rng.Shuffle(len(fresh), func(i, j int) { fresh[i], fresh[j] = fresh[j], fresh[i] })
		keep := fresh[:0:0]
		for _, r := range fresh {
			if len(fresh) >= s.minToHold && s.rng.IntN(s.holdBack) == 0 {
				*held = append(*held, r)
				s.stats.HeldBack++
			} else {
				keep = append(keep, r)
			}
		}
		fresh = keep
	}
	batch = append(batch, fresh...)
	if s.dupRate > 0 {
		for _, r := range fresh {
			if s.rng.Float64() < s.dupRate {
				*held = append(*held, r)
				s.stats.Duplicated++
			}
		}
	}
	if s.reorder {
		s.rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
	}
	return batch
}
