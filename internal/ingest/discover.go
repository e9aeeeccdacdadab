package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/store"
)

// discover finds the in-scope drives of a connection (R3.1, R3.4), takes drives no longer found out
// of scope (R2.7), schedules indexing of new drives, and moves the status: Searching -> Indexing,
// Monitoring -> Indexing on new drives, Error when most drives are inaccessible, back when the cause
// is gone (R1.5), Error over the drive limit (R1.9).
func (s *Service) discover(ctx context.Context, w store.Work) (time.Time, error) {
	c, ok, err := s.load(ctx, w.Key)
	if err != nil || !ok {
		return time.Time{}, err
	}
	unit := unitOf(WorkDiscover, w.Key)
	ss, err := s.session(ctx, c)
	if err != nil {
		return time.Time{}, s.fail(ctx, c, unit, "opening the connection", err)
	}
	defer s.afterRun(ctx, c, ss, time.Time{})
	if err := s.runDiscovery(ctx, c, ss); err != nil {
		return time.Time{}, err
	}
	if err := s.succeeded(ctx, c, unit); err != nil {
		return time.Time{}, err
	}
	return s.clock.Now().Add(s.discoveryInterval(ss.spec)), nil
}

func (s *Service) runDiscovery(ctx context.Context, c store.Connection, ss *session) error {
	now := s.clock.Now()
	unit := unitOf(WorkDiscover, key(c.ID)) // also when run inline by the stream
	// The "now" stream positions are taken before any drive is indexed, so nothing that happens
	// during the baseline crawl is missed (ARCHITECTURE: cursor discipline).
	if err := s.ensureStreams(ctx, c, ss, unit); err != nil {
		return err
	}

	entries, err := s.st.ListScope(ctx, c.ID)
	if err != nil {
		return err
	}
	scope := connector.Scope{Kind: c.ScopeKind}
	for _, e := range entries {
		switch {
		case e.Kind == "user":
			scope.Users = append(scope.Users, e.Value)
		case e.Kind == "group" && (e.Found || !e.NextLookupAt.After(now)):
			scope.Groups = append(scope.Groups, e.Value)
		}
	}
	var newDrives int
	var seen int64
	res, err := ss.Discover(ctx, scope, func(ds []connector.Drive) error {
		n, err := s.upsertDrives(ctx, c, ss, ds, now)
		newDrives += n
		seen += int64(len(ds))
		return err
	})
	if err != nil {
		return s.fail(ctx, c, unit, "discovering drives", err)
	}
	// Groups: found ones are marked, missing ones are looked up again after GroupRetry (R2.6).
	missing := map[string]bool{}
	for _, g := range res.MissingGroups {
		missing[g] = true
	}
	for _, e := range entries {
		if e.Kind != "group" || (!e.Found && e.NextLookupAt.After(now)) {
			continue
		}
		ne := e
		ne.Found = !missing[e.Value]
		ne.NextLookupAt = time.Time{}
		if !ne.Found {
			ne.NextLookupAt = now.Add(s.o.GroupRetry)
		}
		if ne.Found != e.Found || !ne.NextLookupAt.Equal(e.NextLookupAt) {
			if err := s.st.UpdateScopeEntry(ctx, ne); err != nil {
				return err
			}
			if !ne.Found {
				_ = s.conns.Note(ctx, c.ID, connection.SystemActor, fmt.Sprintf("group %q was not found in %s; it is looked up again in %s", e.Value, ss.spec.Title, s.o.GroupRetry))
			}
		}
	}
	left, err := s.st.MarkDrivesOutOfScope(ctx, c.ID, now)
	if err != nil {
		return err
	}
	if left > 0 {
		s.log.Info("drives left scope; their history stays searchable", "connection", c.ID, "drives", left)
	}
	// What the directory says of the people it does not monitor sets their status (R8.3), after
	// the drives' scope is settled: an in-scope drive anywhere makes a person active.
	states := make([]store.PersonState, 0, len(res.Inactive))
	for _, p := range res.Inactive {
		states = append(states, store.PersonState{Email: p.Address, Status: p.Status, Reason: p.Reason})
	}
	if err := s.st.ReplacePersonStates(ctx, c.ID, states); err != nil {
		return err
	}
	if newDrives > 0 {
		// New drives get their push subscriptions now rather than at the next daily round.
		if _, err := s.st.ScheduleWork(ctx, store.Work{Kind: WorkPush, Key: key(c.ID), ConnectionID: c.ID, NextRunAt: now}); err != nil {
			return err
		}
	}
	ss.mu.Lock()
	ss.streamsChecked = true
	ss.mu.Unlock()
	s.log.Info("discovery finished", "connection", c.ID, "drives", seen, "new", newDrives, "inactive_skipped", res.SkippedInactive, "missing_groups", len(res.MissingGroups))
	return s.settleStatus(ctx, c.ID, newDrives > 0)
}

// upsertDrives stores one page of discovered drives, keeping the state of known ones, and schedules
// indexing of the new ones. It returns how many drives are new to indexing.
func (s *Service) upsertDrives(ctx context.Context, c store.Connection, ss *session, ds []connector.Drive, now time.Time) (int, error) {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.VendorID
	}
	fresh := 0
	var indexed []store.Drive // drives whose own streams run (started by their crawl otherwise)
	ss.mu.Lock()
	checked := ss.streamsChecked
	ss.mu.Unlock()
	err := s.st.InTx(ctx, func(q store.Queries) error {
		// The drives' state is read in the transaction that writes it back: a re-crawl or a lost
		// drive marked meanwhile by a stream is not undone.
		known, err := q.FindDrives(ctx, c.ID, ids)
		if err != nil {
			return err
		}
		byID := make(map[string]store.Drive, len(known))
		for _, d := range known {
			byID[d.VendorID] = d
		}
		for _, d := range ds {
			old, had := byID[d.VendorID]
			row := store.Drive{ConnectionID: c.ID, VendorID: d.VendorID, Kind: d.Kind, Owner: d.Owner, Name: d.Name,
				InScope: true, SeenAt: now, State: store.DrivePending, DiscoveredAt: now}
			if had {
				row.State, row.Error, row.FileCount, row.IndexedAt, row.DiscoveredAt = old.State, old.Error, old.FileCount, old.IndexedAt, old.DiscoveredAt
			}
			switch {
			case d.Inaccessible != "":
				row.State, row.Error = store.DriveInaccessible, d.Inaccessible
			case row.State == store.DriveInaccessible:
				row.State, row.Error = store.DrivePending, "" // access is back: index it again
			}
			stored, err := q.UpsertDrive(ctx, row)
			if err != nil {
				return err
			}
			// Indexed drives' streams are started once per session (one indexed before its
			// connector had drive streams) and when the drive comes back in scope or to access.
			if stored.State == store.DriveIndexed && (!checked || !had || !old.InScope || old.State != store.DriveIndexed) {
				indexed = append(indexed, stored)
			}
			if (stored.State == store.DrivePending || stored.State == store.DriveIndexing) && c.ServiceType == connection.Email {
				// A mailbox has no baseline and its connection monitors as soon as discovery ends
				// (R4.1): its streams start now, before the status says so, not in its index unit.
				indexed = append(indexed, stored)
			}
			if stored.State == store.DrivePending || stored.State == store.DriveIndexing {
				w := store.Work{Kind: WorkIndex, Key: indexKey(c.ID, stored.ID), ConnectionID: c.ID, NextRunAt: now}
				if _, err := q.EnsureWork(ctx, w); err != nil {
					return err
				}
				if !had || !old.InScope || old.State == store.DriveInaccessible {
					fresh++
				}
			}
		}
		// The owners of user drives and mailboxes are people known to be active (R8.3).
		var owners []string
		for _, d := range ds {
			if d.Owner != "" && d.Kind != "shared" {
				owners = append(owners, d.Owner)
			}
		}
		return q.EnsurePeople(ctx, owners)
	})
	if err != nil {
		return fresh, err
	}
	// A drive back in scope, one indexed before its connector had drive streams, or a new mailbox
	// gets them now.
	for _, d := range indexed {
		if _, err := s.startDriveStreams(ctx, c, ss, d, unitOf(WorkDiscover, key(c.ID))); err != nil {
			return fresh, err
		}
	}
	return fresh, nil
}

func indexKey(conn, drive int64) string {
	return strconv.FormatInt(conn, 10) + ":" + strconv.FormatInt(drive, 10)
}

// settleStatus moves the connection's status from its drive counts and error causes.
func (s *Service) settleStatus(ctx context.Context, id int64, newDrives bool) error {
	c, err := s.st.GetConnection(ctx, id)
	if err != nil {
		return err
	}
	counts, err := s.st.CountDrives(ctx, id)
	if err != nil {
		return err
	}
	// Causes of Error, most specific first (R1.5, R1.9).
	cause := ""
	if other, err := s.conns.TenantTaken(ctx, c); err != nil {
		return err
	} else if other != "" {
		cause = fmt.Sprintf("this %s tenant %s is already registered in connection %q", c.Service, c.TenantID, other)
	}
	if cause == "" {
		if exceeded, _, err := s.conns.CheckDriveLimit(ctx, id); err != nil {
			return err
		} else if exceeded {
			return nil // CheckDriveLimit moved it to Error with the R1.9 message
		}
	}
	if cause == "" && counts.Total > 0 && counts.Inaccessible*2 > counts.Total {
		cause = fmt.Sprintf("%d of %d drives are inaccessible (permissions or licensing): fix access in the vendor's admin console; collection resumes by itself", counts.Inaccessible, counts.Total)
	}
	st := connection.Status(c.Status)
	if cause != "" {
		_, err := s.conns.SetError(ctx, id, cause)
		return err
	}
	apply := func(a connection.Action, reason string) error {
		_, err := s.conns.Apply(ctx, id, a, connection.SystemActor, reason)
		if errors.Is(err, connection.ErrRefused) {
			return nil // the status changed meanwhile; the next run settles it
		}
		return err
	}
	unindexed := counts.Pending + counts.Indexing
	switch st {
	case connection.Error:
		if s.failing(id) {
			return nil // a unit still fails: the error stands until its work succeeds (see succeeded)
		}
		if err := apply(connection.ActionRecover, "the cause of the error is gone"); err != nil {
			return err
		}
		if unindexed > 0 && c.ServiceType == connection.Cloud {
			return apply(connection.ActionNewDrives, fmt.Sprintf("%d drives to index", unindexed))
		}
	case connection.Searching:
		if err := apply(connection.ActionDiscovered, fmt.Sprintf("discovery found %d drives", counts.Total)); err != nil {
			return err
		}
		if unindexed == 0 && c.ServiceType == connection.Cloud {
			return apply(connection.ActionIndexed, "every drive is indexed")
		}
	case connection.Monitoring:
		if newDrives && unindexed > 0 && c.ServiceType == connection.Cloud {
			return apply(connection.ActionNewDrives, fmt.Sprintf("%d new drives to index", unindexed))
		}
	case connection.Indexing:
		if unindexed == 0 {
			return apply(connection.ActionIndexed, "every drive is indexed")
		}
	}
	return nil
}
