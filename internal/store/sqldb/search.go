package sqldb

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// sqlBuilder writes SQL text and its bound arguments; user text only ever goes into args.
type sqlBuilder struct {
	d    *Dialect
	b    strings.Builder
	args []any
	// SQLite name terms: common ones (many trigram candidates, see commonNames) get no FTS5
	// prefilter where unfiltered is set; joined is the one whose candidates drive the query (its
	// MATCH is written by the caller).
	common     map[*search.Term]bool
	unfiltered bool
	joined     *search.Term
	// addrs: the ids of the addresses some actor and owner terms match (addressTerms); the
	// other terms look them up in the statement.
	addrs addressTerms
}

func (s *sqlBuilder) w(parts ...string) {
	for _, p := range parts {
		s.b.WriteString(p)
	}
}

// arg binds v and writes its placeholder.
func (s *sqlBuilder) arg(v any) {
	s.args = append(s.args, v)
	if s.d.Numbered {
		s.b.WriteString("$" + strconv.Itoa(len(s.args)))
	} else {
		s.b.WriteByte('?')
	}
}

func (s *sqlBuilder) pg() bool { return s.d.Name == "postgres" }

// fold lowers ASCII letters only, on both drivers (search.Fold does the same in Go): SQLite's
// built-in lower() folds ASCII only; PostgreSQL's lower() would fold by collation.
func (s *sqlBuilder) fold(expr string) string {
	if s.pg() {
		return "translate(" + expr + ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
	}
	return "lower(" + expr + ")"
}

// docText returns the SQL for a string inside the doc JSON at keys, or NULL when absent.
func (s *sqlBuilder) docText(keys ...string) string {
	if s.pg() {
		return "(convert_from(e.doc, 'UTF8')::jsonb #>> '{" + strings.Join(keys, ",") + "}')"
	}
	return "json_extract(CAST(e.doc AS TEXT), '$." + strings.Join(keys, ".") + "')"
}

// docLike is "the doc's text LIKE, case-insensitively (ASCII at least)"; an argument follows.
func (s *sqlBuilder) docLike() string {
	if s.pg() {
		return "convert_from(e.doc, 'UTF8') ILIKE"
	}
	return "CAST(e.doc AS TEXT) LIKE" // SQLite's LIKE folds ASCII
}

// hasControl reports whether s holds a control character (JSON escapes them in the doc).
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// docArray writes "EXISTS (one element of the doc array at keys satisfies cond)"; cond is called
// with the SQL of the element's text.
func (s *sqlBuilder) docArray(cond func(elem string), keys ...string) {
	if s.pg() {
		s.w("EXISTS (SELECT 1 FROM jsonb_array_elements_text(convert_from(e.doc, 'UTF8')::jsonb #> '{", strings.Join(keys, ","), "}') AS j(v) WHERE ")
		cond("j.v")
	} else {
		s.w("EXISTS (SELECT 1 FROM json_each(CAST(e.doc AS TEXT), '$.", strings.Join(keys, "."), "') AS j WHERE ")
		cond("j.value")
	}
	s.w(")")
}

// pathExpr is the file path: the doc's when stored, else directory + "/" + name (see derivedPath).
func (s *sqlBuilder) pathExpr() string {
	last := "substr(e.directory, -1)"
	if s.pg() {
		last = "right(e.directory, 1)"
	}
	return "COALESCE(" + s.docText("f", "p") + ", CASE WHEN e.directory IS NULL OR e.file_name IS NULL THEN '' WHEN " + last +
		" = '/' THEN e.directory || e.file_name ELSE e.directory || '/' || e.file_name END)"
}

// node compiles n to a condition that is never NULL (so that NOT agrees with search.Match).
func (s *sqlBuilder) node(n search.Node) error {
	switch n := n.(type) {
	case *search.And, *search.Or:
		nodes, sep := []search.Node(nil), ""
		if a, ok := n.(*search.And); ok {
			nodes, sep = a.Nodes, " AND "
		} else {
			nodes, sep = n.(*search.Or).Nodes, " OR "
		}
		s.w("(")
		for i, c := range nodes {
			if i > 0 {
				s.w(sep)
			}
			if err := s.node(c); err != nil {
				return err
			}
		}
		s.w(")")
	case *search.Not:
		s.w("NOT ") // every node compiles to a parenthesized condition
		return s.node(n.Node)
	case *search.Term:
		s.w("(")
		if err := s.term(n); err != nil {
			return err
		}
		s.w(")")
	default:
		return fmt.Errorf("search: unknown node %T", n)
	}
	return nil
}

// text writes a text condition on expr (which may be NULL): folded equality or LIKE, never
// matching the empty string.
func (s *sqlBuilder) text(t *search.Term, expr string) {
	e := "COALESCE(" + expr + ", '')"
	if t.MatchesEmpty() {
		s.w(e, " <> ''")
		return
	}
	if !t.HasWildcard() {
		s.w(s.fold(e), " = ")
		s.arg(t.Literal())
		return
	}
	s.w(s.fold(e), ` LIKE `)
	s.arg(t.LikePattern())
	s.w(` ESCAPE '\'`)
}

// address compiles a text term on an address column (the actor's or owner's id into addresses,
// migration 0044): the ids whose address the term matches, from the addresses' folded index. A
// missing address (NULL) matches no term, and NOT of a term then holds, as for the text columns.
func (s *sqlBuilder) address(t *search.Term, col string) {
	if t.MatchesEmpty() {
		s.w(col, " IS NOT NULL")
		return
	}
	if ids, ok := s.addrs[t]; ok {
		switch len(ids) {
		case 0:
			s.w("1 = 0")
		case 1:
			s.w("(", col, " IS NOT NULL AND ", col, " = ")
			s.arg(ids[0])
			s.w(")")
		default:
			s.w("(", col, " IS NOT NULL AND ", col, " IN (")
			for i, id := range ids {
				if i > 0 {
					s.w(", ")
				}
				s.arg(id)
			}
			s.w("))")
		}
		return
	}
	s.w("(", col, " IS NOT NULL AND ", col, " IN (SELECT a.id FROM addresses a WHERE ")
	s.text(t, "a.address")
	s.w("))")
}

// eachTerm calls fn with each term of the tree n, depth first, stopping at its first error.
func eachTerm(n search.Node, fn func(*search.Term) error) error {
	switch n := n.(type) {
	case *search.And:
		for _, c := range n.Nodes {
			if err := eachTerm(c, fn); err != nil {
				return err
			}
		}
	case *search.Or:
		for _, c := range n.Nodes {
			if err := eachTerm(c, fn); err != nil {
				return err
			}
		}
	case *search.Not:
		return eachTerm(n.Node, fn)
	case *search.Term:
		return fn(n)
	}
	return nil
}

// commonCandidates is how many trigram candidates make a name term common: its FTS5 prefilter
// would cost more than it saves where the query reads in the order of an index and stops early
// (a page sorted by time: a scan finds 100 matches among a few thousand events, where the
// prefilter looks up every candidate and sorts them).
var commonCandidates int64 = 20000

// commonNames probes the FTS5 table (SQLite) for each name term of qr that has a trigram
// prefilter and returns those with at least commonCandidates candidates.
func (q *Queries) commonNames(ctx context.Context, qr search.Query) (map[*search.Term]bool, error) {
	if q.d.Name == "postgres" || qr.Root == nil {
		return nil, nil
	}
	var out map[*search.Term]bool
	err := eachTerm(qr.Root, func(n *search.Term) error {
		m, ok := ftsMatch(n)
		if n.Field != "name" || !ok {
			return nil
		}
		var c int64
		if err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM file_events_name WHERE file_events_name MATCH ? LIMIT ?)`, m, commonCandidates).Scan(&c); err != nil {
			return q.wrap("search: name candidates", err)
		}
		if c >= commonCandidates {
			if out == nil {
				out = map[*search.Term]bool{}
			}
			out[n] = true
		}
		return nil
	})
	return out, err
}

// topName returns a common name term that every match must satisfy (the root, or a term ANDed at
// the root), whose candidates can drive a count.
func topName(qr search.Query, common map[*search.Term]bool) *search.Term {
	nodes := []search.Node{qr.Root}
	if a, ok := qr.Root.(*search.And); ok {
		nodes = a.Nodes
	}
	for _, n := range nodes {
		if t, ok := n.(*search.Term); ok && common[t] {
			return t
		}
	}
	return nil
}

// maxTrigrams bounds the terms of a name prefilter (more only narrow the candidates further).
const maxTrigrams = 24

// ftsMatch returns an FTS5 query for the trigram table file_events_name (SQLite, migration 0005)
// that every name matching t satisfies: the AND of the trigrams of the pattern's literal runs (a
// run ends at a wildcard; escaped %, _ and \ are literal characters of it). FTS5 folds case more
// widely than search does (Unicode, not ASCII only), so its rows are a superset of t's matches and
// t's own condition, written beside it, decides. It uses MATCH, not the table's LIKE, because FTS5
// re-checks a LIKE against each candidate's name in file_events, which the outer condition does
// anyway. ok is false when no literal run has 3 characters: the index cannot narrow the search.
func ftsMatch(t *search.Term) (query string, ok bool) {
	if t.MatchesEmpty() {
		return "", false
	}
	var runs [][]rune
	var cur []rune
	esc := false
	for _, r := range t.LikePattern() {
		switch {
		case esc:
			cur, esc = append(cur, r), false
		case r == '\\':
			esc = true
		case r == '%' || r == '_':
			runs, cur = append(runs, cur), nil
		default:
			cur = append(cur, r)
		}
	}
	runs = append(runs, cur)
	var terms []string
	seen := map[string]bool{}
	for _, run := range runs {
		for i := 0; i+3 <= len(run) && len(terms) < maxTrigrams; i++ {
			if g := string(run[i : i+3]); !seen[g] {
				seen[g] = true
				terms = append(terms, `"`+strings.ReplaceAll(g, `"`, `""`)+`"`)
			}
		}
	}
	return strings.Join(terms, " AND "), len(terms) > 0
}

func cmpOp(op search.Op) string {
	if op == search.OpEq {
		return "="
	}
	return string(op)
}

func (s *sqlBuilder) term(t *search.Term) error {
	switch t.Field {
	case "observed", "inserted":
		col := "e." + t.Field
		switch {
		case !t.From.IsZero() && !t.To.IsZero():
			s.w(col, " >= ")
			s.arg(t.From.UnixMicro())
			s.w(" AND ", col, " < ")
			s.arg(t.To.UnixMicro())
		case !t.From.IsZero():
			s.w(col, " >= ")
			s.arg(t.From.UnixMicro())
		case !t.To.IsZero():
			s.w(col, " < ")
			s.arg(t.To.UnixMicro())
		default:
			s.w("1 = 1")
		}
	case "action":
		actionCodes.eq(s, "e.action", t.Value)
	case "service":
		observerCodes.eq(s, "e.observer", t.Value)
	case "category":
		categoryCodes.eq(s, "e.category", t.Value)
	case "link":
		linkCodes.eq(s, "e.link_scope", t.Value)
	case "connection":
		if id, ok := t.ConnectionID(); ok {
			s.w("e.connection_id = ")
			s.arg(id)
			s.w(" OR ")
		}
		s.text(t, "c.name")
	case "actor":
		s.address(t, "e.actor_id")
	case "owner":
		s.address(t, "e.owner_id")
	case "name":
		// SQLite: candidates from the FTS5 trigram table (migration 0005), checked exactly by
		// s.text. PostgreSQL's pg_trgm index is on s.text's own expression.
		if m, ok := ftsMatch(t); ok && !s.pg() && t != s.joined && !(s.unfiltered && s.common[t]) {
			s.w("e.id IN (SELECT rowid FROM file_events_name WHERE file_events_name MATCH ")
			s.arg(m)
			s.w(") AND ")
		}
		s.text(t, "e.file_name")
	case "directory":
		s.text(t, "e.directory")
	case "file_id":
		s.text(t, "e.file_id")
	case "path":
		s.text(t, s.pathExpr())
	case "hash", "md5", "sha1", "sha256", "quick_xor":
		switch f := t.HashField(); f {
		case "sha1":
			s.w("COALESCE(", s.docText("f", "s"), ", '') = ")
			s.arg(t.Value)
		case "quick_xor":
			s.w("COALESCE(", s.docText("f", "x"), ", '') = ")
			s.arg(t.Value)
		default:
			b, err := hex.DecodeString(t.Value)
			if err != nil {
				return fmt.Errorf("search: %s: %w", f, err)
			}
			s.w("e.", f, " IS NOT NULL AND e.", f, " = ")
			s.arg(b)
		}
	case "size":
		s.w("COALESCE(e.size, 0) ", cmpOp(t.Op), " ")
		s.arg(t.Num)
	case "id":
		s.w("e.id ", cmpOp(t.Op), " ")
		s.arg(t.Num)
	case "recipient", "domain":
		// The doc's text must hold the address (or "@" and the domain) for an element to match: a
		// LIKE on it (case-insensitive) skips most rows before their JSON arrays are parsed
		// (several domain terms cost a JSON parse each per row otherwise).
		if !t.MatchesEmpty() && !strings.ContainsAny(t.Value, "\"<>&\\\u2028\u2029") && !hasControl(t.Value) {
			pre := "%" + t.LikePattern() + "%"
			if t.Field == "domain" {
				pre = "%@" + t.LikePattern() + "%"
			}
			s.w(s.docLike(), " ")
			s.arg(pre)
			s.w(` ESCAPE '\' AND (`)
			defer s.w(")")
		}
		cond := func(elem string) {
			if t.Field == "recipient" {
				s.text(t, elem)
				return
			}
			s.w(s.fold(elem), " LIKE ")
			s.arg(`%@` + t.LikePattern())
			s.w(` ESCAPE '\'`)
		}
		s.docArray(cond, "m", "r")
		s.w(" OR ")
		s.docArray(cond, "s", "w")
	case "tenant":
		s.docArray(func(elem string) { s.text(t, elem) }, "s", "t")
	case "exposure":
		// "exposure <> 0" lets the partial index file_events_exposed serve the term.
		s.w("e.exposure <> 0 AND (e.exposure & ")
		s.arg(int64(event.Exposure(t.Value).Bit()))
		s.w(") <> 0")
	case "severity":
		vs := t.Severities()
		if len(vs) == 0 {
			s.w("1 = 0")
			break
		}
		// the severities in range, as codes (every name of the range is in the list: codes.go)
		s.w("COALESCE(e.severity, -1) IN (")
		for i, v := range vs {
			if i > 0 {
				s.w(", ")
			}
			s.arg(int64(severityCodes.codes[v]))
		}
		s.w(")")
	case "score":
		// the score is in the doc (r.s, absent when 0); unassessed events have no severity and
		// match no score term, as search.Match says
		score := "COALESCE(" + s.docText("r", "s") + ", 0)"
		if s.pg() {
			score = "COALESCE((" + s.docText("r", "s") + ")::bigint, 0)"
		}
		s.w("e.severity IS NOT NULL AND ", score, " ", cmpOp(t.Op), " ")
		s.arg(t.Num)
	case "indicator":
		s.w(s.docLike(), " ") // as for domains: rows without the name skip the JSON parse
		s.arg(`%"` + t.Value + `"%`)
		s.w(" AND ")
		s.docArray(func(elem string) {
			s.w(elem, " = ")
			s.arg(t.Value)
		}, "r", "i")
	case "trusted":
		s.w("e.trusted = ")
		if t.Value == "true" {
			s.arg(int64(1))
		} else {
			s.arg(int64(0))
		}
	default:
		return fmt.Errorf("search: field %q has no SQL form", t.Field)
	}
	return nil
}

// SearchEvents returns one page of the events matching q, sorted by opt.Sort (ties by id) and
// continuing after opt.After. Pass CursorOf(last event, opt.Sort) as After for the next page.
//
// The actor and owner terms are compiled with the ids of the addresses they match, read first
// (addressTerms): an equality on the id lets the page read the actor index in time order and stop
// at the limit, where an IN (subquery) would read all of a busy person's events and sort them.
// Those ids are read again after the page: an address stored meanwhile (a new spelling that the
// term matches, with events the page could have seen) makes it run again with them.
//
// A page in id order after a cursor (a client following the events by id) stops at the
// EventHorizon, as ListEvents does: a later page never finds an id below the cursor. A caller
// that bounds the page itself (UpToID: the export, at the horizon it read when it started; every
// id up to a horizon once read stays settled) is not asked again for every page.
func (q *Queries) SearchEvents(ctx context.Context, qr search.Query, opt store.SearchOptions) ([]event.FileEvent, error) {
	if opt.Sort == store.SortID && !opt.Desc && opt.After != nil && opt.UpToID <= 0 {
		h, err := q.EventHorizon(ctx)
		if err != nil {
			return nil, err
		}
		if h <= opt.After.ID {
			return nil, nil // nothing after the cursor is sure to stay there yet
		}
		if h != math.MaxInt64 {
			opt.UpToID = h
		}
	}
	addrs, err := q.addressTerms(ctx, qr)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return q.searchEvents(ctx, qr, opt, nil)
	}
	if afterAddressTerms != nil {
		afterAddressTerms()
	}
	for try := 0; try < 3; try++ {
		out, err := q.searchEvents(ctx, qr, opt, addrs)
		if err != nil {
			return nil, err
		}
		again, err := q.addressTerms(ctx, qr)
		if err != nil {
			return nil, err
		}
		if again.same(addrs) {
			return out, nil
		}
		addrs = again
	}
	return q.searchEvents(ctx, qr, opt, nil) // addresses keep arriving: the subqueries, in one statement
}

// afterAddressTerms is a test's hook (SetAfterAddressTerms).
var afterAddressTerms func()

func (q *Queries) searchEvents(ctx context.Context, qr search.Query, opt store.SearchOptions, addrs addressTerms) ([]event.FileEvent, error) {
	if opt.Limit <= 0 {
		opt.Limit = 1000
	}
	col := "e.observed"
	switch opt.Sort {
	case "", store.SortObserved:
	case store.SortInserted:
		col = "e.inserted"
	case store.SortID:
		col = ""
	default:
		return nil, fmt.Errorf("store: search events: unknown sort %q: use observed, inserted or id", opt.Sort)
	}
	common, err := q.commonNames(ctx, qr)
	if err != nil {
		return nil, err
	}
	// A page reads in the order of an index and stops at the limit: common names go unfiltered.
	s := &sqlBuilder{d: q.d, common: common, unfiltered: true, addrs: addrs}
	s.w(`SELECT `, eventCols, eventFrom, `WHERE `)
	if !opt.IncludeHeld {
		s.w(`e.held = 0 AND `)
	}
	dir, cmp := "ASC", ">"
	if opt.Desc {
		dir, cmp = "DESC", "<"
	}
	if opt.After != nil && col == "" {
		s.w("e.id ", cmp, " ")
		s.arg(opt.After.ID)
		s.w(" AND ")
	} else if opt.After != nil {
		s.w("(", col, " ", cmp, " ")
		s.arg(opt.After.Time)
		s.w(" OR (", col, " = ")
		s.arg(opt.After.Time)
		s.w(" AND e.id ", cmp, " ")
		s.arg(opt.After.ID)
		s.w(")) AND ")
	}
	if opt.UpToID > 0 {
		if col != "" {
			return nil, fmt.Errorf("store: search events: an id bound needs the id sort, not %q", opt.Sort)
		}
		s.w("e.id <= ")
		s.arg(opt.UpToID)
		s.w(" AND ")
	}
	if qr.Root == nil {
		s.w("1 = 1")
	} else if err := s.node(qr.Root); err != nil {
		return nil, fmt.Errorf("store: search events: %w", err)
	}
	if col == "" {
		s.w(" ORDER BY e.id ", dir, " LIMIT ")
	} else {
		s.w(" ORDER BY ", col, " ", dir, ", e.id ", dir, " LIMIT ")
	}
	s.arg(int64(opt.Limit))
	rows, err := q.r.QueryContext(ctx, s.b.String(), s.args...)
	if err != nil {
		return nil, q.wrap("search events", err)
	}
	defer rows.Close()
	// Sized for a full page: growing a slice of events (large structs) by appending dominated the
	// export's CPU profile.
	out := make([]event.FileEvent, 0, min(opt.Limit, 10000))
	docs := make([][]byte, 0, cap(out))
	refs := make([]addrRef, 0, cap(out))
	for rows.Next() {
		e, js, ref, err := scanColumns(rows)
		if err != nil {
			return nil, q.wrap("search events", err)
		}
		out, docs, refs = append(out, e), append(docs, js), append(refs, ref)
	}
	if err := rows.Err(); err != nil {
		return nil, q.wrap("search events", err)
	}
	if err := rows.Close(); err != nil {
		return nil, q.wrap("search events", err)
	}
	if err := q.nameEvents(ctx, out, refs); err != nil {
		return nil, err
	}
	if err := decodeDocs(out, docs); err != nil {
		return nil, fmt.Errorf("store: search events: %w", err)
	}
	return out, nil
}
