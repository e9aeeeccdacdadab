package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/store"
)

// legacyStreamCursor is a connection's one cursor from before streams had keys; ensureStreams
// carries it over to the connection's first stream.
const legacyStreamCursor = "stream"

// streamCursorName names a stream's cursor: "stream:" and the stream's name within the connection
// (driveStreamName for a drive's own stream).
func streamCursorName(stream string) string { return "stream:" + stream }

// streamUnitKey is the work key of a connection's stream: "<connection id>:<stream name>".
func streamUnitKey(conn int64, stream string) string { return key(conn) + ":" + stream }

// driveStreamName names a drive's own stream within its connection: "drive:<drive row id>:<key>"
// (tenant stream keys have no ':', so the two never collide).
func driveStreamName(drive int64, k string) string {
	return "drive:" + strconv.FormatInt(drive, 10) + ":" + k
}

// parseDriveStream splits a drive stream's name into its drive row id and key; ok is false for a
// tenant stream's name.
func parseDriveStream(name string) (drive int64, k string, ok bool) {
	rest, ok := strings.CutPrefix(name, "drive:")
	if !ok {
		return 0, "", false
	}
	idText, k, ok := strings.Cut(rest, ":")
	drive, err := strconv.ParseInt(idText, 10, 64)
	return drive, k, ok && err == nil
}

// streamDrive is the drive of a drive stream's name.
func (s *Service) streamDrive(ctx context.Context, name string) (store.Drive, error) {
	id, _, ok := parseDriveStream(name)
	if !ok {
		return store.Drive{}, fmt.Errorf("ingest: %q is not a drive's stream", name)
	}
	return s.st.GetDrive(ctx, id)
}

// connectorDrive is a stored drive as the connector sees it.
func connectorDrive(d store.Drive) connector.Drive {
	return connector.Drive{VendorID: d.VendorID, Kind: d.Kind, Owner: d.Owner, Name: d.Name}
}

// followed reports whether a drive's own streams run: in scope and readable.
func followed(d store.Drive) bool { return d.InScope && d.State != store.DriveInaccessible }

// resolveStream finds the stream a unit names (the part of its key after the connection id). A
// stream that no longer exists (the connector dropped it, its drive left the scope, was deleted or
// became inaccessible) is not found.
func (s *Service) resolveStream(ctx context.Context, c store.Connection, ss *session, name string) (connector.StreamSpec, bool, error) {
	id, k, ok := parseDriveStream(name)
	if !ok {
		sp, found := findStream(ss.Streams(), name)
		return sp, found, nil
	}
	d, err := s.st.GetDrive(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (d.ConnectionID != c.ID || !followed(d))) {
		return connector.StreamSpec{}, false, nil
	}
	if err != nil {
		return connector.StreamSpec{}, false, err
	}
	cd := connectorDrive(d)
	sp, found := findStream(ss.DriveStreams(cd), k)
	sp.Drive = cd
	return sp, found, nil
}

// startDriveStreams gives a drive's own streams their start positions (those without one) and
// their work units. The index unit calls it before the drive's first crawl page, so that nothing
// done during the crawl is missed; discovery calls it for drives already indexed. A stream whose
// start comes from the crawl (FromCrawl) is left to the crawl's last page unless the drive is
// indexed already (back in scope: no crawl comes). lost reports that the vendor refused the drive
// as inaccessible: the drive is marked so, and the caller stops.
func (s *Service) startDriveStreams(ctx context.Context, c store.Connection, ss *session, d store.Drive, unit string) (lost bool, err error) {
	if !followed(d) {
		return false, nil
	}
	cd := connectorDrive(d)
	now := s.clock.Now()
	for _, sp := range ss.DriveStreams(cd) {
		if sp.FromCrawl && d.State != store.DriveIndexed {
			continue
		}
		sp.Drive = cd
		name := driveStreamName(d.ID, sp.Key)
		cur, err := s.st.GetCursor(ctx, c.ID, streamCursorName(name))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		if cur == "" {
			pos, err := ss.StreamStart(ctx, sp)
			if errors.Is(err, connector.ErrInaccessible) {
				return true, s.driveLost(ctx, c, name, err)
			}
			if err != nil {
				return false, s.fail(ctx, c, unit, "taking the start position of drive "+d.VendorID+"'s stream "+sp.Key, err)
			}
			// Of two runs taking the start at once (this one and the stream's own), one wins.
			if _, err := s.st.InitCursor(ctx, c.ID, streamCursorName(name), pos); err != nil {
				return false, err
			}
		}
		if _, err := s.st.EnsureWork(ctx, store.Work{Kind: WorkStream, Key: streamUnitKey(c.ID, name), ConnectionID: c.ID, NextRunAt: now}); err != nil {
			return false, err
		}
	}
	return false, nil
}

func findStream(ss []connector.StreamSpec, k string) (connector.StreamSpec, bool) {
	for _, s := range ss {
		if s.Key == k {
			return s, true
		}
	}
	return connector.StreamSpec{}, false
}

// ensureStreams gives each of the session's streams a start position (taken now, before any
// crawl, unless it has a cursor already) and a work unit. unit names the caller in failures.
func (s *Service) ensureStreams(ctx context.Context, c store.Connection, ss *session, unit string) error {
	now := s.clock.Now()
	for i, sp := range ss.Streams() {
		name := streamCursorName(sp.Key)
		cur, err := s.st.GetCursor(ctx, c.ID, name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if cur == "" && i == 0 {
			legacy, err := s.st.GetCursor(ctx, c.ID, legacyStreamCursor)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if legacy != "" {
				cur = legacy
				err := s.st.InTx(ctx, func(q store.Queries) error {
					if err := q.SaveCursor(ctx, c.ID, name, cur); err != nil {
						return err
					}
					return q.SaveCursor(ctx, c.ID, legacyStreamCursor, "")
				})
				if err != nil {
					return err
				}
			}
		}
		if cur == "" {
			pos, err := ss.StreamStart(ctx, sp)
			if err != nil {
				return s.fail(ctx, c, unit, "taking the stream start position", err)
			}
			if _, err := s.st.InitCursor(ctx, c.ID, name, pos); err != nil {
				return err
			}
		}
		if _, err := s.st.EnsureWork(ctx, store.Work{Kind: WorkStream, Key: streamUnitKey(c.ID, sp.Key), ConnectionID: c.ID, NextRunAt: now}); err != nil {
			return err
		}
	}
	return nil
}

// wakeTenantStreams makes a connection's tenant-wide streams poll now (a push notification that
// names no subscription Telltale holds).
func (s *Service) wakeTenantStreams(ctx context.Context, conn int64) error {
	ws, err := s.st.ListWork(ctx, conn)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	for _, w := range ws {
		_, name, _ := strings.Cut(w.Key, ":")
		if w.Kind != WorkStream || strings.HasPrefix(name, "drive:") {
			continue
		}
		if _, err := s.st.ScheduleWork(ctx, store.Work{Kind: WorkStream, Key: w.Key, ConnectionID: conn, NextRunAt: now}); err != nil {
			return err
		}
		s.woken(ctx, WorkStream, w.Key)
	}
	return nil
}

// driveLost ends the stream name of a drive that became inaccessible: the drive is marked, the
// stream's cursor goes, and the connection's status is settled.
func (s *Service) driveLost(ctx context.Context, c store.Connection, name string, cause error) error {
	d, err := s.streamDrive(ctx, name)
	if err != nil {
		return err
	}
	err = s.st.InTx(ctx, func(q store.Queries) error {
		if err := q.UpdateDriveState(ctx, d.ID, store.DriveInaccessible, cause.Error(), d.FileCount, time.Time{}); err != nil {
			return err
		}
		return q.SaveCursor(ctx, c.ID, streamCursorName(name), "")
	})
	if err != nil {
		return err
	}
	s.log.Warn("drive inaccessible: its activity stream stops until access is back", "connection", c.ID, "drive", d.VendorID, "err", cause)
	return s.settleStatus(ctx, c.ID, false)
}

// recrawl indexes a drive's stream's drive again (a Resync with Recrawl): the drive goes back to
// pending with its crawl cursor cleared, the stream's cursor is cleared (the index unit takes a new
// start before its first page, or the crawl hands one over), and the status settles (Monitoring ->
// Indexing).
func (s *Service) recrawl(ctx context.Context, c store.Connection, name string) error {
	d, err := s.streamDrive(ctx, name)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	err = s.st.InTx(ctx, func(q store.Queries) error {
		if err := q.UpdateDriveState(ctx, d.ID, store.DrivePending, "", d.FileCount, time.Time{}); err != nil {
			return err
		}
		if err := q.SaveCursor(ctx, c.ID, indexCursor+strconv.FormatInt(d.ID, 10), ""); err != nil {
			return err
		}
		// Only the stream that asked starts anew; the drive's other streams had no gap.
		if err := q.SaveCursor(ctx, c.ID, streamCursorName(name), ""); err != nil {
			return err
		}
		_, err := q.EnsureWork(ctx, store.Work{Kind: WorkIndex, Key: indexKey(c.ID, d.ID), ConnectionID: c.ID, NextRunAt: now})
		return err
	})
	if err != nil {
		return err
	}
	return s.settleStatus(ctx, c.ID, true)
}
