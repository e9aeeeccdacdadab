package ingest

import (
	"context"
	"errors"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/store"
)

// legacyStreamCursor is a connection's one cursor from before streams had keys; ensureStreams
// carries it over to the connection's first stream.
const legacyStreamCursor = "stream"

// streamCursorName names a stream's cursor.
func streamCursorName(stream string) string { return "stream:" + stream }

// streamUnitKey is the work key of a connection's stream: "<connection id>:<stream key>".
func streamUnitKey(conn int64, stream string) string { return key(conn) + ":" + stream }

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
			if err := s.st.SaveCursor(ctx, c.ID, name, pos); err != nil {
				return err
			}
		}
		if _, err := s.st.EnsureWork(ctx, store.Work{Kind: WorkStream, Key: streamUnitKey(c.ID, sp.Key), ConnectionID: c.ID, NextRunAt: now}); err != nil {
			return err
		}
	}
	return nil
}

// wakeStreams makes every stream of a connection poll now (a push notification; contract v2 names
// the streams concerned).
func (s *Service) wakeStreams(ctx context.Context, conn int64) error {
	ws, err := s.st.ListWork(ctx, conn)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	for _, w := range ws {
		if w.Kind != WorkStream {
			continue
		}
		if _, err := s.st.ScheduleWork(ctx, store.Work{Kind: WorkStream, Key: w.Key, ConnectionID: conn, NextRunAt: now}); err != nil {
			return err
		}
	}
	return nil
}
