package hr

import (
	"context"
	"time"

	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/work"
)

// WorkPoll is the poller's work kind: one unit (key "all") that any node may hold; it syncs each
// connected Workday and BambooHR source whose last sync is Interval old.
const WorkPoll = "hr.poll"

// Register adds the poller to the runner.
func (s *Service) Register(r *work.Runner) {
	r.Handle(WorkPoll, func(ctx context.Context, _ store.Work) (time.Time, error) { return s.PollDue(ctx) })
}

// Unit is the poller's unit, to EnsureWork at start.
func (s *Service) Unit() store.Work {
	return store.Work{Kind: WorkPoll, Key: "all", NextRunAt: s.o.Clock.Now()}
}

// PollDue syncs the sources that are due and returns when to look again. A source's failure is
// recorded on it (its condition and error) and does not stop the others.
func (s *Service) PollDue(ctx context.Context) (time.Time, error) {
	is, err := s.st.ListIntegrations(ctx)
	if err != nil {
		return time.Time{}, err
	}
	next := s.o.Clock.Now().Add(time.Minute)
	for _, i := range is {
		if (i.Kind != integration.KindWorkday && i.Kind != integration.KindBambooHR) || i.Status != store.IntegrationConnected {
			continue
		}
		st, err := s.st.GetHRSync(ctx, i.ID)
		if err != nil {
			return time.Time{}, err
		}
		if due := st.LastSyncAt.Add(s.o.Interval); !st.LastSyncAt.IsZero() && s.o.Clock.Now().Before(due) {
			if due.Before(next) {
				next = due
			}
			continue
		}
		if _, err := s.Sync(ctx, i.ID); err != nil {
			s.o.Log.Warn("hr: a source's sync failed", "source", i.ID, "kind", i.Kind, "err", err)
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
	}
	return next, nil
}
