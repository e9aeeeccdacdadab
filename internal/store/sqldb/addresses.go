package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
)

// The events' actor and owner are ids into the table addresses (migration 0044): an address is
// stored once, as first written (case kept), and an event row holds two small integers instead
// of two texts of about 26 bytes, as do the actor's two indexes (docs/ARCHITECTURE.md, "Fewer
// bytes per stored event"). Addresses are never changed or deleted, so an id, once committed,
// names its address for good: the handle keeps the ones it has seen (addressCache), and a write
// asks the database only for addresses new to it.

// AddressIDs maps addresses to their ids in the table addresses (EventRow's input).
type AddressIDs map[string]int64

// addressJoins names the actor's and owner's addresses of the event e (aa.address and
// ao.address), for the rules' buckets (AggregateBuckets), which group by them.
const addressJoins = ` LEFT JOIN addresses aa ON aa.id = e.actor_id LEFT JOIN addresses ao ON ao.id = e.owner_id `

// maxCachedAddresses bounds the handle's cache: past it, the addresses not yet cached are read
// from the database at each write that needs them (correct, a few index seeks slower).
const maxCachedAddresses = 1 << 18

// addressCache is the ids of the addresses a handle has seen committed, and the addresses of
// the ids it has read (both bounded by maxCachedAddresses).
type addressCache struct {
	mu    sync.Mutex
	ids   map[string]int64
	names map[int64]string
}

// fillNames sets the cached address of each id of names (under one lock) and returns the ids
// it does not hold.
func (c *addressCache) fillNames(names map[int64]string) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []int64
	for id := range names {
		if a, ok := c.names[id]; ok {
			names[id] = a
		} else {
			missing = append(missing, id)
		}
	}
	return missing
}

// addNames records addresses read from the table (committed).
func (c *addressCache) addNames(names map[int64]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	addCapped(&c.names, names)
}

// addCapped copies src into *dst (made when nil) until it holds maxCachedAddresses entries.
func addCapped[K comparable, V any](dst *map[K]V, src map[K]V) {
	if *dst == nil {
		*dst = make(map[K]V, len(src))
	}
	for k, v := range src {
		if len(*dst) >= maxCachedAddresses {
			return
		}
		(*dst)[k] = v
	}
}

// addrRef is the ids of an event's actor and owner as scanColumns read them (0: none, or the
// text itself was read, on a database before migration 0044); nameEvents fills in the addresses.
type addrRef struct{ actor, owner int64 }

// nameEvents sets the actor and owner of evs[i] from refs[i]: from the handle's cache, and the
// ids it does not hold from the table in one query (after the caller's rows are closed; cached
// only when read outside a transaction). Reading
// the addresses here rather than joining them in every read costs a map look-up per event
// instead of two index look-ups (the export read 10-15 % fewer events a second with the joins).
func (q *Queries) nameEvents(ctx context.Context, evs []event.FileEvent, refs []addrRef) error {
	names := map[int64]string{}
	for _, r := range refs {
		for _, id := range [2]int64{r.actor, r.owner} {
			if id != 0 {
				names[id] = ""
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	if missing := q.addrCache.fillNames(names); len(missing) > 0 {
		read, err := q.readAddresses(ctx, missing)
		if err != nil {
			return err
		}
		for _, id := range missing {
			a, ok := read[id]
			if !ok {
				return fmt.Errorf("store: address %d of an event is not stored", id)
			}
			names[id] = a
		}
		// Only what was read outside a transaction is committed: inside one, an address the
		// transaction added is seen too, and if it rolls back SQLite hands its id to the next
		// new address.
		if q.db != nil {
			q.addrCache.addNames(read)
		}
	}
	for i, r := range refs {
		if r.actor != 0 {
			evs[i].User.Email = names[r.actor]
		}
		if r.owner != 0 {
			evs[i].File.Owner = names[r.owner]
		}
	}
	return nil
}

// nameEvent is nameEvents for one event.
func (q *Queries) nameEvent(ctx context.Context, e *event.FileEvent, r addrRef) error {
	evs := []event.FileEvent{*e}
	if err := q.nameEvents(ctx, evs, []addrRef{r}); err != nil {
		return err
	}
	*e = evs[0]
	return nil
}

// queryAddresses runs query on qr and calls fn with each row (id, address) it returns.
func (q *Queries) queryAddresses(ctx context.Context, qr querier, op, query string, args []any, fn func(id int64, a string)) error {
	rows, err := qr.QueryContext(ctx, query, args...)
	if err != nil {
		return q.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var a string
		if err := rows.Scan(&id, &a); err != nil {
			return q.wrap(op, err)
		}
		fn(id, a)
	}
	return q.wrap(op, rows.Err())
}

// readAddresses reads the addresses of ids.
func (q *Queries) readAddresses(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	read := func(query string, args ...any) error {
		return q.queryAddresses(ctx, uncached(q.r), "read addresses", query, args, func(id int64, a string) { out[id] = a })
	}
	if q.d.Arrays {
		return out, read(`SELECT id, address FROM addresses WHERE id = ANY($1::bigint[])`, ids)
	}
	for start := 0; start < len(ids); start += 500 {
		part := ids[start:min(start+500, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		if err := read(`SELECT id, address FROM addresses WHERE id IN `+placeholders(len(part)), args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fillIDs sets in ids the cached id of each of addrs (under one lock) and returns the addresses
// it does not hold.
func (c *addressCache) fillIDs(addrs []string, ids AddressIDs) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []string
	for _, a := range addrs {
		if id, ok := c.ids[a]; ok {
			ids[a] = id
		} else {
			missing = append(missing, a)
		}
	}
	return missing
}

// add records ids that are committed.
func (c *addressCache) add(ids AddressIDs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	addCapped(&c.ids, ids)
}

// eventAddresses returns the distinct non-empty actors and owners of evs.
func eventAddresses(evs []*event.FileEvent) []string {
	seen := make(map[string]bool, 2*len(evs))
	var out []string
	for _, e := range evs {
		for _, a := range [2]string{e.User.Email, e.File.Owner} {
			if a != "" && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// addressIDs returns the ids of the actors and owners of evs, adding the addresses not stored
// yet. It runs inside the write's transaction: the ids it learns from the database join the
// handle's cache only once that transaction commits (DB.InTx), since an address inserted by a
// transaction that rolls back has no id. On a database before migration 0044
// (TextAddresses) it returns nil: EventRow is not given ids there.
func (q *Queries) addressIDs(ctx context.Context, evs []*event.FileEvent) (AddressIDs, error) {
	if q.d.TextAddresses {
		return nil, nil
	}
	addrs := eventAddresses(evs)
	ids := make(AddressIDs, len(addrs))
	var uncached []string
	for _, a := range addrs { // this transaction's own first
		if id, ok := q.txAddrs[a]; ok {
			ids[a] = id
		} else {
			uncached = append(uncached, a)
		}
	}
	missing := q.addrCache.fillIDs(uncached, ids)
	if len(missing) == 0 {
		return ids, nil
	}
	// Sorted, so that two transactions adding the same new addresses take their keys in one
	// order (PostgreSQL: the second waits for the first instead of deadlocking).
	sort.Strings(missing)
	learn := func(a string, id int64) {
		ids[a] = id
		if q.txAddrs == nil {
			q.txAddrs = AddressIDs{}
		}
		q.txAddrs[a] = id
	}
	if q.d.Arrays { // PostgreSQL: one statement for all, whatever their number
		// The addresses not stored (in the statement's snapshot) are inserted, and the ids of
		// both returned. Only those are inserted: an insert that meets a stored address still
		// takes a number from the identity's sequence, and those must last. One stored by
		// another transaction after this statement's snapshot is in neither part (its insert
		// meets the conflict): read again below.
		read := func(query string) error {
			return q.queryAddresses(ctx, q.w, "store addresses", query, []any{missing}, func(id int64, a string) { learn(a, id) })
		}
		if err := read(`WITH want AS (SELECT DISTINCT unnest($1::text[]) AS address),
stored AS (SELECT a.id, a.address FROM addresses a JOIN want w ON w.address = a.address),
added AS (INSERT INTO addresses (address) SELECT w.address FROM want w WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.address = w.address)
  ORDER BY w.address ON CONFLICT (address) DO NOTHING RETURNING id, address)
SELECT id, address FROM stored UNION ALL SELECT id, address FROM added`); err != nil {
			return nil, err
		}
		for _, a := range missing {
			if _, ok := ids[a]; !ok { // stored meanwhile by another transaction
				if err := read(`SELECT id, address FROM addresses WHERE address = ANY($1::text[])`); err != nil {
					return nil, err
				}
				break
			}
		}
	} else { // SQLite: in process, two statements per address new to the handle cost microseconds
		for _, a := range missing {
			var id int64
			err := q.w.QueryRowContext(ctx, `SELECT id FROM addresses WHERE address = ?`, a).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				err = q.w.QueryRowContext(ctx, `INSERT INTO addresses (address) VALUES (?) RETURNING id`, a).Scan(&id)
			}
			if err != nil {
				return nil, q.wrap("store addresses", err)
			}
			learn(a, id)
		}
	}
	for _, a := range missing {
		if _, ok := ids[a]; !ok {
			return nil, fmt.Errorf("store: address %q has no id after storing it", a)
		}
	}
	return ids, nil
}

// AddressNumbering numbers addresses from 1 in the order first met, for loaders that write
// file_events rows directly (the benchmarks' bulk loads, into an empty database): Of gives the
// ids EventRow needs for an event, Take the rows (id, address) of the table addresses numbered
// since the last Take, to be stored in the same transaction as the events using them.
type AddressNumbering struct {
	ids   AddressIDs
	fresh [][]any
}

// Of numbers e's actor and owner if new and returns the ids known so far.
func (n *AddressNumbering) Of(e *event.FileEvent) AddressIDs {
	if n.ids == nil {
		n.ids = AddressIDs{}
	}
	for _, a := range [2]string{e.User.Email, e.File.Owner} {
		if _, ok := n.ids[a]; a != "" && !ok {
			id := int64(len(n.ids) + 1)
			n.ids[a] = id
			n.fresh = append(n.fresh, []any{id, a})
		}
	}
	return n.ids
}

// Take returns the addresses numbered since the last call, as rows (id, address).
func (n *AddressNumbering) Take() [][]any {
	out := n.fresh
	n.fresh = nil
	return out
}

// AddressSequenceSQL sets PostgreSQL's identity of addresses past the ids a loader stored itself.
const AddressSequenceSQL = `SELECT setval(pg_get_serial_sequence('addresses', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM addresses), false)`

// addressTerms maps actor and owner terms of a query to the ids of the addresses they match.
type addressTerms map[*search.Term][]int64

// maxTermAddresses is how many addresses a term may match and still be compiled as a list of
// ids: a pattern matching more (actor:*@corp.example) is looked up in the statement, where a
// long list would not spare the sort anyway.
const maxTermAddresses = 16

// addressTerms reads the ids of the addresses each actor and owner term of qr matches (in id
// order), leaving out the terms that match every address or more than maxTermAddresses.
func (q *Queries) addressTerms(ctx context.Context, qr search.Query) (addressTerms, error) {
	if qr.Root == nil {
		return nil, nil
	}
	var out addressTerms
	err := eachTerm(qr.Root, func(n *search.Term) error {
		if (n.Field != "actor" && n.Field != "owner") || n.MatchesEmpty() {
			return nil
		}
		s := &sqlBuilder{d: q.d}
		s.w(`SELECT a.id FROM addresses a WHERE `)
		s.text(n, "a.address")
		s.w(` ORDER BY a.id LIMIT `)
		s.arg(int64(maxTermAddresses + 1))
		rows, err := q.r.QueryContext(ctx, s.b.String(), s.args...)
		if err != nil {
			return q.wrap("search: addresses", err)
		}
		defer rows.Close()
		ids := []int64{}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return q.wrap("search: addresses", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return q.wrap("search: addresses", err)
		}
		if len(ids) <= maxTermAddresses {
			if out == nil {
				out = addressTerms{}
			}
			out[n] = ids
		}
		return nil
	})
	return out, err
}

// same says whether b maps the same terms to the same ids as a.
func (a addressTerms) same(b addressTerms) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ids := range a {
		if other, ok := b[t]; !ok || !slices.Equal(ids, other) {
			return false
		}
	}
	return true
}
