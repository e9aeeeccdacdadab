package bench

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// PGWritesCommand is `telltale-bench pgwrites`: two ways of one write of PostgreSQL's event
// transaction, interleaved on one connection (a write of each way in turn, in transactions of
// their own), medians: a page's dedupe keys claimed by INSERT ... ON CONFLICT DO NOTHING
// RETURNING against a COPY in a savepoint (sqldb copyKeys), and a page's person-day risk sums
// upserted in 50-row statements against one statement of arrays (sqldb writePersonRisk). A
// single client in turn measures the server's work and the round trips with little of the
// shared machine's noise that a throughput comparison of two builds suffers from (issue 19).
func PGWritesCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pgwrites", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("dsn", "", "a PostgreSQL database to use (default: a throwaway server); the command makes and drops its own tables")
	rounds := fs.Int("rounds", 150, "writes of each way")
	page := fs.Int("page", 500, "events per page (keys per claim; about half as many person-day rows)")
	prefill := fs.Int("prefill", 1000000, "keys stored before the claims are measured")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("pgwrites: unexpected argument %q", fs.Arg(0))
	case *rounds < 1:
		return fmt.Errorf("pgwrites: -rounds must be at least 1, not %d", *rounds)
	case *page < 2:
		return fmt.Errorf("pgwrites: -page must be at least 2, not %d", *page)
	case *prefill < 0:
		return fmt.Errorf("pgwrites: -prefill cannot be negative (%d)", *prefill)
	}
	if *dsn == "" {
		d, err := pgtest.NewDatabase()
		if err != nil {
			return err
		}
		*dsn = d
	}
	c, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `DROP TABLE IF EXISTS bench_keys, bench_risk;
CREATE TABLE bench_keys (dedupe uuid PRIMARY KEY);
CREATE TABLE bench_risk (email TEXT NOT NULL, day BIGINT NOT NULL, score BIGINT NOT NULL, events BIGINT NOT NULL, PRIMARY KEY (email, day))`); err != nil {
		return err
	}
	defer c.Exec(context.Background(), `DROP TABLE IF EXISTS bench_keys, bench_risk`)
	keyRows := func(n int) [][]any {
		rows := make([][]any, n)
		for i := range rows {
			b := make([]byte, 16)
			rand.Read(b)
			rows[i] = []any{b}
		}
		return rows
	}
	for left := *prefill; left > 0; left -= 10000 {
		if _, err := c.CopyFrom(ctx, pgx.Identifier{"bench_keys"}, []string{"dedupe"}, pgx.CopyFromRows(keyRows(min(left, 10000)))); err != nil {
			return err
		}
	}
	if _, err := c.Exec(ctx, `VACUUM ANALYZE bench_keys`); err != nil {
		return err
	}
	inTx := func(f func(tx pgx.Tx) error) (float64, error) {
		t0 := time.Now()
		tx, err := c.Begin(ctx)
		if err != nil {
			return 0, err
		}
		if err := f(tx); err != nil {
			tx.Rollback(ctx)
			return 0, err
		}
		err = tx.Commit(ctx)
		return float64(time.Since(t0).Microseconds()), err
	}
	var upsert, copied []float64
	for i := 0; i < 2**rounds; i++ {
		rows := keyRows(*page)
		var d float64
		if i%2 == 0 {
			keys := make([][]byte, len(rows))
			for j, r := range rows {
				keys[j] = r[0].([]byte)
			}
			d, err = inTx(func(tx pgx.Tx) error {
				rs, err := tx.Query(ctx, `INSERT INTO bench_keys (dedupe) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING uuid_send(dedupe)`, keys)
				if err != nil {
					return err
				}
				for rs.Next() {
				}
				rs.Close()
				return rs.Err()
			})
			upsert = append(upsert, d)
		} else {
			d, err = inTx(func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SAVEPOINT claim_keys`); err != nil {
					return err
				}
				_, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_keys"}, []string{"dedupe"}, pgx.CopyFromRows(rows))
				return err
			})
			copied = append(copied, d)
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "claiming %d new keys (a page) among %d stored, median µs per transaction: INSERT ... ON CONFLICT DO NOTHING RETURNING %.0f, SAVEPOINT + COPY %.0f (%.2f µs per event less)\n",
		*page, *prefill, Median(upsert), Median(copied), (Median(upsert)-Median(copied))/float64(*page))

	var chunked, arrays []float64
	for i := 0; i < 2**rounds; i++ {
		seen := map[string]bool{}
		var emails []string
		var days []int64
		for j := 0; j < *page/2; j++ {
			e, d := fmt.Sprintf("person%05d@corp.example", mrand.IntN(5000)), int64(20400+mrand.IntN(90))
			if k := fmt.Sprint(e, d); !seen[k] {
				seen[k] = true
				emails, days = append(emails, e), append(days, d)
			}
		}
		ones := make([]int64, len(emails))
		for j := range ones {
			ones[j] = 1
		}
		var d float64
		if i%2 == 0 {
			d, err = inTx(func(tx pgx.Tx) error {
				for st := 0; st < len(emails); st += 50 {
					var marks []string
					var args []any
					for j := st; j < min(st+50, len(emails)); j++ {
						p := len(args)
						marks = append(marks, fmt.Sprintf("($%d, $%d, $%d, $%d)", p+1, p+2, p+3, p+4))
						args = append(args, emails[j], days[j], int64(3), int64(1))
					}
					if _, err := tx.Exec(ctx, `INSERT INTO bench_risk (email, day, score, events) VALUES `+strings.Join(marks, ", ")+`
ON CONFLICT (email, day) DO UPDATE SET score = bench_risk.score + excluded.score, events = bench_risk.events + excluded.events`, args...); err != nil {
						return err
					}
				}
				return nil
			})
			chunked = append(chunked, d)
		} else {
			d, err = inTx(func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO bench_risk (email, day, score, events)
SELECT email, day, score, events FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS r(email, day, score, events, n) ORDER BY n
ON CONFLICT (email, day) DO UPDATE SET score = bench_risk.score + excluded.score, events = bench_risk.events + excluded.events`, emails, days, ones, ones)
				return err
			})
			arrays = append(arrays, d)
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "upserting the person-day risk sums of a page (up to %d rows, 5,000 people over 90 days), median µs per transaction: 50-row statements %.0f, one statement of arrays %.0f (%.2f µs per event less)\n",
		*page/2, Median(chunked), Median(arrays), (Median(chunked)-Median(arrays))/float64(*page))
	return dashKeysCollation(ctx, c, *rounds, *page, stdout)
}

// dashKeysCollation compares the dashboards fold's upsert into a dash_dims-like table whose
// text keys use the database's collation against one whose keys are COLLATE "C" (byte order) and
// one whose keys are integers (the value an id in a table of 5,000 values, the kind and vector
// small codes; the fold's text joined to the ids in the statement): the same rows, a fold's
// worth (4 per event of a page), into tables holding 200,000 rows (40 hours of 5,000 people),
// the three in turn. The rows fall in 60 hours, so about a sixth of them update a row of the
// external_share vector and the rest are new.
func dashKeysCollation(ctx context.Context, c *pgx.Conn, rounds, page int, stdout io.Writer) error {
	var dbColl string
	if err := c.QueryRow(ctx, `SELECT datcollate FROM pg_database WHERE datname = current_database()`).Scan(&dbColl); err != nil {
		return err
	}
	vectors := []string{"external_share", "public_link", "email", ""}
	for _, t := range []struct{ name, coll string }{{"bench_dims_db", ""}, {"bench_dims_c", ` COLLATE "C"`}} {
		if _, err := c.Exec(ctx, `DROP TABLE IF EXISTS `+t.name+`;
CREATE TABLE `+t.name+` (kind TEXT`+t.coll+` NOT NULL, span INTEGER NOT NULL, at BIGINT NOT NULL, value TEXT`+t.coll+` NOT NULL,
  vector TEXT`+t.coll+` NOT NULL, events BIGINT NOT NULL, risky BIGINT NOT NULL, PRIMARY KEY (kind, span, at, value, vector));
INSERT INTO `+t.name+` SELECT 'p', 1, 490000 + (i / 5000) % 40, 'person' || lpad((i % 5000)::text, 5, '0') || '@corp.example', 'external_share', 1, 0
  FROM generate_series(0, 199999) i`); err != nil {
			return err
		}
	}
	if _, err := c.Exec(ctx, `DROP TABLE IF EXISTS bench_dims_ids, bench_values, bench_vectors;
CREATE TABLE bench_values (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
INSERT INTO bench_values SELECT i, 'person' || lpad(i::text, 5, '0') || '@corp.example' FROM generate_series(0, 4999) i;
CREATE TABLE bench_vectors (id SMALLINT PRIMARY KEY, vector TEXT NOT NULL UNIQUE);
INSERT INTO bench_vectors VALUES (0, ''), (1, 'email'), (2, 'external_share'), (3, 'public_link');
CREATE TABLE bench_dims_ids (kind SMALLINT NOT NULL, span SMALLINT NOT NULL, at BIGINT NOT NULL, value INTEGER NOT NULL,
  vector SMALLINT NOT NULL, events BIGINT NOT NULL, risky BIGINT NOT NULL, PRIMARY KEY (kind, span, at, value, vector));
INSERT INTO bench_dims_ids SELECT 1, 1, 490000 + (i / 5000) % 40, i % 5000, 2, 1, 0 FROM generate_series(0, 199999) i`); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, `VACUUM ANALYZE bench_dims_db, bench_dims_c, bench_dims_ids, bench_values, bench_vectors`); err != nil {
		return err
	}
	defer c.Exec(context.Background(), `DROP TABLE IF EXISTS bench_dims_db, bench_dims_c, bench_dims_ids, bench_values, bench_vectors`)
	upsert := func(table string) string {
		return `INSERT INTO ` + table + ` (kind, span, at, value, vector, events, risky)
SELECT kind, span, at, value, vector, SUM(events), SUM(risky) FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $6::bigint[]) AS r(kind, span, at, value, vector, events, risky)
GROUP BY kind, span, at, value, vector ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (kind, span, at, value, vector) DO UPDATE SET events = ` + table + `.events + excluded.events, risky = ` + table + `.risky + excluded.risky`
	}
	stmts := []string{upsert("bench_dims_db"), upsert("bench_dims_c"), `INSERT INTO bench_dims_ids (kind, span, at, value, vector, events, risky)
SELECT CASE r.kind WHEN 'p' THEN 1 WHEN 'v' THEN 2 ELSE 3 END, r.span, r.at, v.id, w.id, SUM(r.events), SUM(r.risky)
FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $6::bigint[]) AS r(kind, span, at, value, vector, events, risky)
JOIN bench_values v ON v.value = r.value JOIN bench_vectors w ON w.vector = r.vector
GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (kind, span, at, value, vector) DO UPDATE SET events = bench_dims_ids.events + excluded.events, risky = bench_dims_ids.risky + excluded.risky`}
	times := make([][]float64, len(stmts))
	for i := 0; i < len(stmts)*rounds; i++ {
		n := 4 * page
		kinds, values, vecs := make([]string, n), make([]string, n), make([]string, n)
		spans, ats, ones := make([]int64, n), make([]int64, n), make([]int64, n)
		for j := range kinds {
			kinds[j], values[j], vecs[j] = "p", fmt.Sprintf("person%05d@corp.example", mrand.IntN(5000)), vectors[mrand.IntN(len(vectors))]
			spans[j], ats[j], ones[j] = 1, int64(490000+mrand.IntN(60)), 1
		}
		t0 := time.Now()
		tag, err := c.Exec(ctx, stmts[i%len(stmts)], kinds, spans, ats, values, vecs, ones)
		if err != nil {
			return err
		}
		times[i%len(stmts)] = append(times[i%len(stmts)], float64(time.Since(t0).Microseconds()))
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pgwrites: the upsert into form %d wrote no row", i%len(stmts))
		}
	}
	db, byteOrder, ids := Median(times[0]), Median(times[1]), Median(times[2])
	fmt.Fprintf(stdout, "upserting %d dashboard count rows (a fold's worth of a %d-event page) into 200,000, median µs per statement: keys in the database's collation (%s) %.0f, in COLLATE \"C\" %.0f, as integer ids %.0f (%.0f %% of the first)\n",
		4*page, page, dbColl, db, byteOrder, ids, 100*ids/db)
	return nil
}
