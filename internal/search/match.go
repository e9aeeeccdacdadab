package search

import (
	"slices"
	"strings"

	"github.com/telltale-dev/telltale/internal/event"
)

// Match reports whether e matches q. It is the reference semantics: the SQL compilers must return
// exactly the events Match accepts. Times compare at microsecond precision, as stored.
func Match(q Query, e *event.FileEvent) bool {
	if q.Root == nil {
		return true
	}
	return matchNode(q.Root, e)
}

func matchNode(n Node, e *event.FileEvent) bool {
	switch n := n.(type) {
	case *And:
		for _, c := range n.Nodes {
			if !matchNode(c, e) {
				return false
			}
		}
		return true
	case *Or:
		for _, c := range n.Nodes {
			if matchNode(c, e) {
				return true
			}
		}
		return false
	case *Not:
		return !matchNode(n.Node, e)
	case *Term:
		return matchTerm(n, e)
	}
	return false
}

func matchTerm(t *Term, e *event.FileEvent) bool {
	switch t.Field {
	case "observed":
		return inRange(t, e.Timestamp.UnixMicro())
	case "inserted":
		return inRange(t, e.Event.Inserted.UnixMicro())
	case "action":
		return string(e.Event.Action) == t.Value
	case "service":
		return string(e.Event.Observer) == t.Value
	case "connection":
		if id, ok := t.ConnectionID(); ok && e.Event.ConnectionID == id {
			return true
		}
		return t.matchText(e.Event.ConnectionName)
	case "actor":
		return t.matchText(e.User.Email)
	case "owner":
		return t.matchText(e.File.Owner)
	case "name":
		return t.matchText(e.File.Name)
	case "file_id":
		return t.matchText(e.File.ID)
	case "path":
		return t.matchText(e.File.Path)
	case "directory":
		return t.matchText(e.File.Directory)
	case "hash", "md5", "sha1", "sha256", "quick_xor":
		h := e.File.Hash
		return t.Value == map[string]string{"md5": h.MD5, "sha1": h.SHA1, "sha256": h.SHA256, "quick_xor": h.QuickXor}[t.HashField()]
	case "size":
		return compareInt(e.File.Size, t.Op, t.Num)
	case "category":
		return string(e.File.Category) == t.Value
	case "recipient":
		return slices.ContainsFunc(e.Email.Recipients, t.matchText) || slices.ContainsFunc(e.Sharing.SharedWith, t.matchText)
	case "domain":
		return slices.ContainsFunc(e.Email.Recipients, t.matchDomain) || slices.ContainsFunc(e.Sharing.SharedWith, t.matchDomain)
	case "tenant":
		return slices.ContainsFunc(e.Sharing.Tenants, func(d event.DestinationTenant) bool { return t.matchText(d.Tenant) })
	case "exposure":
		return slices.Contains(e.Sharing.Exposure, event.Exposure(t.Value))
	case "link":
		return string(e.Sharing.LinkScope) == t.Value
	case "severity":
		r := e.Risk.Severity.Rank()
		return r >= 0 && compareInt(int64(r), t.Op, t.Num)
	case "score":
		return e.Risk.Severity != "" && compareInt(int64(e.Risk.Score), t.Op, t.Num)
	case "indicator":
		return slices.Contains(e.Risk.Indicators, t.Value)
	case "trusted":
		return e.Risk.Trusted == (t.Value == "true")
	case "id":
		return compareInt(e.Event.ID, t.Op, t.Num)
	}
	return false
}

func inRange(t *Term, us int64) bool {
	return (t.From.IsZero() || us >= t.From.UnixMicro()) && (t.To.IsZero() || us < t.To.UnixMicro())
}

// matchText matches a non-empty s against the term's pattern, ASCII case-insensitively.
func (t *Term) matchText(s string) bool {
	return s != "" && matchPattern(patternTokens(t.Value), []rune(asciiLower(s)))
}

// matchDomain matches the part of an address after an @ (any @, as SQL's LIKE '%@pattern' does).
func (t *Term) matchDomain(addr string) bool {
	if !strings.Contains(addr, "@") {
		return false
	}
	return matchPattern(append([]patTok{{kind: '*'}, {kind: 'l', r: '@'}}, patternTokens(t.Value)...), []rune(asciiLower(addr)))
}

// matchPattern is glob matching with backtracking to the last star (linear in practice).
func matchPattern(p []patTok, s []rune) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi].kind == '?' || p[pi].kind == 'l' && p[pi].r == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi].kind == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].kind == '*' {
		pi++
	}
	return pi == len(p)
}
