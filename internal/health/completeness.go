package health

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/store"
)

// The completeness check (docs/OPERATIONS.md "Two feeds that disagree"): where a connector reads
// one service from a change feed and an audit feed (Google Drive: "changes" and "reports";
// OneDrive: "delta" and "audit", the Management Activity API), collection counts what each feed
// reported per file and hour (store.FeedCount). Over the window [now-CompareSettle-CompareWindow,
// now-CompareSettle) - audit feeds arrive hours late, so the newest hours are left to settle - the
// counts of each file are compared: a file disagrees when one feed reported it and the other did
// not, or when one counted more than CompareRatio times the other and at least CompareMinDiff more.
// The connection is flagged when more than CompareShare of the files disagree.
const (
	CompareWindow  = 24 * time.Hour
	CompareSettle  = 12 * time.Hour
	CompareRatio   = 3
	CompareMinDiff = 3
	CompareShare   = 0.05
	compareLimit   = 50000 // counts read per connection
)

// completeness compares the feeds of a connection that has two; nil when it has fewer.
func (c *Checker) completeness(ctx context.Context, x store.Connection, now time.Time) (*client.HealthCompleteness, []client.HealthWarning, error) {
	to := now.Add(-CompareSettle).Truncate(time.Hour)
	from := to.Add(-CompareWindow)
	counts, err := c.o.Store.ListFeedCounts(ctx, x.ID, from, to, compareLimit)
	if err != nil {
		return nil, nil, fmt.Errorf("health: feed counts of connection %d: %w", x.ID, err)
	}
	feeds := map[string]int64{}
	perFile := map[string]map[string]int64{}
	for _, fc := range counts {
		feeds[fc.Feed] += fc.N
		if perFile[fc.FileID] == nil {
			perFile[fc.FileID] = map[string]int64{}
		}
		perFile[fc.FileID][fc.Feed] += fc.N
	}
	if len(feeds) < 2 {
		return nil, nil, nil
	}
	names := slices.Sorted(maps.Keys(feeds))
	out := &client.HealthCompleteness{ConnectionID: id(x.ID), Connection: x.Name, From: from, To: to, Feeds: feeds, Files: len(perFile)}
	for _, f := range slices.Sorted(maps.Keys(perFile)) {
		if disagree(perFile[f], names) {
			out.Disagreeing++
			if len(out.Examples) < 10 {
				out.Examples = append(out.Examples, f)
			}
		}
	}
	var warns []client.HealthWarning
	if out.Disagreeing > 0 && float64(out.Disagreeing) > CompareShare*float64(out.Files) {
		warns = append(warns, client.HealthWarning{Kind: "feeds_disagree", Severity: "medium", Subject: x.Name, Link: "/connections/" + id(x.ID),
			Message: fmt.Sprintf("the feeds %s disagree about %d of %d files between %s and %s (actions per feed: %s); one feed may be missing activity - check the audit settings of the tenant (auditing on, licences) and the connection's throttling.",
				strings.Join(names, " and "), out.Disagreeing, out.Files, from.Format(time.RFC3339), to.Format(time.RFC3339), perFeed(names, feeds))})
	}
	if len(counts) == compareLimit {
		out.Examples = append(out.Examples, "(more counts than were read)")
	}
	return out, warns, nil
}

// perFeed shows the actions per feed: "changes 4, reports 3".
func perFeed(names []string, n map[string]int64) string {
	parts := make([]string, len(names))
	for i, f := range names {
		parts[i] = fmt.Sprintf("%s %d", f, n[f])
	}
	return strings.Join(parts, ", ")
}

// disagree: a feed saw the file and another did not, or their counts are far apart.
func disagree(n map[string]int64, feeds []string) bool {
	lo, hi := int64(-1), int64(0)
	for _, f := range feeds {
		v := n[f]
		if lo < 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	if lo == 0 {
		return hi > 0
	}
	return hi > CompareRatio*lo && hi-lo >= CompareMinDiff
}
