package sqldb

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

const microsPerDay = int64(24 * time.Hour / time.Microsecond)

// day is the UTC day of t, as days since 1970-01-01.
func day(t time.Time) int64 { return t.UTC().Unix() / 86400 }

// addPersonRisk adds the scores of the inserted events to their actors' days (person_risk), in
// the transaction that stores them: one statement per 50 people and days of the page (a round trip
// per person and day cost PostgreSQL ingest about a tenth of its rate), none for a page without
// scored events.
func (q *Queries) addPersonRisk(ctx context.Context, evs []*event.FileEvent) error {
	sums := riskSums{}
	for _, e := range evs {
		sums.add(e, 1)
	}
	return q.writePersonRisk(ctx, sums)
}

type riskKey struct {
	email string
	day   int64
}

// riskSums are changes of person_risk rows: score and events.
type riskSums map[riskKey][2]int64

// add counts e's score (sign -1: takes it back) when it has a score and an actor.
func (s riskSums) add(e *event.FileEvent, sign int64) {
	if e.Risk.Score <= 0 || e.User.Email == "" {
		return
	}
	k := riskKey{strings.ToLower(e.User.Email), day(e.Timestamp)}
	v := s[k]
	s[k] = [2]int64{v[0] + sign*int64(e.Risk.Score), v[1] + sign}
}

func (q *Queries) writePersonRisk(ctx context.Context, sums riskSums) error {
	keys := make([]riskKey, 0, len(sums))
	for k, v := range sums {
		if v != [2]int64{} {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { // one order for every writer: no deadlock on PostgreSQL
		if keys[i].email != keys[j].email {
			return keys[i].email < keys[j].email
		}
		return keys[i].day < keys[j].day
	})
	if q.d.Arrays && len(keys) > 0 { // PostgreSQL: one statement, its rows from arrays in the keys' order
		emails, days, scores, events := make([]string, len(keys)), make([]int64, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			v := sums[k]
			emails[i], days[i], scores[i], events[i] = k.email, k.day, v[0], v[1]
		}
		_, err := q.w.ExecContext(ctx, `INSERT INTO person_risk (email, day, score, events)
SELECT email, day, score, events FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS r(email, day, score, events, n) ORDER BY n
ON CONFLICT (email, day) DO UPDATE SET score = person_risk.score + excluded.score, events = person_risk.events + excluded.events`,
			emails, days, scores, events)
		return q.wrap("person risk", err)
	}
	for start := 0; start < len(keys); start += dashChunk {
		part := keys[start:min(start+dashChunk, len(keys))]
		args := make([]any, 0, 4*len(part))
		for _, k := range part {
			v := sums[k]
			args = append(args, k.email, k.day, v[0], v[1])
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO person_risk (email, day, score, events) VALUES `+rowMarks(len(part), 4)+`
ON CONFLICT (email, day) DO UPDATE SET score = person_risk.score + excluded.score, events = person_risk.events + excluded.events`),
			args...); err != nil {
			return q.wrap("person risk", err)
		}
	}
	return nil
}

// PersonRiskDays implements store.PersonRiskQueries.
func (q *Queries) PersonRiskDays(ctx context.Context, email string, since time.Time) ([]store.PersonRiskDay, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT day, score, events FROM person_risk WHERE email = ? AND day >= ? ORDER BY day`),
		strings.ToLower(strings.TrimSpace(email)), day(since))
	if err != nil {
		return nil, q.wrap("person risk", err)
	}
	defer rows.Close()
	var out []store.PersonRiskDay
	for rows.Next() {
		var d store.PersonRiskDay
		var n int64
		if err := rows.Scan(&n, &d.Score, &d.Events); err != nil {
			return nil, q.wrap("person risk", err)
		}
		d.Day = time.UnixMicro(n * microsPerDay).UTC()
		out = append(out, d)
	}
	return out, q.wrap("person risk", rows.Err())
}
