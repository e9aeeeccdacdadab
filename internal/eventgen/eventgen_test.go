package eventgen

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDeterministicAndValid(t *testing.T) {
	a, b := New(Options{Seed: 7}).Batch(2000), New(Options{Seed: 7}).Batch(2000)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different events:\n%s", diff)
	}
	actors := map[string]int{}
	keys := map[[16]byte]bool{}
	for _, e := range a {
		if err := e.Validate(); err != nil {
			t.Fatalf("invalid event %+v: %v", e, err)
		}
		actors[e.User.Email]++
		keys[e.DedupeKey()] = true
	}
	if len(keys) != len(a) {
		t.Errorf("%d distinct dedupe keys for %d events", len(keys), len(a))
	}
	// Skewed: the busiest person does far more than the average.
	most := 0
	for _, n := range actors {
		most = max(most, n)
	}
	if avg := len(a) / len(actors); most < 5*avg {
		t.Errorf("not skewed: max %d, average %d", most, avg)
	}
}
