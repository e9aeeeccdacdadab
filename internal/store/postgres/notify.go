package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// WorkChannel is the LISTEN/NOTIFY channel on which nodes wake each other (internal/work).
const WorkChannel = "telltale_work"

// maxNotifyPayload bounds a payload: PostgreSQL refuses 8,000 bytes and more.
const maxNotifyPayload = 7900

// NotifyWork sends payload on WorkChannel to every node listening (ListenWork), this one
// included. It is sent outside any transaction, so call it after the change it announces has
// committed. A notification is a hint: one lost (no node listening, a listener reconnecting) only
// costs latency, since the nodes poll as well.
func (s *Store) NotifyWork(ctx context.Context, payload string) error {
	if len(payload) > maxNotifyPayload {
		return fmt.Errorf("postgres: notify: payload of %d bytes, at most %d", len(payload), maxNotifyPayload)
	}
	if _, err := s.Writer().ExecContext(ctx, `SELECT pg_notify($1, $2)`, WorkChannel, payload); err != nil {
		return fmt.Errorf("postgres: notify: %w", err)
	}
	return nil
}

// Listen timing: a listener waits this long for a notification before it checks that its
// connection is still alive; a check (or a connection attempt) may take listenCheck; after a
// failure it retries after listenRetry, doubled up to listenRetryMax.
var (
	listenIdle     = 20 * time.Second
	listenCheck    = 5 * time.Second
	listenRetry    = 250 * time.Millisecond
	listenRetryMax = 10 * time.Second
)

// ListenWork receives the payloads sent on WorkChannel and calls fn with each, until ctx ends. It
// holds one connection of its own outside the pool (LISTEN is per session), checks it after 20 s
// of silence and opens a new one when it drops (the network cut, PostgreSQL restarted), retrying
// with backoff. state is called with nil each time it has just started listening, and with the
// cause when the connection was lost, so that the caller can log it and look for work it may have
// missed meanwhile. Not usable behind a PgBouncer in transaction pooling mode.
func (s *Store) ListenWork(ctx context.Context, fn func(payload string), state func(err error)) {
	retry := listenRetry
	for ctx.Err() == nil {
		up, err := s.listenOnce(ctx, fn, state)
		if ctx.Err() != nil {
			return
		}
		if up {
			retry = listenRetry
		}
		if state != nil {
			state(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, listenRetryMax)
	}
}

// listenOnce listens on one connection until it fails (up: it had started listening) or ctx ends.
func (s *Store) listenOnce(ctx context.Context, fn func(string), state func(error)) (up bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, listenCheck)
	conn, err := pgx.Connect(cctx, s.dsn)
	cancel()
	if err != nil {
		return false, fmt.Errorf("postgres: listen: connect: %w", err)
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(c)
		cancel()
	}()
	cctx, cancel = context.WithTimeout(ctx, listenCheck)
	_, err = conn.Exec(cctx, `LISTEN `+WorkChannel)
	cancel()
	if err != nil {
		return false, fmt.Errorf("postgres: listen: %w", err)
	}
	if state != nil {
		state(nil)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			fn(n.Payload)
			continue
		}
		if ctx.Err() != nil {
			return true, nil
		}
		if conn.IsClosed() || !pgconn.Timeout(err) {
			return true, fmt.Errorf("postgres: listen: %w", err)
		}
		// Silence: is the connection still there? A cut network answers nothing.
		pctx, cancel := context.WithTimeout(ctx, listenCheck)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, fmt.Errorf("postgres: listen: connection check: %w", err)
		}
	}
}
