package sqldb

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

const subscriptionCols = `id, connection_id, drive_id, vendor_id, stream, resource, detail, expires_at, checked_at, created_at`

func scanSubscription(r interface{ Scan(...any) error }) (store.Subscription, error) {
	var s store.Subscription
	var exp, checked, created int64
	err := r.Scan(&s.ID, &s.ConnectionID, &s.DriveID, &s.VendorID, &s.Stream, &s.Resource, &s.Detail, &exp, &checked, &created)
	s.ExpiresAt, s.CheckedAt, s.CreatedAt = fromMicros(exp), fromMicros(checked), fromMicros(created)
	return s, err
}

// SaveSubscription implements store.SubscriptionQueries.
func (q *Queries) SaveSubscription(ctx context.Context, s store.Subscription) (store.Subscription, error) {
	created := s.CreatedAt
	if created.IsZero() {
		created = s.CheckedAt
	}
	row := q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO push_subscriptions (connection_id, drive_id, vendor_id, stream, resource, detail,
expires_at, checked_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (connection_id, vendor_id) DO UPDATE SET drive_id = excluded.drive_id, stream = excluded.stream,
resource = excluded.resource, detail = excluded.detail, expires_at = excluded.expires_at, checked_at = excluded.checked_at
RETURNING `+subscriptionCols), s.ConnectionID, s.DriveID, s.VendorID, s.Stream, s.Resource, s.Detail,
		micros(s.ExpiresAt), micros(s.CheckedAt), micros(created))
	out, err := scanSubscription(row)
	return out, q.wrap("save push subscription", err)
}

// ListSubscriptions implements store.SubscriptionQueries.
func (q *Queries) ListSubscriptions(ctx context.Context, connectionID int64, driveIDs []int64) ([]store.Subscription, error) {
	if len(driveIDs) == 0 {
		return nil, nil
	}
	ph := make([]string, len(driveIDs))
	args := []any{connectionID}
	for i, id := range driveIDs {
		ph[i] = "?"
		args = append(args, id)
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+subscriptionCols+` FROM push_subscriptions WHERE connection_id = ? AND drive_id IN (`+
		strings.Join(ph, ", ")+`) ORDER BY id`), args...)
	if err != nil {
		return nil, q.wrap("list push subscriptions", err)
	}
	defer rows.Close()
	var out []store.Subscription
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, q.wrap("list push subscriptions", err)
		}
		out = append(out, s)
	}
	return out, q.wrap("list push subscriptions", rows.Err())
}

// FindSubscription implements store.SubscriptionQueries.
func (q *Queries) FindSubscription(ctx context.Context, connectionID int64, vendorID string) (store.Subscription, error) {
	s, err := scanSubscription(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+subscriptionCols+` FROM push_subscriptions
WHERE connection_id = ? AND vendor_id = ?`), connectionID, vendorID))
	return s, q.wrap("find push subscription "+strconv.Quote(vendorID), err)
}

// DeleteSubscription implements store.SubscriptionQueries.
func (q *Queries) DeleteSubscription(ctx context.Context, connectionID int64, vendorID string) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM push_subscriptions WHERE connection_id = ? AND vendor_id = ?`), connectionID, vendorID)
	return q.wrap("delete push subscription", err)
}

// CountSubscriptions implements store.SubscriptionQueries.
func (q *Queries) CountSubscriptions(ctx context.Context, connectionID int64) (int64, error) {
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM push_subscriptions WHERE connection_id = ?`), connectionID).Scan(&n)
	return n, q.wrap("count push subscriptions", err)
}

// ListExpiringSubscriptions implements store.SubscriptionQueries.
func (q *Queries) ListExpiringSubscriptions(ctx context.Context, connectionID int64, before time.Time, limit int) ([]store.Subscription, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+subscriptionCols+` FROM push_subscriptions
WHERE connection_id = ? AND expires_at > 0 AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`), connectionID, micros(before), limit)
	if err != nil {
		return nil, q.wrap("list expiring push subscriptions", err)
	}
	defer rows.Close()
	var out []store.Subscription
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, q.wrap("list expiring push subscriptions", err)
		}
		out = append(out, s)
	}
	return out, q.wrap("list expiring push subscriptions", rows.Err())
}
