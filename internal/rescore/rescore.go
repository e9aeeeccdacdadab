// Package rescore applies the current risk settings to events already stored (issue 16,
// docs/RISK.md "Re-scoring stored events"). Ingest gives every event its risk once, with the
// settings of the time; an admin who changes the weights, bands, working hours or trusted domains
// starts a re-score job over a chosen range of observed time, and the job rewrites the stored risk
// of each event of the range in place, page by page. The job's position commits with each page,
// so a crash or a restart resumes where the last page committed, on whichever node holds the
// job's work unit.
//
// A re-score raises no alert: it writes no event_updates row (those make the alert evaluator judge
// an event again). docs/RISK.md says why.
package rescore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/work"
)

// WorkKind is the work kind of a re-score job; the unit's key is the job's id.
const WorkKind = "risk.rescore"

// MaxRange bounds a job's range of observed time.
const MaxRange = 5 * 366 * 24 * time.Hour

// Store is what re-scoring uses.
type Store interface {
	InTx(ctx context.Context, fn func(q store.Queries) error) error
	store.RescoreQueries
	store.SettingQueries
}

// Snapshot is what a job applies, taken from the settings when it starts.
type Snapshot struct {
	Risk              risk.Config       `json:"risk"`
	TrustedDomains    []string          `json:"trusted_domains"`
	TrustedActivities []risk.TrustEntry `json:"trusted_activities,omitempty"`
}

// Error is a refused request: the field and why.
type Error struct{ Field, Msg string }

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// ErrRunning refuses a job while another one runs.
var ErrRunning = errors.New("a re-score job is running already: wait for it to end or cancel it")

// Start validates the range and starts a job with the current settings (defaultRetentionDays as
// settings.Load takes it): the job and its work unit commit together.
func Start(ctx context.Context, st Store, from, to time.Time, by string, defaultRetentionDays int, now time.Time) (store.RescoreJob, error) {
	switch {
	case from.IsZero():
		return store.RescoreJob{}, &Error{"from", "required: the start of the range of observed time, e.g. 2026-11-01T00:00:00Z"}
	case to.IsZero():
		return store.RescoreJob{}, &Error{"to", "required: the end of the range of observed time (excluded), e.g. 2026-12-01T00:00:00Z"}
	case !from.Before(to):
		return store.RescoreJob{}, &Error{"to", fmt.Sprintf("%s is not after from (%s): the range is empty", to.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))}
	case to.Sub(from) > MaxRange:
		return store.RescoreJob{}, &Error{"to", fmt.Sprintf("the range spans %d days; at most %d: re-score in parts", int(to.Sub(from).Hours()/24), int(MaxRange.Hours()/24))}
	}
	s, err := settings.Load(ctx, st, defaultRetentionDays)
	if err != nil {
		return store.RescoreJob{}, err
	}
	cfg, err := risk.Normalize(s.Risk)
	if err != nil {
		return store.RescoreJob{}, fmt.Errorf("the stored risk settings are not valid (%v): save them again first", err)
	}
	b, err := json.Marshal(Snapshot{Risk: cfg, TrustedDomains: s.TrustedDomains, TrustedActivities: s.TrustedActivities})
	if err != nil {
		return store.RescoreJob{}, err
	}
	var j store.RescoreJob
	err = st.InTx(ctx, func(q store.Queries) error {
		var err error
		j, err = q.CreateRescoreJob(ctx, store.RescoreJob{From: from.UTC(), To: to.UTC(), Settings: b, CreatedBy: by, CreatedAt: now})
		if errors.Is(err, store.ErrConflict) {
			return ErrRunning
		}
		if err != nil {
			return err
		}
		_, err = q.ScheduleWork(ctx, store.Work{Kind: WorkKind, Key: strconv.FormatInt(j.ID, 10), NextRunAt: now})
		return err
	})
	return j, err
}

// Cancel stops a running job: the pages done stay re-scored. ErrNotFound when there is no such
// job, ErrConflict when it is not running.
func Cancel(ctx context.Context, st Store, id int64, now time.Time) error {
	return st.FinishRescoreJob(ctx, id, store.RescoreCancelled, "", now)
}

// Options configure a Rescorer; zero fields get the defaults noted.
type Options struct {
	Store Store
	Clock clock.Clock  // default clock.Real
	Log   *slog.Logger // default: discard
	// Page is how many events one transaction re-scores; default 500.
	Page int
	// Budget is how long one run of a job's unit works before yielding; default 10s.
	Budget time.Duration
	// Hook, when set, runs in each page's transaction before the commit (tests make it fail).
	Hook func(q store.Queries) error
}

// Rescorer runs re-score jobs.
type Rescorer struct{ o Options }

// New returns a Rescorer.
func New(o Options) *Rescorer {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Page <= 0 {
		o.Page = 500
	}
	if o.Budget <= 0 {
		o.Budget = 10 * time.Second
	}
	return &Rescorer{o: o}
}

// Register adds the job handler to the runner.
func (r *Rescorer) Register(w *work.Runner) { w.Handle(WorkKind, r.run) }

func (r *Rescorer) run(ctx context.Context, w store.Work) (time.Time, error) {
	id, err := strconv.ParseInt(w.Key, 10, 64)
	if err != nil {
		return time.Time{}, nil // not a job's unit: nothing to do, the unit goes
	}
	start := r.o.Clock.Now()
	for {
		done, err := r.Step(ctx, id)
		if err != nil {
			return time.Time{}, err // the runner retries with backoff, from the committed position
		}
		now := r.o.Clock.Now()
		if done {
			return time.Time{}, nil
		}
		if now.Sub(start) >= r.o.Budget {
			return now, nil // more to do: yield to other work, run again at once
		}
	}
}

// Step re-scores the job's next page and reports whether the job has ended (done, failed,
// cancelled, or gone). The page's new risks and the job's new position commit together.
func (r *Rescorer) Step(ctx context.Context, id int64) (bool, error) {
	j, err := r.o.Store.GetRescoreJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if j.State != store.RescoreRunning {
		return true, nil
	}
	now := r.o.Clock.Now()
	var snap Snapshot
	sc, err := scorer(j.Settings, &snap)
	if err != nil {
		r.o.Log.Warn("rescore: the job's settings are not valid", "job", id, "err", err)
		return true, ignoreConflict(r.o.Store.FinishRescoreJob(ctx, id, store.RescoreFailed, "its settings are not valid: "+err.Error(), now))
	}
	page, err := r.o.Store.RescorePage(ctx, j, r.o.Page)
	if err != nil {
		return false, err
	}
	if len(page) == 0 {
		r.o.Log.Info("rescore: job done", "job", id, "scanned", j.Scanned, "changed", j.Changed)
		return true, ignoreConflict(r.o.Store.FinishRescoreJob(ctx, id, store.RescoreDone, "", now))
	}
	var changed []*event.FileEvent
	for i := range page {
		e := &page[i]
		if nr := Assess(sc, e); !sameRisk(nr, e.Risk) {
			e.Risk = nr
			changed = append(changed, e)
		}
	}
	last := page[len(page)-1]
	err = r.o.Store.InTx(ctx, func(q store.Queries) error {
		if _, err := q.SetEventRisks(ctx, changed); err != nil {
			return err
		}
		if err := q.AdvanceRescoreJob(ctx, j, last.Timestamp, last.Event.ID, int64(len(page)), int64(len(changed)), now); err != nil {
			return err
		}
		if r.o.Hook != nil {
			return r.o.Hook(q)
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return false, nil // cancelled, or another run moved it first: the next step reads it again
	}
	return false, err
}

func ignoreConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

func scorer(b []byte, snap *Snapshot) (*risk.Scorer, error) {
	if err := json.Unmarshal(b, snap); err != nil {
		return nil, err
	}
	sc, err := risk.NewScorer(snap.Risk, snap.TrustedDomains)
	if err != nil {
		return nil, err
	}
	return sc.WithTrust(snap.TrustedActivities), nil
}

// Assess returns a stored event's risk under sc's settings. What the event's risk recorded as a
// fact of its time is kept: first use (the person had not used the destination before; the
// destinations it names are judged again, so a destination trusted now is no longer first use),
// and the watchlists the person was on. A first use not recorded (its weight was 0 then) cannot be
// learned afterwards.
func Assess(sc *risk.Scorer, e *event.FileEvent) event.Risk {
	var lists []string
	for _, i := range e.Risk.Indicators {
		if t, ok := strings.CutPrefix(i, event.WatchlistIndicatorPrefix); ok {
			lists = append(lists, t)
		}
	}
	sc.WithWatchlists(func(string) []string { return lists })
	var firstUse []string
	if slices.Contains(e.Risk.Indicators, event.IndicatorFirstUse) {
		firstUse = sc.Destinations(e)
	}
	return sc.Assess(e, firstUse)
}

func sameRisk(a, b event.Risk) bool {
	if len(a.Indicators) == 0 && len(b.Indicators) == 0 {
		a.Indicators, b.Indicators = nil, nil
	}
	if len(a.Reasons) == 0 && len(b.Reasons) == 0 {
		a.Reasons, b.Reasons = nil, nil
	}
	return reflect.DeepEqual(a, b)
}
