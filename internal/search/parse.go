package search

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error is a query the parser refused: Pos is the byte offset of the problem in the query, Msg
// says what is wrong and how to fix it, Suggest is the nearest valid word when there is one (a
// field name or value), for a console to offer.
type Error struct {
	Pos     int
	Msg     string
	Suggest string
}

func (e *Error) Error() string { return e.Msg }

// errAt builds an Error whose message reads "<what> at <pos>: <how>".
func errAt(pos int, what, how string) *Error {
	msg := fmt.Sprintf("%s at %d", what, pos)
	if how != "" {
		msg += ": " + how
	}
	return &Error{Pos: pos, Msg: msg}
}

func errSuggest(pos int, what, suggestion, otherwise string) *Error {
	if suggestion == "" {
		return errAt(pos, what, otherwise)
	}
	e := errAt(pos, what, fmt.Sprintf("did you mean %q?", suggestion))
	e.Suggest = suggestion
	return e
}

// Limits keep a query's tree and its SQL within what the databases accept.
const (
	MaxDepth = 64
	MaxTerms = 256
	MaxLen   = 16 << 10
)

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tAnd
	tOr
	tNot
	tTerm
)

type token struct {
	kind tokKind
	pos  int
	// tTerm:
	field    string // "" for a bare word
	fieldPos int
	op       Op
	value    string // pattern form
	valuePos int
	quoted   bool
}

func isSpace(r rune) bool { return unicode.IsSpace(r) }

func isFieldChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '@' || c == '-'
}

type lexer struct {
	s   string
	pos int
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.s) {
		r, n := utf8.DecodeRuneInString(l.s[l.pos:])
		if !isSpace(r) {
			return
		}
		l.pos += n
	}
}

// atDelim reports whether the lexer is at the end of a word.
func (l *lexer) atDelim() bool {
	if l.pos >= len(l.s) {
		return true
	}
	c := l.s[l.pos]
	if c == '(' || c == ')' {
		return true
	}
	r, _ := utf8.DecodeRuneInString(l.s[l.pos:])
	return isSpace(r)
}

func (l *lexer) next() (token, error) {
	l.skipSpace()
	start := l.pos
	if l.pos >= len(l.s) {
		return token{kind: tEOF, pos: start}, nil
	}
	switch c := l.s[l.pos]; c {
	case '(':
		l.pos++
		return token{kind: tLParen, pos: start}, nil
	case ')':
		l.pos++
		return token{kind: tRParen, pos: start}, nil
	case '-':
		l.pos++
		if l.atDelim() && (l.pos >= len(l.s) || l.s[l.pos] != '(') {
			return token{}, errAt(start, "a lone \"-\"", "put it right before the term to exclude, as in -action:file-viewed")
		}
		return token{kind: tNot, pos: start}, nil
	case '"':
		v, err := l.quoted()
		if err != nil {
			return token{}, err
		}
		if !l.atDelim() {
			return token{}, errAt(l.pos, "text right after a closing quote", "leave a space after the quoted value")
		}
		return token{kind: tTerm, pos: start, value: v, valuePos: start, quoted: true}, nil
	}
	// A keyword, a field term or a bare word.
	end := l.pos
	for end < len(l.s) && isFieldChar(l.s[end]) {
		end++
	}
	word := l.s[l.pos:end]
	if end == len(l.s) || l.s[end] == '(' || l.s[end] == ')' || isSpaceAt(l.s, end) {
		switch word {
		case "AND":
			l.pos = end
			return token{kind: tAnd, pos: start}, nil
		case "OR":
			l.pos = end
			return token{kind: tOr, pos: start}, nil
		case "NOT":
			l.pos = end
			return token{kind: tNot, pos: start}, nil
		}
	}
	if word != "" && end < len(l.s) && strings.ContainsRune(":=<>", rune(l.s[end])) {
		l.pos = end
		op := l.op()
		t := token{kind: tTerm, pos: start, field: word, fieldPos: start, op: op, valuePos: l.pos}
		if l.pos < len(l.s) && l.s[l.pos] == '"' {
			v, err := l.quoted()
			if err != nil {
				return token{}, err
			}
			if !l.atDelim() {
				return token{}, errAt(l.pos, "text right after a closing quote", "leave a space after the quoted value")
			}
			t.value, t.quoted = v, true
			return t, nil
		}
		v, err := l.bare()
		if err != nil {
			return token{}, err
		}
		t.value = v
		return t, nil
	}
	v, err := l.bare()
	if err != nil {
		return token{}, err
	}
	return token{kind: tTerm, pos: start, value: v, valuePos: start}, nil
}

func isSpaceAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isSpace(r)
}

// op reads : = > >= < <= (and the forgiving :> :>= :< :<= :=).
func (l *lexer) op() Op {
	if l.s[l.pos] == ':' {
		l.pos++
		if l.pos < len(l.s) && strings.ContainsRune("=<>", rune(l.s[l.pos])) {
			return l.op()
		}
		return OpEq
	}
	c := l.s[l.pos]
	l.pos++
	eq := l.pos < len(l.s) && l.s[l.pos] == '='
	switch c {
	case '>':
		if eq {
			l.pos++
			return OpGe
		}
		return OpGt
	case '<':
		if eq {
			l.pos++
			return OpLe
		}
		return OpLt
	}
	return OpEq // '='
}

// escape appends the escaped rune r to b in pattern form.
func escapeInto(b *strings.Builder, r rune) {
	if r == '*' || r == '?' || r == '\\' {
		b.WriteByte('\\')
	}
	b.WriteRune(r)
}

// bare reads an unquoted value up to whitespace or a parenthesis.
func (l *lexer) bare() (string, error) {
	var b strings.Builder
	for !l.atDelim() {
		r, n := utf8.DecodeRuneInString(l.s[l.pos:])
		if r == '\\' {
			if l.pos+1 >= len(l.s) {
				return "", errAt(l.pos, "a backslash at the end of the query", "follow it with the character to take literally, or write \\\\ for a backslash")
			}
			l.pos++
			r, n = utf8.DecodeRuneInString(l.s[l.pos:])
			escapeInto(&b, r)
			l.pos += n
			continue
		}
		b.WriteRune(r)
		l.pos += n
	}
	return b.String(), nil
}

// quoted reads a double-quoted value; backslash escapes the next character.
func (l *lexer) quoted() (string, error) {
	open := l.pos
	l.pos++
	var b strings.Builder
	for l.pos < len(l.s) {
		r, n := utf8.DecodeRuneInString(l.s[l.pos:])
		switch r {
		case '"':
			l.pos++
			return b.String(), nil
		case '\\':
			if l.pos+1 >= len(l.s) {
				return "", errAt(open, "unterminated quoted value", "add the closing \"")
			}
			l.pos++
			r, n = utf8.DecodeRuneInString(l.s[l.pos:])
			escapeInto(&b, r)
		default:
			b.WriteRune(r)
		}
		l.pos += n
	}
	return "", errAt(open, "unterminated quoted value", "add the closing \" (write \\\" for a quote inside)")
}

type parser struct {
	lex    lexer
	tok    token
	now    time.Time
	fields *fieldTable
	depth  int
	terms  int
}

// Parse parses a query. now resolves relative times (7d means since now minus 7 days). An empty
// query matches every event. A refused query returns an *Error.
func Parse(q string, now time.Time) (Query, error) {
	if len(q) > MaxLen {
		return Query{}, errAt(MaxLen, "the query is too long", fmt.Sprintf("keep it under %d bytes", MaxLen))
	}
	if !utf8.ValidString(q) {
		i := 0
		for i < len(q) {
			r, n := utf8.DecodeRuneInString(q[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return Query{}, errAt(i, "invalid UTF-8", "send the query as UTF-8 text")
	}
	p := &parser{lex: lexer{s: q}, now: now, fields: fieldIndex()}
	if err := p.advance(); err != nil {
		return Query{}, err
	}
	if p.tok.kind == tEOF {
		return Query{}, nil
	}
	n, err := p.or()
	if err != nil {
		return Query{}, err
	}
	switch p.tok.kind {
	case tEOF:
	case tRParen:
		return Query{}, errAt(p.tok.pos, "unmatched \")\"", "remove it or add the \"(\" it closes")
	default:
		return Query{}, errAt(p.tok.pos, "unexpected text", "check the parentheses and operators before it")
	}
	return Query{Root: n}, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) or() (Node, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	nodes := []Node{first}
	for p.tok.kind == tOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.startsTerm() {
			return nil, p.missing("OR")
		}
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 1 {
		return first, nil
	}
	return flatten(nodes, true), nil
}

func (p *parser) startsTerm() bool {
	return p.tok.kind == tTerm || p.tok.kind == tNot || p.tok.kind == tLParen
}

func (p *parser) missing(after string) error {
	switch p.tok.kind {
	case tEOF:
		return errAt(p.tok.pos, after+" at the end of the query", "add a term after it or remove it")
	case tRParen:
		return errAt(p.tok.pos, "\")\" right after "+after, "add a term before the \")\"")
	default:
		return errAt(p.tok.pos, "two operators in a row after "+after, "put a term between them")
	}
}

func (p *parser) and() (Node, error) {
	if !p.startsTerm() {
		switch p.tok.kind {
		case tAnd, tOr:
			return nil, errAt(p.tok.pos, "AND or OR with no term before it", "put a term before it or remove it")
		case tRParen:
			return nil, errAt(p.tok.pos, "empty parentheses", "put a term inside them or remove them")
		}
		return nil, errAt(p.tok.pos, "a term is missing", "add one")
	}
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	nodes := []Node{first}
	for {
		if p.tok.kind == tAnd {
			if err := p.advance(); err != nil {
				return nil, err
			}
			if !p.startsTerm() {
				return nil, p.missing("AND")
			}
		} else if !p.startsTerm() {
			break
		}
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 1 {
		return first, nil
	}
	return flatten(nodes, false), nil
}

// flatten splices children of the same kind so that the tree has one shape per query.
func flatten(nodes []Node, or bool) Node {
	var out []Node
	for _, n := range nodes {
		if o, ok := n.(*Or); ok && or {
			out = append(out, o.Nodes...)
		} else if a, ok := n.(*And); ok && !or {
			out = append(out, a.Nodes...)
		} else {
			out = append(out, n)
		}
	}
	if or {
		return &Or{Nodes: out}
	}
	return &And{Nodes: out}
}

func (p *parser) unary() (Node, error) {
	switch p.tok.kind {
	case tNot:
		pos := p.tok.pos
		if err := p.enter(pos); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.startsTerm() {
			return nil, p.missing("NOT")
		}
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{Node: n}, nil
	case tLParen:
		pos := p.tok.pos
		if err := p.enter(pos); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, errAt(pos, "unclosed \"(\"", "add the \")\" that closes it")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return n, nil
	case tTerm:
		t := p.tok
		p.terms++
		if p.terms > MaxTerms {
			return nil, errAt(t.pos, "too many terms", fmt.Sprintf("use at most %d", MaxTerms))
		}
		n, err := p.term(t)
		if err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, errAt(p.tok.pos, "a term is missing", "add one")
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return errAt(pos, "the query nests too deeply", fmt.Sprintf("use at most %d levels of parentheses and NOT", MaxDepth))
	}
	return nil
}

func (p *parser) leave() { p.depth-- }
