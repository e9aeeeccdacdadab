package search

import (
	"slices"
	"strings"
	"sync"

	"github.com/telltale-dev/telltale/internal/event"
)

// Type is the kind of value a field takes.
type Type string

const (
	TypeText       Type = "text"       // case-insensitive (ASCII), wildcards * and ?
	TypeTime       Type = "time"       // RFC 3339, date, relative (7d); > >= < <= and :
	TypeSize       Type = "size"       // bytes with a unit (10MB, 1.5GiB); > >= < <= and :
	TypeEnum       Type = "enum"       // one of a fixed list of values
	TypeSeverity   Type = "severity"   // none < low < moderate < high < critical; > >= < <= and :
	TypeHash       Type = "hash"       // lowercase or uppercase hex digest; quick_xor: base64
	TypeBool       Type = "bool"       // true or false
	TypeNumber     Type = "number"     // a whole number; > >= < <= and :
	TypeConnection Type = "connection" // a connection id or name
)

// FieldInfo describes a searchable field: it drives docs/SEARCH.md, console completion and errors.
type FieldInfo struct {
	Name     string   `json:"name"`
	Aliases  []string `json:"aliases,omitempty"`
	Type     Type     `json:"type"`
	Help     string   `json:"help"`
	Examples []string `json:"examples"`
	Values   []string `json:"values,omitempty"` // the valid values of an enum or severity field
}

// spec is a field's definition. Shortcut fields (after, before...) are rewritten by Parse to a
// time field and an operator, so that the AST has one form per meaning.
type spec struct {
	FieldInfo
	aliasValues map[string]string // accepted spellings of enum values -> the canonical value
	target      string            // shortcut: the field it stands for
	targetOp    Op                // shortcut: the operator it stands for
}

func names[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// severities in rank order (event.Severity.Rank).
var severityNames = names(event.Severities())

// specs returns the field table. It is built per call (no package state to mutate).
func specs() []spec {
	actionAlias := map[string]string{}
	for _, a := range event.Actions() {
		short := strings.TrimPrefix(string(a), "file-")
		actionAlias[short] = string(a)
		actionAlias[strings.ReplaceAll(string(a), "-", "_")] = string(a)
	}
	underscored := func(xs []string) map[string]string {
		m := map[string]string{}
		for _, x := range xs {
			m[strings.ReplaceAll(x, "_", "-")] = x
		}
		return m
	}
	exposureAlias := map[string]string{
		"public": "public_link", "public-link": "public_link", "anyone": "public_link",
		"organization": "organization_link", "org": "organization_link", "organization-link": "organization_link",
		"outside": "outside_trusted_domains", "external": "outside_trusted_domains", "outside-trusted-domains": "outside_trusted_domains",
	}
	serviceAlias := underscored(names(event.Observers()))
	serviceAlias["google"], serviceAlias["gdrive"], serviceAlias["drive"] = "google_drive", "google_drive", "google_drive"
	serviceAlias["outlook"], serviceAlias["m365_mail"], serviceAlias["exchange"] = "microsoft365_mail", "microsoft365_mail", "microsoft365_mail"
	return []spec{
		{FieldInfo: FieldInfo{Name: "observed", Aliases: []string{"time", "timestamp", "@timestamp", "date", "when"}, Type: TypeTime,
			Help:     "When the service observed the activity. A bare value means within that day, minute or second; a relative value (7d) means since then.",
			Examples: []string{"observed:7d", "observed:2026-11-20", "observed>=2026-11-01T08:00Z", "observed<24h"}}},
		{FieldInfo: FieldInfo{Name: "after", Type: TypeTime, Help: "Observed at or after this time (same as observed>=).",
			Examples: []string{"after:2026-11-01", "after:24h"}}, target: "observed", targetOp: OpGe},
		{FieldInfo: FieldInfo{Name: "before", Type: TypeTime, Help: "Observed before this time (same as observed<).",
			Examples: []string{"before:2026-11-20T10:00Z", "before:30d"}}, target: "observed", targetOp: OpLt},
		{FieldInfo: FieldInfo{Name: "inserted", Aliases: []string{"inserted_at", "ingested", "received"}, Type: TypeTime,
			Help:     "When Telltale stored the event (it can be much later than observed when a service delivers late).",
			Examples: []string{"inserted:1h", "inserted>=2026-11-20"}}},
		{FieldInfo: FieldInfo{Name: "inserted_after", Type: TypeTime, Help: "Stored at or after this time (same as inserted>=).",
			Examples: []string{"inserted_after:2026-11-20T10:00Z"}}, target: "inserted", targetOp: OpGe},
		{FieldInfo: FieldInfo{Name: "inserted_before", Type: TypeTime, Help: "Stored before this time (same as inserted<).",
			Examples: []string{"inserted_before:2026-11-21"}}, target: "inserted", targetOp: OpLt},
		{FieldInfo: FieldInfo{Name: "action", Aliases: []string{"event", "activity", "event.action"}, Type: TypeEnum,
			Help: "What was done to the file. The file- prefix may be left out (action:shared).", Values: names(event.Actions()),
			Examples: []string{"action:file-shared", "action:downloaded"}}, aliasValues: actionAlias},
		{FieldInfo: FieldInfo{Name: "service", Aliases: []string{"observer", "source", "event.observer"}, Type: TypeEnum,
			Help: "The service that observed the activity.", Values: names(event.Observers()),
			Examples: []string{"service:box", "service:google_drive"}}, aliasValues: serviceAlias},
		{FieldInfo: FieldInfo{Name: "connection", Aliases: []string{"conn", "connection_id", "connection_name"}, Type: TypeConnection,
			Help:     "The connection the event came through: its id, or its name (case-insensitive, wildcards).",
			Examples: []string{"connection:3", `connection:"Box Prod"`, "connection:box*"}}},
		{FieldInfo: FieldInfo{Name: "actor", Aliases: []string{"user", "email", "by", "user.email"}, Type: TypeText,
			Help:     "The e-mail address of the person who acted.",
			Examples: []string{"actor:alice@corp.com", "actor:*@contractor.example", "user:alice*"}}},
		{FieldInfo: FieldInfo{Name: "owner", Aliases: []string{"file.owner"}, Type: TypeText,
			Help: "The file's owner.", Examples: []string{"owner:bob@corp.com", "owner:*@corp.com"}}},
		{FieldInfo: FieldInfo{Name: "name", Aliases: []string{"file", "filename", "file_name", "file.name"}, Type: TypeText,
			Help:     "The file name: exact (name:plan.xlsx), wildcard (name:*.xlsx) or, as a bare word, a substring (plan).",
			Examples: []string{"name:*.xlsx", `name:"Q3 plan.xlsx"`, "budget"}}},
		{FieldInfo: FieldInfo{Name: "file_id", Aliases: []string{"file.id", "fileid"}, Type: TypeText,
			Help: "The vendor's id of the file: every event of one file (its timeline).", Examples: []string{"file_id:560284318361"}}},
		{FieldInfo: FieldInfo{Name: "path", Aliases: []string{"file.path", "filepath"}, Type: TypeText,
			Help: "The file's full path.", Examples: []string{"path:/Finance/*", "path:*/payroll/*"}}},
		{FieldInfo: FieldInfo{Name: "directory", Aliases: []string{"dir", "folder", "file.directory"}, Type: TypeText,
			Help: "The folder holding the file.", Examples: []string{"folder:/Finance/Q3", "dir:/HR*"}}},
		{FieldInfo: FieldInfo{Name: "hash", Aliases: []string{"checksum", "digest"}, Type: TypeHash,
			Help:     "Any of the file's hashes; the value says which: a hex digest by its length (32 md5, 40 sha1, 64 sha256), 28 base64 characters a quick_xor. Quotes are not needed (+ / = are part of the value) but allowed.",
			Examples: []string{"hash:d41d8cd98f00b204e9800998ecf8427e", "hash:aGVsbG8gd29ybGQgcXVpY2t4b3I="}}},
		{FieldInfo: FieldInfo{Name: "md5", Aliases: []string{"file.hash.md5"}, Type: TypeHash,
			Help: "The file's MD5 (32 hex digits).", Examples: []string{"md5:d41d8cd98f00b204e9800998ecf8427e"}}},
		{FieldInfo: FieldInfo{Name: "sha1", Aliases: []string{"file.hash.sha1"}, Type: TypeHash,
			Help: "The file's SHA-1 (40 hex digits; Box reports it).", Examples: []string{"sha1:85136c79cbf9fe36bb9d05d0639c70c265c18d37"}}},
		{FieldInfo: FieldInfo{Name: "sha256", Aliases: []string{"file.hash.sha256"}, Type: TypeHash,
			Help:     "The file's SHA-256 (64 hex digits).",
			Examples: []string{"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}},
		{FieldInfo: FieldInfo{Name: "quick_xor", Aliases: []string{"file.hash.quick_xor", "quickxor"}, Type: TypeHash,
			Help:     "The file's QuickXorHash as OneDrive reports it: 28 base64 characters, case-sensitive. Quotes are not needed (+ / = are part of the value) but allowed.",
			Examples: []string{"quick_xor:aGVsbG8gd29ybGQgcXVpY2t4b3I=", `quick_xor:"aGVsbG8gd29ybGQgcXVpY2t4b3I="`}}},
		{FieldInfo: FieldInfo{Name: "size", Aliases: []string{"file.size", "bytes"}, Type: TypeSize,
			Help:     "The file size. Units B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024); no unit means bytes. Events without a size count as 0.",
			Examples: []string{"size>10MB", "size<=1.5GiB", "size:0"}}},
		{FieldInfo: FieldInfo{Name: "category", Aliases: []string{"type", "file_type", "file.category", "kind"}, Type: TypeEnum,
			Help: "The file category, from its extension or MIME type.", Values: names(event.Categories()),
			Examples: []string{"category:spreadsheet", "category:source_code"}}, aliasValues: underscored(names(event.Categories()))},
		{FieldInfo: FieldInfo{Name: "recipient", Aliases: []string{"to", "shared_with", "sharedwith", "shared", "destination", "dest"}, Type: TypeText,
			Help:     "Any address the file went to: an e-mail recipient or someone it was shared with.",
			Examples: []string{"recipient:*@gmail.com", "to:bob@partner.example"}}},
		{FieldInfo: FieldInfo{Name: "domain", Aliases: []string{"recipient_domain", "destination_domain", "dest_domain"}, Type: TypeText,
			Help:     "The domain of any address the file went to (the part after @).",
			Examples: []string{"domain:gmail.com", "domain:*.example"}}},
		{FieldInfo: FieldInfo{Name: "tenant", Aliases: []string{"destination_tenant", "dest_tenant", "sharing.tenant"}, Type: TypeText,
			Help:     "The tenant of a destination, where the service's record names it (a Google Workspace domain shared with as a whole); unknown tenants are not guessed.",
			Examples: []string{"tenant:partner.example", "tenant:*"}}},
		{FieldInfo: FieldInfo{Name: "exposure", Aliases: []string{"exposed", "sharing.exposure"}, Type: TypeEnum,
			Help:   "How far the file was exposed: a public link, an organization-wide link, or shared outside the trusted domains.",
			Values: names(event.Exposures()), Examples: []string{"exposure:public_link", "exposure:outside_trusted_domains"}}, aliasValues: exposureAlias},
		{FieldInfo: FieldInfo{Name: "link", Aliases: []string{"link_scope", "sharing.link_scope"}, Type: TypeEnum,
			Help: "Who a shared link opens to.", Values: []string{"anyone", "organization", "specific", "none"},
			Examples: []string{"link:anyone"}}},
		{FieldInfo: FieldInfo{Name: "severity", Aliases: []string{"risk", "risk.severity"}, Type: TypeSeverity,
			Help:   "The risk severity; compares by rank (none < low < moderate < high < critical). Events not yet assessed match no severity term.",
			Values: severityNames, Examples: []string{"severity>=high", "severity:critical"}}, aliasValues: map[string]string{"medium": "moderate"}},
		{FieldInfo: FieldInfo{Name: "score", Aliases: []string{"risk.score", "risk_score"}, Type: TypeNumber,
			Help:     "The risk score: the sum of the weights of the event's risk indicators (docs/RISK.md). Events not yet assessed match no score term.",
			Examples: []string{"risk.score>=7", "score:0"}}},
		{FieldInfo: FieldInfo{Name: "indicator", Aliases: []string{"risk.indicator", "risk.indicators", "indicators", "risk_indicator"}, Type: TypeEnum,
			Help:   "A risk indicator of the event (docs/RISK.md): an untrusted destination, first use, off hours, the file's category or a watchlist the actor is on.",
			Values: event.Indicators(), Examples: []string{"risk.indicator:off_hours", "indicator:public_link", "indicator:category_source_code"}},
			aliasValues: underscored(event.Indicators())},
		{FieldInfo: FieldInfo{Name: "trusted", Aliases: []string{"risk.trusted"}, Type: TypeBool,
			Help: "Whether a trusted domain or activity covers the event.", Examples: []string{"trusted:false", "NOT trusted:true"}}},
		{FieldInfo: FieldInfo{Name: "id", Aliases: []string{"event.id", "event_id"}, Type: TypeNumber,
			Help: "The event id (insertion order).", Examples: []string{"id:1234", "id>1000000"}}},
	}
}

// Fields returns every searchable field with its aliases, type, help and examples.
func Fields() []FieldInfo {
	ss := specs()
	out := make([]FieldInfo, len(ss))
	for i, s := range ss {
		out[i] = s.FieldInfo
		out[i].Aliases = slices.Clone(s.Aliases)
		out[i].Examples = slices.Clone(s.Examples)
		out[i].Values = slices.Clone(s.Values)
	}
	return out
}

// fieldTable indexes specs by every name and alias (lower case, '-' as '_').
type fieldTable struct {
	specs  []spec
	byName map[string]*spec
	all    []string // every name and alias, for suggestions
}

// fieldIndex is the read-only index of the field table, built once.
var fieldIndex = sync.OnceValue(newFieldTable)

func newFieldTable() *fieldTable {
	ss := specs()
	t := &fieldTable{specs: ss, byName: map[string]*spec{}}
	for i := range ss {
		s := &ss[i]
		for _, n := range append([]string{s.Name}, s.Aliases...) {
			t.byName[n] = s
			t.all = append(t.all, n)
		}
	}
	return t
}

func normField(f string) string { return strings.ReplaceAll(asciiLower(f), "-", "_") }

func (t *fieldTable) lookup(f string) *spec { return t.byName[normField(f)] }

// suggest returns the nearest known name to s, or "" when none is near.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	s = asciiLower(s)
	for _, c := range candidates {
		d := editDistance(s, c)
		if d < bestD || d == bestD && commonPrefix(s, c) > commonPrefix(s, best) {
			best, bestD = c, d
		}
	}
	limit := max(1, min(3, len([]rune(s))/3+1))
	if bestD > limit {
		// a prefix is a good guess too ("sev" -> "severity")
		for _, c := range candidates {
			if len(s) >= 3 && strings.HasPrefix(c, s) {
				return c
			}
		}
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment) distance over runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// asciiLower folds A-Z only: the same folding both SQL drivers apply (SQLite's lower() and the
// PostgreSQL translate() the compiler emits), so that Match and SQL agree on every string.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// clippedFields are the text fields whose values events keep clipped to event.MaxKeyBytes
// (event.CleanText): an exact value longer than that is clipped the same way, so the address
// as the vendor wrote it finds its events.
var clippedFields = []string{"actor", "owner", "file_id", "recipient", "tenant"}
