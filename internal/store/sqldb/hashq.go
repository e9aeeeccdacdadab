package sqldb

import (
	"context"
	"strings"

	"github.com/telltale-dev/telltale/internal/store"
)

const hashJobCols = `id, connection_id, drive_id, file_id, part, event_id, enqueued_at`

// EnqueueHashJobs implements store.HashQueries.
func (q *Queries) EnqueueHashJobs(ctx context.Context, jobs []store.HashJob, max int) (int, error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	added := 0
	err := q.inTx(ctx, func(q *Queries) error {
		room := map[int64]int{} // per connection: how many more may be added
		now := micros(nowUTC())
		st, err := q.w.PrepareContext(ctx, q.d.q(`INSERT INTO hash_jobs (connection_id, drive_id, file_id, part, event_id, enqueued_at)
VALUES (?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return err
		}
		defer st.Close()
		for _, j := range jobs {
			if max > 0 {
				r, ok := room[j.ConnectionID]
				if !ok {
					// Counting stops at max: a full queue costs no more to check than a bounded scan.
					var n int
					if err := q.w.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM (SELECT 1 FROM hash_jobs WHERE connection_id = ? LIMIT ?) p`),
						j.ConnectionID, max).Scan(&n); err != nil {
						return err
					}
					r = max - n
				}
				if r <= 0 {
					room[j.ConnectionID] = 0
					continue
				}
				room[j.ConnectionID] = r - 1
			}
			at := micros(j.EnqueuedAt)
			if at == 0 {
				at = now
			}
			if _, err := st.ExecContext(ctx, j.ConnectionID, j.Drive, j.File, j.Part, j.EventID, at); err != nil {
				return err
			}
			added++
		}
		return nil
	})
	if err != nil {
		return 0, q.wrap("enqueue hash jobs", err)
	}
	return added, nil
}

// ClaimHashJobs implements store.HashQueries.
func (q *Queries) ClaimHashJobs(ctx context.Context, connectionID int64, files int) ([]store.HashJob, error) {
	if files <= 0 {
		files = 100
	}
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT `+hashJobCols+` FROM hash_jobs WHERE connection_id = ? AND (drive_id, file_id, part) IN (
SELECT drive_id, file_id, part FROM hash_jobs WHERE connection_id = ? GROUP BY drive_id, file_id, part ORDER BY MIN(id) LIMIT ?)
ORDER BY id`), connectionID, connectionID, files)
	if err != nil {
		return nil, q.wrap("claim hash jobs", err)
	}
	defer rows.Close()
	var out []store.HashJob
	for rows.Next() {
		var j store.HashJob
		var at int64
		if err := rows.Scan(&j.ID, &j.ConnectionID, &j.Drive, &j.File, &j.Part, &j.EventID, &at); err != nil {
			return nil, q.wrap("claim hash jobs", err)
		}
		j.EnqueuedAt = fromMicros(at)
		out = append(out, j)
	}
	return out, q.wrap("claim hash jobs", rows.Err())
}

// CountHashJobs implements store.HashQueries.
func (q *Queries) CountHashJobs(ctx context.Context, connectionID int64) (int64, error) {
	query, args := `SELECT COUNT(*) FROM hash_jobs`, []any(nil)
	if connectionID != 0 {
		query, args = query+` WHERE connection_id = ?`, []any{connectionID}
	}
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(query), args...).Scan(&n)
	return n, q.wrap("count hash jobs", err)
}

// CompleteHashJobs implements store.HashQueries.
func (q *Queries) CompleteHashJobs(ctx context.Context, jobs []store.HashJob, sum *store.HashSum) error {
	if len(jobs) == 0 {
		return nil
	}
	var md5, sha any
	if sum != nil {
		var err error
		if md5, err = hexColumn("md5", sum.MD5, 16); err != nil {
			return q.wrap("complete hash jobs", err)
		}
		if sha, err = hexColumn("sha256", sum.SHA256, 32); err != nil {
			return q.wrap("complete hash jobs", err)
		}
	}
	err := q.inTx(ctx, func(q *Queries) error {
		type fileKey struct {
			conn int64
			id   string
		}
		var files []fileKey
		seen := map[fileKey]bool{}
		for start := 0; start < len(jobs); start += chunk {
			part := jobs[start:min(start+chunk, len(jobs))]
			events, ids := make([]any, len(part)), make([]any, len(part))
			for i, j := range part {
				events[i], ids[i] = j.EventID, j.ID
				if k := (fileKey{j.ConnectionID, j.File}); !seen[k] {
					seen[k] = true
					files = append(files, k)
				}
			}
			if sum != nil {
				if _, err := q.w.ExecContext(ctx, q.d.q(`UPDATE file_events SET md5 = COALESCE(md5, ?), sha256 = COALESCE(sha256, ?),
size = CASE WHEN size IS NULL OR size = 0 THEN ? ELSE size END WHERE id IN `+placeholders(len(part))), append([]any{md5, sha, sum.Size}, events...)...); err != nil {
					return err
				}
			}
			if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM hash_jobs WHERE id IN `+placeholders(len(part))), ids...); err != nil {
				return err
			}
		}
		if sum == nil {
			return nil
		}
		for _, f := range files {
			if _, err := q.w.ExecContext(ctx, q.d.q(`UPDATE files SET md5 = ?, sha256 = ?, size = CASE WHEN size = 0 THEN ? ELSE size END
WHERE connection_id = ? AND vendor_id = ?`), sum.MD5, sum.SHA256, sum.Size, f.conn, f.id); err != nil {
				return err
			}
		}
		return nil
	})
	return q.wrap("complete hash jobs", err)
}

// DeleteHashJobs implements store.HashQueries.
func (q *Queries) DeleteHashJobs(ctx context.Context, connectionID int64) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM hash_jobs WHERE connection_id = ?`), connectionID)
	if err != nil {
		return 0, q.wrap("delete hash jobs", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("delete hash jobs", err)
}

// placeholders is "(?, ?, ...)" with n marks.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}
