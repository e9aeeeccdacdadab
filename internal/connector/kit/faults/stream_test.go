package faults

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// feed runs a stream of n records through Mangle in batches of size, then one empty batch (a read
// with nothing new), and returns every batch delivered.
func feed(s *Stream, n, size int) [][]int {
	var held []int
	var out [][]int
	for i := 0; i < n; i += size {
		fresh := make([]int, 0, size)
		for j := i; j < min(i+size, n); j++ {
			fresh = append(fresh, j)
		}
		out = append(out, Mangle(s, &held, fresh))
	}
	out = append(out, Mangle(s, &held, nil))
	if len(held) != 0 {
		panic("records still held after an empty batch")
	}
	return out
}

// TestStreamDeterministic: the same seed mangles the same way; another seed does not.
func TestStreamDeterministic(t *testing.T) {
	run := func(seed uint64) [][]int {
		s := NewStream(seed)
		s.Set(0.3, true)
		return feed(s, 500, 50)
	}
	if diff := cmp.Diff(run(7), run(7)); diff != "" {
		t.Errorf("seed 7 twice differs (-first +second):\n%s", diff)
	}
	if cmp.Equal(run(7), run(8)) {
		t.Errorf("seeds 7 and 8 mangle alike")
	}
}

// TestStreamRatesNothingLost: duplicates come at about the rate asked, reordering moves records
// within and across batches, and every record is delivered at least once.
func TestStreamRatesNothingLost(t *testing.T) {
	const n, size = 5000, 100
	for _, c := range []struct {
		name    string
		dup     float64
		reorder bool
	}{
		{"off", 0, false},
		{"duplicates", 0.2, false},
		{"reorder", 0, true},
		{"both", 0.2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewStream(42)
			s.Set(c.dup, c.reorder)
			batches := feed(s, n, size)
			count := map[int]int{}
			var all []int
			for _, b := range batches {
				for _, r := range b {
					count[r]++
				}
				all = append(all, b...)
			}
			for r := range n {
				if count[r] == 0 {
					t.Fatalf("record %d lost", r)
				}
			}
			extra := len(all) - n
			if got := s.Stats().Duplicated; got != extra {
				t.Errorf("Stats.Duplicated %d, but %d records came again", got, extra)
			}
			// The records delivered in their own batch (not held back) are drawn for duplication: a
			// binomial draw, within 5 standard deviations (about ±140 at 0.2 of 5000).
			held := s.Stats().HeldBack
			want := c.dup * float64(n-held)
			if d := float64(extra) - want; d*d > 25*want*(1-c.dup)+1 {
				t.Errorf("%d duplicates, want about %.0f", extra, want)
			}
			if c.dup > 0 {
				for r, k := range count {
					if k > 2 {
						t.Fatalf("record %d came %d times; a duplicate comes once more", r, k)
					}
				}
			}
			// Reordering changes the order in which records first come; duplicates alone do not.
			var first []int
			seen := map[int]bool{}
			for _, r := range all {
				if !seen[r] {
					seen[r] = true
					first = append(first, r)
				}
			}
			if sorted := slices.IsSorted(first); sorted == c.reorder {
				t.Errorf("reorder %v, but the records first came in order: %v", c.reorder, sorted)
			}
			if !c.reorder && held != 0 {
				t.Errorf("%d held back without reordering", held)
			}
			if c.reorder && (held < n/5-5*40 || held > n/5+5*40) { // n/5 ± 5σ (σ≈28)
				t.Errorf("%d held back to the next batch, want about %d", held, n/5)
			}
			if !c.reorder && c.dup == 0 {
				if diff := cmp.Diff(feed(NewStream(42), n, size), batches); diff != "" {
					t.Errorf("an unset stream changed the batches:\n%s", diff)
				}
			}
		})
	}
}

// TestStreamExpireNext: ExpireNext expires exactly the next cursor read.
func TestStreamExpireNext(t *testing.T) {
	s := NewStream(1)
	if s.Expired() {
		t.Fatal("expired before ExpireNext")
	}
	s.ExpireNext()
	if !s.Expired() || s.Expired() {
		t.Fatal("ExpireNext must expire one read, once")
	}
	if s.Stats().Expired != 1 {
		t.Fatalf("Stats.Expired = %d", s.Stats().Expired)
	}
}
