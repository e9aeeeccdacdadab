package health

import (
	"slices"
	"time"
)

// The silence rule (docs/OPERATIONS.md "A connection gone silent"): a connection's rhythm is read
// from when its events arrived (stored, not vendor time) over the last RhythmHistory, at most its
// RhythmArrivals newest events. Events stored within ArrivalJoin of each other are one arrival
// (a page). The expected gap is the 90th percentile of the gaps between arrivals; the connection
// is silent once the time since its last arrival exceeds
//
//	SilentAfter = min(max(3 × expected gap, MinSilence), expected gap + 1 hour)
//
// so a busy connection is flagged within minutes (never sooner than MinSilence) and a quiet one
// at most an hour after its usual longest wait. Fewer than MinArrivals arrivals: not judged.
const (
	RhythmHistory  = 7 * 24 * time.Hour
	RhythmArrivals = 2000
	ArrivalJoin    = 2 * time.Second
	MinSilence     = 10 * time.Minute
	MinArrivals    = 8
)

// Rhythm is a connection's usual pace of arrivals.
type Rhythm struct {
	Arrivals    int           // arrivals (pages) read
	Last        time.Time     // the newest arrival
	ExpectedGap time.Duration // 0: not enough history
	SilentAfter time.Duration // 0: not enough history
}

// RhythmOf reads a rhythm from insertion times, newest first (store.ListArrivals).
func RhythmOf(inserted []time.Time) Rhythm {
	var r Rhythm
	if len(inserted) == 0 {
		return r
	}
	r.Last = inserted[0]
	var gaps []time.Duration
	prev := inserted[0]
	r.Arrivals = 1
	for _, t := range inserted[1:] {
		if prev.Sub(t) < ArrivalJoin {
			continue // the same page (or one right after it)
		}
		gaps = append(gaps, prev.Sub(t))
		prev = t
		r.Arrivals++
	}
	if r.Arrivals < MinArrivals {
		return r
	}
	slices.Sort(gaps)
	r.ExpectedGap = gaps[(len(gaps)*9+9)/10-1] // the 90th percentile, nearest rank
	r.SilentAfter = min(max(3*r.ExpectedGap, MinSilence), r.ExpectedGap+time.Hour)
	return r
}

// Silent reports whether the connection has been quiet for longer than its rhythm allows at now.
func (r Rhythm) Silent(now time.Time) bool {
	return r.SilentAfter > 0 && now.Sub(r.Last) > r.SilentAfter
}
