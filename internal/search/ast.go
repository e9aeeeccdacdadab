package search

import (
	"strconv"
	"strings"
	"time"
)

// Node is a node of a query's syntax tree: *And, *Or, *Not or *Term.
type Node interface{ node() }

// And matches when every one of Nodes matches (at least two; never directly holding another And).
type And struct{ Nodes []Node }

// Or matches when any one of Nodes matches (at least two; never directly holding another Or).
type Or struct{ Nodes []Node }

// Not matches when Node does not.
type Not struct{ Node Node }

// Op is a term's comparison.
type Op string

const (
	OpEq Op = ":" // equals, or matches the pattern; for times, within the value's precision
	OpGt Op = ">"
	OpGe Op = ">="
	OpLt Op = "<"
	OpLe Op = "<="
)

// Term compares one field with one value. Parse fills the resolved parts (Num, From, To) from
// Value, so that Match and the SQL compilers never parse text again.
type Term struct {
	Field string // canonical field name (see Fields); shortcuts like after: are rewritten
	Op    Op
	// Value is the canonical value. For text fields it is a pattern: * any run, ? one character,
	// and \*, \?, \\ the literal characters. Enums, booleans and hashes are in canonical case.
	Value string
	Num   int64     // size in bytes; id; severity rank; connection id (when Value is all digits)
	From  time.Time // time fields: matches From <= t (zero: unbounded)
	To    time.Time // time fields: matches t < To (zero: unbounded)
}

func (*And) node()  {}
func (*Or) node()   {}
func (*Not) node()  {}
func (*Term) node() {}

// Query is a parsed query. A nil Root matches every event.
type Query struct{ Root Node }

// String prints the query in canonical form: Parse(q.String(), now) yields an equal Query for the
// same now. Bare words print as name:*word*; shortcuts print as the field and operator they mean.
func (q Query) String() string {
	var b strings.Builder
	writeNode(&b, q.Root, precOr)
	return b.String()
}

const (
	precOr = iota
	precAnd
	precNot
)

func writeNode(b *strings.Builder, n Node, ctx int) {
	switch n := n.(type) {
	case nil:
	case *Or:
		if ctx > precOr {
			b.WriteByte('(')
		}
		for i, c := range n.Nodes {
			if i > 0 {
				b.WriteString(" OR ")
			}
			writeNode(b, c, precAnd)
		}
		if ctx > precOr {
			b.WriteByte(')')
		}
	case *And:
		if ctx > precAnd {
			b.WriteByte('(')
		}
		for i, c := range n.Nodes {
			if i > 0 {
				b.WriteByte(' ')
			}
			writeNode(b, c, precNot)
		}
		if ctx > precAnd {
			b.WriteByte(')')
		}
	case *Not:
		b.WriteString("NOT ")
		writeNode(b, n.Node, precNot)
	case *Term:
		b.WriteString(n.String())
	}
}

// String prints the term as field, operator and (quoted when needed) value.
func (t *Term) String() string {
	return t.Field + string(t.Op) + quoteValue(t.Value)
}

// quoteValue prints v bare when the lexer reads it back unchanged, else in double quotes. v is in
// pattern form, whose backslash escapes read the same inside and outside quotes.
func quoteValue(v string) string {
	bare := v != "" && !strings.ContainsRune("=<>", rune(v[0]))
	for _, r := range v {
		if r <= ' ' || r == '(' || r == ')' || r == '"' || r == 0x7f || isSpace(r) {
			bare = false
			break
		}
	}
	if bare {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if r == '"' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// ---- pattern helpers (used by Match and the SQL compilers) ----

type patTok struct {
	kind byte // 'l' literal, '*' any run, '?' one character
	r    rune
}

// tokens splits a pattern-form value; literal runes are ASCII-folded.
func patternTokens(p string) []patTok {
	var out []patTok
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '*':
			if len(out) == 0 || out[len(out)-1].kind != '*' {
				out = append(out, patTok{kind: '*'})
			}
		case '?':
			out = append(out, patTok{kind: '?'})
		case '\\':
			if i+1 < len(rs) {
				i++
				r = rs[i]
			}
			out = append(out, patTok{kind: 'l', r: foldRune(r)})
		default:
			out = append(out, patTok{kind: 'l', r: foldRune(r)})
		}
	}
	return out
}

func foldRune(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// HasWildcard reports whether the term's value has an unescaped * or ?.
func (t *Term) HasWildcard() bool {
	for _, k := range patternTokens(t.Value) {
		if k.kind != 'l' {
			return true
		}
	}
	return false
}

// MatchesEmpty reports whether the pattern matches the empty string (it is only stars). Text terms
// never match an empty value, so that owner:* means "has an owner".
func (t *Term) MatchesEmpty() bool {
	for _, k := range patternTokens(t.Value) {
		if k.kind != '*' {
			return false
		}
	}
	return true
}

// Literal returns the value with escapes removed, ASCII-folded (meaningful when !HasWildcard).
func (t *Term) Literal() string {
	var b strings.Builder
	for _, k := range patternTokens(t.Value) {
		switch k.kind {
		case 'l':
			b.WriteRune(k.r)
		default:
			b.WriteByte(k.kind)
		}
	}
	return b.String()
}

// LikePattern returns the value as an ASCII-folded SQL LIKE pattern whose escape character is
// backslash: * becomes %, ? becomes _, and literal %, _ and \ are escaped.
func (t *Term) LikePattern() string {
	var b strings.Builder
	for _, k := range patternTokens(t.Value) {
		switch k.kind {
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		default:
			if k.r == '%' || k.r == '_' || k.r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(k.r)
		}
	}
	return b.String()
}

// ConnectionID returns the id a connection term names, when its value is all digits.
func (t *Term) ConnectionID() (int64, bool) {
	if t.Field != "connection" || t.Value == "" {
		return 0, false
	}
	for _, c := range t.Value {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	return t.Num, true
}

// Severities returns the severity values a severity term accepts (in rank order).
func (t *Term) Severities() []string {
	var out []string
	for rank, s := range severityNames {
		if compareInt(int64(rank), t.Op, t.Num) {
			out = append(out, s)
		}
	}
	return out
}

// HashField returns which hash a hash term compares: md5, sha1, sha256 or quick_xor.
func (t *Term) HashField() string {
	if t.Field != "hash" {
		return t.Field
	}
	switch len(t.Value) {
	case quickXorLen:
		return "quick_xor"
	case 32:
		return "md5"
	case 40:
		return "sha1"
	default:
		return "sha256"
	}
}

func compareInt(a int64, op Op, b int64) bool {
	switch op {
	case OpGt:
		return a > b
	case OpGe:
		return a >= b
	case OpLt:
		return a < b
	case OpLe:
		return a <= b
	default:
		return a == b
	}
}

// Fold lowers ASCII letters only, as the SQL compilers do: use it on values compared with terms.
func Fold(s string) string { return asciiLower(s) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
