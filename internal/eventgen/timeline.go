package eventgen

import (
	"slices"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// Timeline yields a fixed number of events in roughly the order a collector stores them: day by
// day through the window, in observed order within a day, with a few events delivered late (their
// observed time up to three days before the events around them), as vendors' audit logs do. The
// events are Gen's (same people, skew, actions, names and sharing); days carry Gen's weekday shape
// (a weekend day gets a quarter of a weekday's events) and each event keeps Gen's time of day.
// Benchmarks load a database through it: a real store fills in this order, which decides how the
// rows of one person or one day sit on disk. It is not safe for concurrent use.
type Timeline struct {
	g      *Gen
	total  int
	day    int   // next day to generate
	counts []int // events per day
	buf    []event.FileEvent
	late   float64 // share of late events
}

// NewTimeline returns a Timeline of total events over o's window.
func NewTimeline(o Options, total int) *Timeline {
	g := New(o)
	t := &Timeline{g: g, total: total, late: 0.02}
	weights := make([]float64, g.o.Days)
	sum := 0.0
	for d := range weights {
		weights[d] = 1
		if wd := g.start.Add(time.Duration(d) * 24 * time.Hour).Weekday(); wd == time.Saturday || wd == time.Sunday {
			weights[d] = 0.25
		}
		sum += weights[d]
	}
	t.counts = make([]int, g.o.Days)
	given := 0
	for d, w := range weights {
		t.counts[d] = int(float64(total) * w / sum)
		given += t.counts[d]
	}
	for d := len(t.counts) - 1; given < total; d-- { // rounding: the rest to the last days
		t.counts[d]++
		given++
	}
	return t
}

// Start is the beginning of the window (the first day's midnight, UTC).
func (t *Timeline) Start() time.Time { return t.g.start }

// End is the end of the window.
func (t *Timeline) End() time.Time { return t.g.o.End }

// Next returns the next event and false when all total events have been returned.
func (t *Timeline) Next() (event.FileEvent, bool) {
	for len(t.buf) == 0 {
		if t.day >= len(t.counts) {
			return event.FileEvent{}, false
		}
		t.fill(t.day)
		t.day++
	}
	e := t.buf[0]
	t.buf = t.buf[1:]
	return e, true
}

// fill generates day d's events in observed order.
func (t *Timeline) fill(d int) {
	day := t.g.start.Add(time.Duration(d) * 24 * time.Hour)
	evs := make([]event.FileEvent, t.counts[d])
	for i := range evs {
		e := t.g.Next()
		tod := e.Timestamp.Sub(e.Timestamp.Truncate(24 * time.Hour))
		e.Timestamp = day.Add(tod)
		evs[i] = e
	}
	slices.SortStableFunc(evs, func(a, b event.FileEvent) int { return a.Timestamp.Compare(b.Timestamp) })
	for i := range evs {
		if t.g.r.Float64() < t.late {
			back := time.Duration(t.g.r.Int64N(int64(72 * time.Hour)))
			if ts := evs[i].Timestamp.Add(-back); !ts.Before(t.g.start) {
				evs[i].Timestamp = ts
			}
		}
	}
	t.buf = evs
}
