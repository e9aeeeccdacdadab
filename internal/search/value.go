package search

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// term resolves a lexed term: the field (aliases, shortcuts), the operator it allows and the value.
func (p *parser) term(t token) (Node, error) {
	if t.field == "" { // a bare word: a file-name substring
		if t.value == "" {
			return nil, errAt(t.pos, "an empty quoted value", "put the text to find between the quotes")
		}
		return &Term{Field: "name", Op: OpEq, Value: "*" + t.value + "*"}, nil
	}
	s := p.fields.lookup(t.field)
	if s == nil {
		var names []string
		for _, f := range p.fields.specs {
			names = append(names, f.Name)
		}
		return nil, errSuggest(t.fieldPos, fmt.Sprintf("unknown field %q", t.field), suggest(t.field, p.fields.all),
			"known fields are "+strings.Join(names, ", "))
	}
	if t.value == "" && !t.quoted {
		return nil, errAt(t.valuePos, fmt.Sprintf("%s%s needs a value", t.field, t.op), "for example "+s.Examples[0])
	}
	term := &Term{Field: s.Name, Op: t.op}
	if s.target != "" {
		if t.op != OpEq {
			return nil, errAt(t.valuePos-len(t.op), fmt.Sprintf("%s takes \":\" only", s.Name),
				fmt.Sprintf("write %s:VALUE, or %s%sVALUE", s.Name, s.target, t.op))
		}
		term.Field, term.Op = s.target, s.targetOp
	}
	switch s.Type {
	case TypeText, TypeConnection, TypeEnum, TypeHash, TypeBool:
		if term.Op != OpEq {
			return nil, errAt(t.valuePos-len(t.op), fmt.Sprintf("%s takes \":\" only, not %q", s.Name, t.op),
				fmt.Sprintf("write %s:VALUE (use NOT to exclude)", s.Name))
		}
	}
	v := t.value
	switch s.Type {
	case TypeText:
		if v == "" {
			return nil, errAt(t.valuePos, fmt.Sprintf("%s:\"\" is empty", s.Name), fmt.Sprintf("give a value, or use %s:* for any", s.Name))
		}
		term.Value = v
		if lit, ok := literal(v); ok && len(lit) > event.MaxKeyBytes && slices.Contains(clippedFields, s.Name) {
			term.Value = escapePattern(event.ClipKey(lit)) // as the events keep it (event.CleanText)
		}
	case TypeConnection:
		if v == "" {
			return nil, errAt(t.valuePos, "connection:\"\" is empty", "give a connection id or name")
		}
		term.Value = v
		if id, err := strconv.ParseInt(v, 10, 64); err == nil && id >= 0 && isDigits(v) {
			term.Num = id
		}
	case TypeEnum, TypeSeverity:
		lit, ok := literal(v)
		if !ok {
			return nil, errAt(t.valuePos, fmt.Sprintf("wildcards are not allowed in %s", s.Name), "give one of "+strings.Join(s.Values, ", "))
		}
		canon := canonicalValue(s, lit)
		if canon == "" {
			cands := slices.Clone(s.Values)
			for k := range s.aliasValues {
				cands = append(cands, k)
			}
			slices.Sort(cands)
			sug := suggest(lit, cands)
			if sug != "" {
				sug = canonicalValue(s, sug)
			}
			return nil, errSuggest(t.valuePos, fmt.Sprintf("unknown %s %q", s.Name, lit), sug,
				"valid values are "+strings.Join(s.Values, ", "))
		}
		term.Value = canon
		if s.Type == TypeSeverity {
			for i, n := range severityNames {
				if n == canon {
					term.Num = int64(i)
				}
			}
		}
	case TypeBool:
		lit, _ := literal(v)
		switch asciiLower(lit) {
		case "true", "yes", "1":
			term.Value = "true"
		case "false", "no", "0":
			term.Value = "false"
		default:
			return nil, errAt(t.valuePos, fmt.Sprintf("%s takes true or false, not %q", s.Name, lit), "write "+s.Name+":true or "+s.Name+":false")
		}
	case TypeHash:
		lit, ok := literal(v)
		if ok && (s.Name == "quick_xor" || s.Name == "hash" && len(lit) == quickXorLen) {
			if !isQuickXor(lit) {
				return nil, errAt(t.valuePos, fmt.Sprintf("%q is not a quick_xor", v), "give the whole QuickXorHash: 28 base64 characters, as OneDrive reports it")
			}
			term.Value = lit // base64 is case-sensitive
			break
		}
		if s.Name == "quick_xor" {
			return nil, errAt(t.valuePos, fmt.Sprintf("%q is not a quick_xor", v), "give the whole QuickXorHash: 28 base64 characters, as OneDrive reports it")
		}
		lit = asciiLower(lit)
		want := map[string]int{"md5": 32, "sha1": 40, "sha256": 64}[s.Name]
		if !ok || !isHex(lit) || want != 0 && len(lit) != want || want == 0 && len(lit) != 32 && len(lit) != 40 && len(lit) != 64 {
			how := fmt.Sprintf("give the whole digest: %d hex digits", want)
			if want == 0 {
				how = "give a whole hex digest: 32 digits (md5), 40 (sha1) or 64 (sha256), or a quick_xor's 28 base64 characters"
			}
			return nil, errAt(t.valuePos, fmt.Sprintf("%q is not a %s", v, s.Name), how)
		}
		term.Value = lit
	case TypeSize:
		lit, ok := literal(v)
		n, canon, err := parseSize(lit)
		if !ok || err != nil {
			return nil, errAt(t.valuePos, fmt.Sprintf("%q is not a size", v), "write a number with an optional unit: 500, 10KB, 2.5MB, 1GiB (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")
		}
		term.Value, term.Num = canon, n
	case TypeNumber:
		lit, ok := literal(v)
		n, err := strconv.ParseInt(lit, 10, 64)
		if !ok || err != nil || n < 0 || !isDigits(lit) {
			return nil, errAt(t.valuePos, fmt.Sprintf("%q is not a number", v), "write a whole number such as "+s.Examples[0])
		}
		term.Value, term.Num = lit, n
	case TypeTime:
		lit, ok := literal(v)
		start, end, canon, err := parseTime(lit, p.now)
		if !ok || err != nil {
			how := "use a date (2026-11-20), a time in RFC 3339 (2026-11-20T10:00Z, 2026-11-20T10:00:00+01:00) or a relative time (30m, 24h, 7d, 2w)"
			if err != nil && err != errFormat {
				how = err.Error()
			}
			return nil, errAt(t.valuePos, fmt.Sprintf("%q is not a time", v), how)
		}
		term.Value = canon
		switch term.Op {
		case OpEq:
			term.From = start
			if !isRelative(canon) {
				term.To = end
			}
		case OpGe:
			term.From = start
		case OpGt:
			term.From = end
		case OpLt:
			term.To = start
		case OpLe:
			term.To = end
		}
	}
	return term, nil
}

func canonicalValue(s *spec, lit string) string {
	l := asciiLower(lit)
	for _, v := range s.Values {
		if v == l {
			return v
		}
	}
	if c, ok := s.aliasValues[l]; ok {
		return c
	}
	if c, ok := s.aliasValues[strings.ReplaceAll(l, "_", "-")]; ok {
		return c
	}
	return ""
}

// literal returns the pattern value without escapes; ok is false when it has a wildcard.
func literal(p string) (string, bool) {
	var b strings.Builder
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '*', '?':
			return "", false
		case '\\':
			if i+1 < len(rs) {
				i++
			}
		}
		b.WriteRune(rs[i])
	}
	return b.String(), true
}

// quickXorLen is the length of a QuickXorHash in base64 (160 bits).
const quickXorLen = 28

// isQuickXor reports whether s is a QuickXorHash as vendors give it: 160 bits in standard base64.
func isQuickXor(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(s) == quickXorLen && len(b) == 20
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return s != ""
}

var sizeUnits = []struct {
	name string
	mult float64
}{
	{"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
}

// parseSize reads "10MB", "1.5GiB", "500"; canon has the unit in canonical case.
func parseSize(s string) (int64, string, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], s[i:]
	if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, "", errFormat
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, "", errFormat
	}
	mult, canonUnit := 1.0, ""
	if unit != "" {
		found := false
		for _, u := range sizeUnits {
			if strings.EqualFold(u.name, unit) {
				mult, canonUnit, found = u.mult, u.name, true
				break
			}
		}
		if !found {
			return 0, "", errFormat
		}
	}
	v := math.Round(f * mult)
	if v > 1<<62 {
		return 0, "", errFormat
	}
	return int64(v), num + canonUnit, nil
}

type timeError string

func (e timeError) Error() string { return string(e) }

const errFormat = timeError("format")

var relUnits = map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}

func isRelative(s string) bool {
	return len(s) > 1 && isDigits(s[:len(s)-1]) && relUnits[s[len(s)-1]] != 0
}

var epoch = time.Unix(0, 0).UTC()

// parseTime resolves a time value to the range [start, end) it names: a whole day for a date, a
// minute or second for a time written to that precision, one microsecond for a relative time or
// one with a fraction. canon is the value as String prints it.
func parseTime(s string, now time.Time) (start, end time.Time, canon string, err error) {
	ls := asciiLower(s)
	if isRelative(ls) {
		n, err := strconv.ParseInt(ls[:len(ls)-1], 10, 64)
		unit := relUnits[ls[len(ls)-1]]
		if err != nil || n > int64(100*365*24*time.Hour/unit) {
			return start, end, "", timeError("a relative time can reach back at most 100 years")
		}
		start = now.Add(-time.Duration(n) * unit)
		return start, start.Add(time.Microsecond), ls, nil
	}
	type layout struct {
		l    string
		prec time.Duration // 0: one day
	}
	up := strings.ToUpper(s)
	if strings.Contains(up, ".") { // a fraction of a second: precision is one microsecond
		for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			if t, e := time.Parse(l, up); e == nil {
				t = t.Truncate(time.Microsecond)
				return checkRange(t, t.Add(time.Microsecond), up)
			}
		}
		return start, end, "", errFormat
	}
	for _, f := range []layout{
		{"2006-01-02", 0},
		{"2006-01-02T15:04Z07:00", time.Minute},
		{"2006-01-02T15:04", time.Minute},
		{"2006-01-02T15:04:05Z07:00", time.Second},
		{"2006-01-02T15:04:05", time.Second},
	} {
		t, e := time.Parse(f.l, up)
		if e != nil {
			continue
		}
		end := t.Add(f.prec)
		if f.prec == 0 {
			end = t.AddDate(0, 0, 1)
		}
		return checkRange(t, end, up)
	}
	return start, end, "", errFormat
}

func checkRange(start, end time.Time, canon string) (time.Time, time.Time, string, error) {
	if start.Before(epoch) || start.Year() > 9999 {
		return start, end, "", timeError("give a time between 1970 and 9999")
	}
	return start.UTC(), end.UTC(), canon, nil
}
