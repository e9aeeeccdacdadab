package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// pausingMarks is a page's transaction that, after its first mark of destinations, waits until
// the other page's transaction has made its first mark too (or until wait passes: the other is
// waiting for a row this one holds).
type pausingMarks struct {
	store.DestinationQueries
	once       sync.Once
	mine, them chan struct{}
	wait       time.Duration
}

func (p *pausingMarks) MarkDestinationsAt(ctx context.Context, person string, dests []string, at []time.Time) ([]string, error) {
	fresh, err := p.DestinationQueries.MarkDestinationsAt(ctx, person, dests, at)
	p.once.Do(func() {
		close(p.mine)
		select {
		case <-p.them:
		case <-time.After(p.wait):
		}
	})
	return fresh, err
}

// TestAssessPagesSideBySide (PostgreSQL): two nodes' pages share two people who each send to a
// destination new to them, in opposite time orders, and are assessed at once in two transactions
// that pause after their first mark until the other has made its first. Marked event by event
// in page order, each would hold one person's row and wait for the other's: a deadlock, one page
// failed and redone (seen in the nodes benchmark's logs, 7-8 times a run). Marked a person at a
// time in key order (assessPage), the second waits for the first: both commit, and each person's
// first use is counted once, on the page that committed first.
func TestAssessPagesSideBySide(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sc, err := risk.NewScorer(risk.Defaults(), []string{"corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	share := func(who, with string, at time.Time) event.FileEvent {
		return event.FileEvent{Timestamp: at, User: event.User{Email: who},
			Event:   event.Meta{Action: event.ActionShared, Observer: event.ObserverBox},
			File:    event.File{ID: "f-" + who, Name: "plan.xlsx"},
			Sharing: event.Sharing{SharedWith: []string{with}}}
	}
	pages := [2][]event.FileEvent{
		{share("ann@corp.example", "x@vendor.example", t0), share("bob@corp.example", "y@rival.example", t0.Add(time.Second))},
		{share("bob@corp.example", "y@rival.example", t0), share("ann@corp.example", "x@vendor.example", t0.Add(time.Second))},
	}
	if len(sc.Destinations(&pages[0][0])) == 0 {
		t.Fatal("the scorer finds no destination to mark: the test would prove nothing")
	}
	signals := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var wg sync.WaitGroup
	var errs [2]error
	for i := range pages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.InTx(ctx, func(q store.Queries) error {
				evs := make([]*event.FileEvent, len(pages[i]))
				for j := range pages[i] {
					evs[j] = &pages[i][j]
				}
				return assessPage(ctx, &pausingMarks{DestinationQueries: q, mine: signals[i], them: signals[1-i], wait: 3 * time.Second}, sc, evs)
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("page %d: %v", i+1, err)
		}
	}
	firstUses := map[string]int{}
	for i := range pages {
		for _, e := range pages[i] {
			for _, ind := range e.Risk.Indicators {
				if ind == event.IndicatorFirstUse {
					firstUses[e.User.Email]++
				}
			}
		}
	}
	if firstUses["ann@corp.example"] != 1 || firstUses["bob@corp.example"] != 1 {
		t.Errorf("first uses %v, want one each", firstUses)
	}
}
