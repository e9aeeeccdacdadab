package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/store"
)

// stream polls one of a connection's activity streams (its work key is "<connection>:<stream>")
// from its durable cursor until the vendor has nothing more (or PageBudget is spent), storing each
// page with the cursor after it in one transaction.
func (s *Service) stream(ctx context.Context, w store.Work) (time.Time, error) {
	c, ok, err := s.load(ctx, w.Key)
	if err != nil || !ok {
		return time.Time{}, err
	}
	unit := unitOf(WorkStream, w.Key)
	ss, err := s.session(ctx, c)
	if err != nil {
		return time.Time{}, s.fail(ctx, c, unit, "opening the connection", err)
	}
	_, streamName, keyed := strings.Cut(w.Key, ":")
	if !keyed {
		// A unit from before streams had keys: make the keyed ones (the cursor carries over to the
		// first), and end this one.
		return time.Time{}, s.ensureStreams(ctx, c, ss, unit)
	}
	sp, found, err := s.resolveStream(ctx, c, ss, streamName)
	if err != nil {
		return time.Time{}, err
	}
	if !found {
		// The connector no longer has this stream, or its drive is no longer followed: its unit
		// and cursor go (a drive back in scope starts its streams again from "now").
		return time.Time{}, s.st.SaveCursor(ctx, c.ID, streamCursorName(streamName), "")
	}
	var newest time.Time
	defer func() { s.afterRun(context.WithoutCancel(ctx), c, ss, newest) }()
	name := streamCursorName(streamName)
	cursor, err := s.st.GetCursor(ctx, c.ID, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cursor == "") {
		pos, err := ss.StreamStart(ctx, sp)
		if errors.Is(err, connector.ErrInaccessible) && sp.Drive.VendorID != "" {
			return time.Time{}, s.driveLost(ctx, c, streamName, err)
		}
		if err != nil {
			return time.Time{}, s.fail(ctx, c, unit, "taking the stream start position", err)
		}
		if cursor, err = s.st.InitCursor(ctx, c.ID, name, pos); err != nil {
			return time.Time{}, err
		}
	} else if err != nil {
		return time.Time{}, err
	}
	deadline := time.Now().Add(s.o.PageBudget)
	for {
		page, err := ss.Changes(ctx, sp, cursor)
		if errors.Is(err, connector.ErrInaccessible) && sp.Drive.VendorID != "" {
			// The drive can no longer be read: it is marked (and counted in the connection's
			// status, R1.5), its stream ends, and discovery starts it again once access is back.
			return time.Time{}, s.driveLost(ctx, c, streamName, err)
		}
		if err != nil {
			return time.Time{}, s.fail(ctx, c, unit, "reading activity", err)
		}
		if rs := page.Resync; rs != nil {
			note := resyncNote(sp, rs)
			if err := s.conns.Note(ctx, c.ID, connection.SystemActor, note); err != nil {
				return time.Time{}, err
			}
			s.log.Warn("activity stream resync", "connection", c.ID, "stream", sp.Key, "reason", string(rs.Reason), "detail", rs.Detail)
			if rs.Recrawl && sp.Drive.VendorID != "" {
				// The page's records are kept; then the drive is crawled again and its streams
				// start anew before that crawl.
				page.Next = cursor
				if _, err := s.storePage(ctx, c, ss, page, streamName); err != nil {
					return time.Time{}, err
				}
				return time.Time{}, s.recrawl(ctx, c, streamName)
			}
		}

		res, err := s.storePage(ctx, c, ss, page, streamName)
		if err != nil {
			return time.Time{}, err
		}
		if res.Newest.After(newest) {
			newest = res.Newest
		}
		cursor = page.Next
		if !page.More || time.Now().After(deadline) || ctx.Err() != nil {
			if err := s.succeeded(ctx, c, unit); err != nil {
				return time.Time{}, err
			}
		}
		if !page.More {
			every := sp.Every
			if every <= 0 || s.o.PollInterval > 0 { // the operator's --poll-interval wins
				every = s.pollInterval(ss.spec)
			}
			return s.clock.Now().Add(every), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return s.clock.Now(), nil
		}
	}
}

// resyncNote is the history line of a stream's resync, worded the same for every vendor.
func resyncNote(sp connector.StreamSpec, rs *connector.Resync) string {
	why := map[connector.ResyncReason]string{connector.ResyncExpired: "its position had expired",
		connector.ResyncRefused: "the vendor refused its position"}[rs.Reason]
	if why == "" {
		why = string(rs.Reason)
	}
	name := sp.Key
	if d := sp.Drive; d.VendorID != "" {
		name += " of " + d.Kind + " " + cmp.Or(d.Owner, d.Name, d.VendorID)
	}
	note := fmt.Sprintf("activity stream %s resynced: %s", name, why)
	if !rs.Since.IsZero() {
		note += fmt.Sprintf("; activity since %s is read again (records already stored are skipped)", rs.Since.UTC().Format(time.RFC3339))
	}
	if rs.Recrawl {
		note += "; the drive is indexed again"
	}
	if rs.Detail != "" {
		note += " (" + rs.Detail + ")"
	}
	return note
}

// storePage writes one page: records seen before are dropped, records on drives out of scope are
// dropped (R2.8), the rest is coalesced, enriched and stored with the next cursor, and the
// downloads its new content needs for hashing are queued in the same transaction (hash.go).
// PageResult counts what storing one page did.
type PageResult struct {
	Newest                           time.Time
	Inserted, Duplicates, OutOfScope int64
	Merged                           int64 // events of a second feed that enriched a stored event (merge.go)
}

// stream names the stream whose cursor is saved with the page ("" for an import: no cursor).
func (s *Service) storePage(ctx context.Context, c store.Connection, ss *session, page connector.ChangesPage, stream string) (PageResult, error) {
	saveCursor := stream != ""
	var res PageResult
	s.count(func(st *Stats) { st.Records += int64(len(page.Records)) })
	connLabel := strconv.FormatInt(c.ID, 10)
	if saveCursor {
		s.m.records.Add(int64(len(page.Records)), connLabel, c.Service)
	}
	for _, r := range page.Records {
		if r.Skip != "" {
			s.count(func(st *Stats) { st.Skipped[r.Skip]++ })
		}
	}
	if err := s.resolveDrives(ctx, c, page.Records); err != nil {
		return res, err
	}
	drives, err := s.scopeDrives(ctx, c, ss, page.Records)
	if err != nil {
		return res, err
	}
	leftOut := func(reason string) {
		s.count(func(st *Stats) { st.OutOfScope++ })
		res.OutOfScope++
		s.m.leftOut.Inc(connLabel, c.Service, reason)
	}
	var recs []connector.Record
	for _, r := range page.Records {
		if len(r.Events) == 0 {
			continue
		}
		if r.Drive == "" && c.ScopeKind != "all" {
			// No drive, and neither the file index nor the owner's address finds one: with a scope
			// of chosen users or groups every monitored owner has a drive, so an owner without one
			// is not monitored, and activity nobody can place is not captured either (R2.8).
			if r.Events[0].File.Owner != "" {
				leftOut("out_of_scope")
			} else {
				leftOut("owner_unknown")
			}
			continue
		}
		if r.Drive != "" {
			d, ok := drives[r.Drive]
			if !ok && ss == nil && c.ScopeKind == "all" {
				// An import of exported records names drives discovery has not seen (yet): with
				// every user in scope they are kept; the next discovery takes inactive ones out.
				recs = append(recs, r)
				continue
			}
			if !ok || !d.InScope {
				leftOut("out_of_scope")
				continue
			}
		}
		recs = append(recs, r)
	}
	trust := s.trusted(ctx)
	scorer, err := s.scorer(ctx, trust)
	if err != nil {
		return res, err
	}
	committed := false // the page's cursor was saved with it
	type stamp struct {
		at   time.Time
		feed string
	}
	var lags []stamp // the actions the page stored or merged, for the lag histogram
	err = s.st.InTx(ctx, func(q store.Queries) error {
		cur, err := q.GetConnection(ctx, c.ID)
		if err != nil {
			return err
		}
		if !collecting(cur.Status) {
			return nil // deauthorized meanwhile: nothing more is collected, the cursor stays
		}
		ids := make([]string, 0, len(recs))
		for _, r := range recs {
			if r.VendorID != "" {
				ids = append(ids, r.VendorID)
			}
		}
		fresh, err := q.MarkVendorRecords(ctx, c.ID, ids, s.clock.Now())
		if err != nil {
			return err
		}
		isFresh := make(map[string]bool, len(fresh))
		for _, id := range fresh {
			isFresh[id] = true
		}
		var evs []event.FileEvent
		dups := 0
		for _, r := range recs {
			if r.VendorID != "" && !isFresh[r.VendorID] {
				dups++
				continue
			}
			isFresh[r.VendorID] = false // a record repeated within the page counts once
			for _, e := range r.Events {
				// A vendor's NUL or non-UTF-8 bytes become U+FFFD before anything keys on the
				// event's text (coalescing, the feeds' merge, first-use destinations), as the store
				// keeps them (event.CleanText).
				e.CleanText()
				if r.Drive != "" && e.File.DriveID == "" {
					e.File.DriveID = r.Drive
				}
				if r.Feed != "" {
					e.Event.Feeds = []string{r.Feed}
				}
				if len(e.Event.VendorIDs) == 0 && r.VendorID != "" {
					e.Event.VendorIDs = []string{r.VendorID} // the record's id keys the event (DedupeKey)
				}
				evs = append(evs, e)
			}
		}
		merged := Coalesce(evs, s.o.CoalesceWindow)
		// Actions another feed of the connection stored already enrich that event (merge.go).
		var sp connector.Spec
		if ss != nil {
			sp = ss.spec
		} else if con, ok := s.o.Registry.Get(c.Service); ok {
			sp = con.Spec()
		}
		merged, joined, err := s.mergeFeeds(ctx, q, c, sp, merged, trust, scorer)
		if err != nil {
			return err
		}
		ptrs := make([]*event.FileEvent, len(merged))
		for i := range merged {
			Enrich(&merged[i], c, trust)
			ptrs[i] = &merged[i]
			if merged[i].Timestamp.After(res.Newest) {
				res.Newest = merged[i].Timestamp
			}
		}
		// in time order (Coalesce sorts), so the first event of the page to use a destination is
		// the one that is first use
		if err := assessPage(ctx, q, scorer, ptrs); err != nil {
			return err
		}
		n, err := q.InsertEvents(ctx, ptrs, cur.Status == string(connection.Maintenance))
		if err != nil {
			return err
		}
		lags = lags[:0]
		for _, e := range evs {
			// every fresh record's action: merged, coalesced or stored (duplicates are not in evs)
			lags = append(lags, stamp{e.Timestamp, cmp.Or(feedOf(&e), "stream")})
		}
		if err := addCandidates(ctx, q, c.ID, ptrs); err != nil {
			return err
		}
		if err := q.UpsertFiles(ctx, s.touchedFiles(ctx, q, c.ID, stateEvents(sp, merged), drives)); err != nil {
			return err
		}
		streamDrive, _, _ := parseDriveStream(stream)
		if err := fileStates(ctx, q, c.ID, streamDrive, page.Files, page.Removed, s.clock.Now()); err != nil {
			return err
		}
		if ss != nil {
			// Content is hashed off the stream: the jobs commit with the events they fill.
			if err := s.enqueueHashes(ctx, q, c, sp, merged); err != nil {
				return err
			}
		}
		if saveCursor {
			if err := q.SaveCursor(ctx, c.ID, streamCursorName(stream), page.Next); err != nil {
				return err
			}
			hp := store.StreamPage{ConnectionID: c.ID, Stream: stream, At: s.clock.Now()}
			for _, l := range lags {
				if l.at.After(hp.NewestEvent) {
					hp.NewestEvent = l.at
				}
			}
			if !hp.NewestEvent.IsZero() {
				hp.Lag = max(hp.At.Sub(hp.NewestEvent), 0)
			}
			if err := q.RecordStreamPage(ctx, hp); err != nil {
				return err
			}
		}
		// What each feed reported, per file and hour: the health view's completeness check.
		if err := q.AddFeedCounts(ctx, feedCounts(c.ID, evs)); err != nil {
			return err
		}
		res.Inserted, res.Duplicates, res.Merged = int64(n), int64(dups), int64(joined)
		s.count(func(st *Stats) {
			st.Duplicates += int64(dups)
			st.Events += int64(n)
			st.Merged += int64(joined)
			st.Coalesced += int64(len(evs) - len(merged) - joined)
		})
		committed = saveCursor
		return nil
	})
	if err == nil && committed {
		s.m.events.Add(res.Inserted, connLabel, c.Service)
		now := s.clock.Now()
		for _, at := range lags {
			s.m.lag.Observe(max(now.Sub(at.at), 0).Seconds(), connLabel, c.Service, at.feed)
		}
		s.mu.Lock()
		s.cursorAt[streamUnitKey(c.ID, stream)] = CursorTime{ConnectionID: c.ID, Service: c.Service, Stream: stream, At: s.clock.Now()}
		s.mu.Unlock()
	}
	return res, err
}

// resolveDrives finds the drive of records the vendor did not place on one (R2.8): the drive of
// the file as indexed, else the drive of the file's owner by address. Records it cannot place keep
// an empty Drive.
func (s *Service) resolveDrives(ctx context.Context, c store.Connection, recs []connector.Record) error {
	var fileIDs, owners []string
	for _, r := range recs {
		if r.Drive != "" || len(r.Events) == 0 {
			continue
		}
		f := r.Events[0].File
		if f.ID != "" && !strings.HasPrefix(f.ID, "folder:") {
			fileIDs = append(fileIDs, f.ID)
		}
		if f.Owner != "" {
			owners = append(owners, strings.ToLower(f.Owner))
		}
	}
	if len(fileIDs) == 0 && len(owners) == 0 {
		return nil
	}
	byFile := map[string]string{} // vendor file id -> drive vendor id
	if len(fileIDs) > 0 {
		fs, err := s.st.FindFiles(ctx, c.ID, fileIDs)
		if err != nil {
			return fmt.Errorf("ingest: placing records by their files: %w", err)
		}
		driveOf := map[int64]string{}
		for _, f := range fs {
			if f.DriveID == 0 {
				continue
			}
			v, ok := driveOf[f.DriveID]
			if !ok {
				d, err := s.st.GetDrive(ctx, f.DriveID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("ingest: placing records by their files: %w", err)
				}
				v = d.VendorID
				driveOf[f.DriveID] = v
			}
			if v != "" {
				byFile[f.VendorID] = v
			}
		}
	}
	byOwner := map[string]string{} // owner address -> drive vendor id
	if len(owners) > 0 {
		ds, err := s.st.FindDrivesByOwner(ctx, c.ID, owners)
		if err != nil {
			return fmt.Errorf("ingest: placing records by their owners: %w", err)
		}
		for _, d := range ds {
			if d.Kind != "shared" {
				byOwner[d.Owner] = d.VendorID
			}
		}
	}
	for i := range recs {
		r := &recs[i]
		if r.Drive != "" || len(r.Events) == 0 {
			continue
		}
		f := r.Events[0].File
		if v := byFile[f.ID]; v != "" {
			r.Drive = v
		} else if v := byOwner[strings.ToLower(f.Owner)]; v != "" {
			r.Drive = v
		}
	}
	return nil
}

// scopeDrives returns the stored drives the records belong to. When records name drives Telltale has
// never seen (a user created minutes ago), discovery runs at once, at most once a minute, so that a
// new drive's first activity is not lost while waiting for the next discovery (R3.4).
func (s *Service) scopeDrives(ctx context.Context, c store.Connection, ss *session, recs []connector.Record) (map[string]store.Drive, error) {
	var ids []string
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Drive != "" && len(r.Events) > 0 && !seen[r.Drive] {
			seen[r.Drive] = true
			ids = append(ids, r.Drive)
		}
	}
	find := func() (map[string]store.Drive, error) {
		ds, err := s.st.FindDrives(ctx, c.ID, ids)
		if err != nil {
			return nil, err
		}
		m := make(map[string]store.Drive, len(ds))
		for _, d := range ds {
			m[d.VendorID] = d
		}
		return m, nil
	}
	m, err := find()
	if err != nil || len(m) == len(ids) {
		return m, err
	}
	if ss == nil {
		return m, nil
	}
	s.mu.Lock()
	last := s.lastInline[c.ID]
	due := s.clock.Now().Sub(last) >= time.Minute
	if due {
		s.lastInline[c.ID] = s.clock.Now()
	}
	s.mu.Unlock()
	if !due {
		return m, nil
	}
	if err := s.runDiscovery(ctx, c, ss); err != nil {
		return nil, err
	}
	return find()
}

// touchedFiles is the file-index update of stored events: activity on a file not yet indexed indexes
// it at once (R3.2); known fields are kept where the event does not say.
func (s *Service) touchedFiles(ctx context.Context, q store.Queries, conn int64, evs []event.FileEvent, drives map[string]store.Drive) []store.File {
	var ids []string
	for _, e := range evs {
		if e.File.ID != "" && !strings.HasPrefix(e.File.ID, "folder:") {
			ids = append(ids, e.File.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	known := map[string]store.File{}
	if fs, err := q.FindFiles(ctx, conn, ids); err == nil {
		for _, f := range fs {
			known[f.VendorID] = f
		}
	}
	now := s.clock.Now()
	out := map[string]store.File{}
	for _, e := range evs {
		if e.File.ID == "" || strings.HasPrefix(e.File.ID, "folder:") {
			continue
		}
		f, ok := out[e.File.ID]
		if !ok {
			f = known[e.File.ID]
			f.ConnectionID, f.VendorID = conn, e.File.ID
		}
		if d, ok := drives[e.File.DriveID]; ok {
			f.DriveID = d.ID
		}
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&f.Name, e.File.Name)
		set(&f.Path, e.File.Path)
		set(&f.MimeType, e.File.MimeType)
		set(&f.Owner, e.File.Owner)
		set(&f.SHA1, e.File.Hash.SHA1)
		set(&f.MD5, e.File.Hash.MD5)
		set(&f.SHA256, e.File.Hash.SHA256)
		if e.File.Size > 0 {
			f.Size = e.File.Size
		}
		if !e.File.Modified.IsZero() {
			f.Modified = e.File.Modified
		}
		switch e.Event.Action {
		case event.ActionDeleted:
			f.Deleted = true
		case event.ActionRestored, event.ActionCreated, event.ActionModified:
			f.Deleted = false
		}
		if f.IndexedAt.IsZero() {
			f.IndexedAt = now
		}
		out[e.File.ID] = f
	}
	files := make([]store.File, 0, len(out))
	for _, f := range out {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].VendorID < files[j].VendorID })
	return files
}

// stateEvents are the events whose file state the file index takes: all of them, except, for a
// connector with a StateFeed, the other feeds' (an audit log reports a file's name and path as
// they were at the action, often an hour or more before: written over the state feed's, they
// would make its next change look like a rename or move back).
func stateEvents(sp connector.Spec, evs []event.FileEvent) []event.FileEvent {
	if sp.StateFeed == "" {
		return evs
	}
	out := make([]event.FileEvent, 0, len(evs))
	for _, e := range evs {
		if f := feedOf(&e); f == "" || f == sp.StateFeed {
			out = append(out, e)
		}
	}
	return out
}

// Coalesce combines rapid repeats: events with the same action, actor and file whose times are
// within window of the previous one become one event that keeps the count and every vendor id
// (R3.6). Events are returned in time order; the first event's time is kept and the file state is
// the latest.
func Coalesce(evs []event.FileEvent, window time.Duration) []event.FileEvent {
	sorted := slices.Clone(evs)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Timestamp.Before(sorted[j].Timestamp) })
	type open struct {
		idx  int
		last time.Time
	}
	openByKey := map[string]open{}
	var out []event.FileEvent
	for _, e := range sorted {
		if e.Event.Count == 0 {
			e.Event.Count = 1
		}
		k := string(e.Event.Action) + "\x00" + strings.ToLower(e.User.Email+"|"+e.User.VendorID) + "\x00" + e.File.ID
		if o, ok := openByKey[k]; ok && e.File.ID != "" && e.Timestamp.Sub(o.last) <= window {
			m := &out[o.idx]
			m.Event.Count += e.Event.Count
			m.Event.VendorIDs = append(m.Event.VendorIDs, e.Event.VendorIDs...)
			orig := m.File
			m.File = e.File
			if m.File.OriginalName == "" {
				m.File.OriginalName = orig.OriginalName
			}
			if m.File.OriginalDirectory == "" {
				m.File.OriginalDirectory = orig.OriginalDirectory
			}
			if m.File.Hash == (event.Hash{}) {
				m.File.Hash = orig.Hash
			}
			for _, w := range e.Sharing.SharedWith {
				if !slices.Contains(m.Sharing.SharedWith, w) {
					m.Sharing.SharedWith = append(m.Sharing.SharedWith, w)
				}
			}
			if e.Sharing.LinkScope != "" {
				m.Sharing.LinkScope = e.Sharing.LinkScope
			}
			openByKey[k] = open{o.idx, e.Timestamp}
			continue
		}
		out = append(out, e)
		openByKey[k] = open{len(out) - 1, e.Timestamp}
	}
	return out
}

// Enrich completes an event for storage: the connection, the category, and the exposure derived
// from the link scope and the trusted domains (R5.1).
func Enrich(e *event.FileEvent, c store.Connection, trust settings.Settings) {
	e.Event.ConnectionID = c.ID
	e.Event.ConnectionName = c.Name
	if e.File.Path != "" && e.File.Name == "" {
		e.File.Name = path.Base(e.File.Path)
	}
	if e.File.Category == "" && e.File.Name != "" && !strings.HasPrefix(e.File.ID, "folder:") {
		e.File.Category = event.CategoryOf(e.File.Name, e.File.MimeType)
	}
	var xs []event.Exposure
	switch e.Sharing.LinkScope {
	case event.LinkAnyone:
		xs = append(xs, event.ExposurePublicLink)
	case event.LinkOrganization:
		xs = append(xs, event.ExposureOrganizationLink)
	}
	outside := false
	for _, w := range e.Sharing.SharedWith {
		if !trust.Trusted(w) {
			outside = true
		}
	}
	for _, r := range e.Email.Recipients {
		if !trust.Trusted(r) {
			outside = true
		}
	}
	if outside {
		xs = append(xs, event.ExposureOutsideTrustedDomain)
	}
	e.Sharing.Exposure = xs
}

// assessRisk sets e's risk (internal/risk, docs/RISK.md). The destinations e's actor uses for the
// first time are recorded in q, the page's transaction, so a crash redoing the page finds them new
// again and a page using a new destination twice makes only its first event first use.
func assessRisk(ctx context.Context, q store.DestinationQueries, sc *risk.Scorer, e *event.FileEvent) error {
	return assessPage(ctx, q, sc, []*event.FileEvent{e})
}

// assessPage sets the risk of a page's events, in time order, as assessRisk does for one, and
// marks the destinations in one call per person, the people in order (and each call's in order):
// two nodes' pages that share people and destinations take their rows in one order, so one
// waits for the other instead of both deadlocking and one page being redone.
func assessPage(ctx context.Context, q store.DestinationQueries, sc *risk.Scorer, evs []*event.FileEvent) error {
	keys := make([][]string, len(evs))
	type marks struct {
		dests []string
		at    []time.Time
	}
	byPerson := map[string]*marks{}
	for i, e := range evs {
		if keys[i] = sc.Destinations(e); len(keys[i]) == 0 {
			continue
		}
		p := risk.Person(e)
		m := byPerson[p]
		if m == nil {
			m = &marks{}
			byPerson[p] = m
		}
		for _, k := range keys[i] {
			m.dests, m.at = append(m.dests, k), append(m.at, e.Timestamp)
		}
	}
	people := make([]string, 0, len(byPerson))
	for p := range byPerson {
		people = append(people, p)
	}
	slices.Sort(people)
	fresh := make(map[string]map[string]bool, len(people)) // person -> destinations new to them
	for _, p := range people {
		m := byPerson[p]
		got, err := q.MarkDestinationsAt(ctx, p, m.dests, m.at)
		if err != nil {
			return err
		}
		fresh[p] = make(map[string]bool, len(got))
		for _, d := range got {
			fresh[p][d] = true
		}
	}
	for i, e := range evs {
		var first []string
		if len(keys[i]) > 0 {
			f := fresh[risk.Person(e)]
			for _, k := range keys[i] {
				if f[k] {
					delete(f, k) // the first event of the page to use it is its first use
					first = append(first, k)
				}
			}
		}
		e.Risk = sc.Assess(e, first)
	}
	return nil
}

// fileStates applies the file states and removals a stream page reports to the file index. A state
// names its drive, or is the stream's drive's (streamDrive, a drive row id; 0 for a tenant stream)
// unless the file is indexed under another drive: a user's feed also reports files shared with
// them (Drive), which stay their owner's. Removals reported by a drive's stream only remove that
// drive's files (a file unshared from one user is not deleted). States of drives not followed are
// left out (R2.8).
func fileStates(ctx context.Context, q store.Queries, conn, streamDrive int64, files []connector.File, removed []string, now time.Time) error {
	if len(files) == 0 && len(removed) == 0 {
		return nil
	}
	ids := make([]string, 0, len(files)+len(removed))
	var driveIDs []string
	for _, f := range files {
		ids = append(ids, f.VendorID)
		if f.Drive != "" && !slices.Contains(driveIDs, f.Drive) {
			driveIDs = append(driveIDs, f.Drive)
		}
	}
	ids = append(ids, removed...)
	known, err := q.FindFiles(ctx, conn, ids)
	if err != nil {
		return err
	}
	indexed := make(map[string]store.File, len(known))
	for _, f := range known {
		indexed[f.VendorID] = f
	}
	ds, err := q.FindDrives(ctx, conn, driveIDs)
	if err != nil {
		return err
	}
	byVendor := make(map[string]store.Drive, len(ds))
	for _, d := range ds {
		byVendor[d.VendorID] = d
	}
	var own store.Drive
	if streamDrive != 0 {
		if own, err = q.GetDrive(ctx, streamDrive); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	batch := make([]store.File, 0, len(files))
	for _, f := range files {
		d, ok := byVendor[f.Drive]
		if f.Drive == "" {
			if k, had := indexed[f.VendorID]; had && k.DriveID != own.ID {
				continue // another drive's file, seen from this drive's feed
			}
			d, ok = own, own.ID != 0
		}
		if ok && followed(d) {
			batch = append(batch, indexFile(conn, d.ID, f, now))
		}
	}
	if err := q.UpsertFiles(ctx, batch); err != nil {
		return err
	}
	var gone []store.File
	for _, id := range removed {
		if k, had := indexed[id]; had && (streamDrive == 0 || k.DriveID == streamDrive) {
			k.Deleted, k.IndexedAt = true, now
			gone = append(gone, k)
		}
	}
	return q.UpsertFiles(ctx, gone)
}

// feedCounts counts the actions of a page's fresh records per file, UTC hour and feed, for a
// connector that reads from more than one feed (records without a feed are not counted).
func feedCounts(conn int64, evs []event.FileEvent) []store.FeedCount {
	type k struct {
		hour       time.Time
		file, feed string
	}
	n := map[k]int64{}
	var order []k
	for i := range evs {
		f := feedOf(&evs[i])
		if f == "" || evs[i].File.ID == "" {
			continue
		}
		key := k{evs[i].Timestamp.UTC().Truncate(time.Hour), evs[i].File.ID, f}
		if _, ok := n[key]; !ok {
			order = append(order, key)
		}
		n[key] += int64(max(evs[i].Event.Count, 1))
	}
	out := make([]store.FeedCount, len(order))
	for i, key := range order {
		out[i] = store.FeedCount{ConnectionID: conn, Hour: key.hour, FileID: key.file, Feed: key.feed, N: n[key]}
	}
	return out
}
