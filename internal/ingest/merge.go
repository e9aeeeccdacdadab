package ingest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/store"
)

// MergeWindow is how far apart in time two feeds may place one action (Google Drive's changes
// feed gives the time of the change, the Reports API the time of the action; ARCHITECTURE,
// "Google Drive: two feeds, one event per action").
const MergeWindow = 10 * time.Minute

// defaultMergeHorizon keeps merge candidates when a Spec does not say (connector.Spec.MergeHorizon).
const defaultMergeHorizon = 3 * 24 * time.Hour

// feedOf is the feed that stored e (its first), "" for an event of a connector with one feed.
func feedOf(e *event.FileEvent) string {
	if len(e.Event.Feeds) == 0 {
		return ""
	}
	return e.Event.Feeds[0]
}

// mergeTarget is the sharing target an event names, canonical: who it was shared with and the
// link's reach. Two events naming different targets are different actions. An unshare's link
// scope is left out: feeds describe it differently (the reach removed, or the reach left).
func mergeTarget(e *event.FileEvent) string {
	scope := e.Sharing.LinkScope
	if e.Event.Action == event.ActionUnshared {
		scope = ""
	}
	if len(e.Sharing.SharedWith) == 0 && scope == "" {
		return ""
	}
	with := make([]string, len(e.Sharing.SharedWith))
	for i, w := range e.Sharing.SharedWith {
		with[i] = strings.ToLower(w)
	}
	slices.Sort(with)
	return strings.Join(with, ",") + "|" + string(scope)
}

// compatible: both name the same value, or one does not say.
func compatible(a, b string) bool { return a == "" || b == "" || a == b }

// mergeFeeds joins the events of a page that another feed of the connection has already stored
// (same file, action, actor and sharing target where both name one, times within MergeWindow) to
// that stored event: it is enriched in place (UpdateEvent) instead of a second event being stored.
// It returns the events still to insert. Called in the page's transaction; the caller adds
// candidates for what it inserts (addCandidates).
func (s *Service) mergeFeeds(ctx context.Context, q store.Queries, c store.Connection, sp connector.Spec, evs []event.FileEvent,
	trust settings.Settings, scorer *risk.Scorer) ([]event.FileEvent, int, error) {
	var ids []string
	var from, to time.Time
	for i := range evs {
		e := &evs[i]
		if feedOf(e) == "" || e.File.ID == "" {
			continue
		}
		ids = append(ids, e.File.ID)
		if from.IsZero() || e.Timestamp.Before(from) {
			from = e.Timestamp
		}
		if e.Timestamp.After(to) {
			to = e.Timestamp
		}
	}
	if len(ids) == 0 {
		return evs, 0, nil
	}
	slices.Sort(ids)
	cands, err := q.FindMergeCandidates(ctx, c.ID, slices.Compact(ids), from.Add(-MergeWindow), to.Add(MergeWindow))
	if err != nil {
		return nil, 0, err
	}
	if len(cands) == 0 {
		return evs, 0, nil
	}
	keep := evs[:0:0]
	joined := 0
	for i := range evs {
		e := &evs[i]
		feed := feedOf(e)
		best := -1
		var bestGap time.Duration
		for j := range cands {
			k := &cands[j]
			gap := e.Timestamp.Sub(k.Observed).Abs()
			if feed == "" || k.Joined || k.Feed == feed || k.FileID != e.File.ID || k.Action != string(e.Event.Action) ||
				gap > MergeWindow || !compatible(k.Actor, strings.ToLower(e.User.Email)) || !compatible(k.Target, mergeTarget(e)) {
				continue
			}
			if best < 0 || gap < bestGap {
				best, bestGap = j, gap
			}
		}
		if best < 0 {
			keep = append(keep, *e)
			continue
		}
		k := &cands[best]
		stored, err := q.GetEvent(ctx, k.EventID)
		if errors.Is(err, store.ErrNotFound) {
			keep = append(keep, *e) // deleted meanwhile (retention): store this report on its own
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		person, shared := risk.Person(&stored), mergeTarget(&stored)
		enrich(&stored, e, feed, feed == sp.StateFeed)
		Enrich(&stored, c, trust)
		if risk.Person(&stored) != person || mergeTarget(&stored) != shared {
			// who acted or what was shared is known only now: the risk is assessed again
			if err := assessRisk(ctx, q, scorer, &stored); err != nil {
				return nil, 0, err
			}
		}
		if err := q.UpdateEvent(ctx, &stored); err != nil {
			return nil, 0, err
		}
		if err := q.JoinMergeCandidate(ctx, k.ID); err != nil {
			return nil, 0, err
		}
		k.Joined = true
		joined++
	}
	return keep, joined, nil
}

// addCandidates records the inserted events of feeds as merge candidates.
func addCandidates(ctx context.Context, q store.MergeQueries, conn int64, evs []*event.FileEvent) error {
	var cs []store.MergeCandidate
	for _, e := range evs {
		if e.Event.ID == 0 || feedOf(e) == "" || e.File.ID == "" {
			continue
		}
		cs = append(cs, store.MergeCandidate{ConnectionID: conn, EventID: e.Event.ID, FileID: e.File.ID, Action: string(e.Event.Action),
			Actor: strings.ToLower(e.User.Email), Target: mergeTarget(e), Feed: feedOf(e), Observed: e.Timestamp})
	}
	return q.AddMergeCandidates(ctx, cs)
}

// enrich folds what a second feed reports (in) into the stored event: the vendor ids and feed are
// added; a field the stored event lacks is taken from in; with state set (in is the Spec's
// StateFeed) in's file state replaces the stored one. Each field taken is recorded in
// Event.Enriched with the feed. The stored event keeps its time, action and count.
func enrich(stored *event.FileEvent, in *event.FileEvent, feed string, state bool) {
	stored.Event.VendorIDs = append(stored.Event.VendorIDs, in.Event.VendorIDs...)
	if !slices.Contains(stored.Event.Feeds, feed) {
		stored.Event.Feeds = append(stored.Event.Feeds, feed)
	}
	took := func(field string) {
		for _, p := range stored.Event.Enriched {
			if p.Field == field {
				return
			}
		}
		stored.Event.Enriched = append(stored.Event.Enriched, event.Provenance{Field: field, Feed: feed})
	}
	str := func(field string, dst *string, v string, replace bool) {
		if v != "" && (*dst == "" || replace && *dst != v) {
			*dst = v
			took(field)
		}
	}
	sf, f := &stored.File, &in.File
	str("user.email", &stored.User.Email, in.User.Email, false)
	str("user.vendor_id", &stored.User.VendorID, in.User.VendorID, false)
	str("user.name", &stored.User.Name, in.User.Name, false)
	str("source.ip", &stored.Source.IP, in.Source.IP, false)
	str("source.user_agent", &stored.Source.UserAgent, in.Source.UserAgent, false)
	str("file.owner", &sf.Owner, f.Owner, false)
	str("file.drive_id", &sf.DriveID, f.DriveID, false)
	str("file.url", &sf.URL, f.URL, false)
	str("file.original_name", &sf.OriginalName, f.OriginalName, false)
	str("file.original_directory", &sf.OriginalDirectory, f.OriginalDirectory, false)
	str("file.name", &sf.Name, f.Name, state)
	str("file.directory", &sf.Directory, f.Directory, state)
	str("file.path", &sf.Path, f.Path, state)
	str("file.mime_type", &sf.MimeType, f.MimeType, state)
	str("file.hash.md5", &sf.Hash.MD5, f.Hash.MD5, state)
	str("file.hash.sha256", &sf.Hash.SHA256, f.Hash.SHA256, state)
	str("file.hash.sha1", &sf.Hash.SHA1, f.Hash.SHA1, state)
	str("file.hash.quick_xor", &sf.Hash.QuickXor, f.Hash.QuickXor, state)
	if f.Size > 0 && (sf.Size == 0 || state && sf.Size != f.Size) {
		sf.Size = f.Size
		took("file.size")
	}
	if !f.Modified.IsZero() && (sf.Modified.IsZero() || state && !sf.Modified.Equal(f.Modified)) {
		sf.Modified = f.Modified
		took("file.modified")
	}
	if !f.Created.IsZero() && sf.Created.IsZero() {
		sf.Created = f.Created
		took("file.created")
	}
	if in.Sharing.LinkScope != "" && stored.Sharing.LinkScope == "" {
		stored.Sharing.LinkScope = in.Sharing.LinkScope
		took("sharing.link_scope")
	}
	if len(in.Sharing.SharedWith) > 0 && len(stored.Sharing.SharedWith) == 0 {
		stored.Sharing.SharedWith = slices.Clone(in.Sharing.SharedWith)
		took("sharing.shared_with")
	}
	if state {
		sf.Category = "" // Enrich derives it again from the (new) name and MIME type
	}
}
