package search

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func day(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

func tm(f string, v string) *Term { return &Term{Field: f, Op: OpEq, Value: v} }

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want Node
	}{
		{"", nil},
		{"   ", nil},
		{"actor:alice@corp.com", tm("actor", "alice@corp.com")},
		{"USER:Alice@Corp.com", tm("actor", "Alice@Corp.com")},
		{"plan", tm("name", "*plan*")},
		{`"Q3 plan"`, tm("name", "*Q3 plan*")},
		{`name:"Q3 plan.xlsx"`, tm("name", "Q3 plan.xlsx")},
		{`name:"say \"hi\".txt"`, tm("name", `say "hi".txt`)},
		{`name:a\*b`, tm("name", `a\*b`)},
		{`name:"a\*b?"`, tm("name", `a\*b?`)},
		{`name:a\\b`, tm("name", `a\\b`)},
		{`file:*.xlsx`, tm("name", "*.xlsx")},
		{"action:file-shared", tm("action", "file-shared")},
		{"action:Shared", tm("action", "file-shared")},
		{"action:file_downloaded", tm("action", "file-downloaded")},
		{"service:BOX", tm("service", "box")},
		{"service:google-drive", tm("service", "google_drive")},
		{"category:source-code", tm("category", "source_code")},
		{"exposure:public", tm("exposure", "public_link")},
		{"link:Anyone", tm("link", "anyone")},
		{"trusted:yes", tm("trusted", "true")},
		{"trusted:0", tm("trusted", "false")},
		{"md5:D41D8CD98F00B204E9800998ECF8427E", tm("md5", "d41d8cd98f00b204e9800998ecf8427e")},
		{"hash:85136c79cbf9fe36bb9d05d0639c70c265c18d37", tm("hash", "85136c79cbf9fe36bb9d05d0639c70c265c18d37")},
		{"connection:12", &Term{Field: "connection", Op: OpEq, Value: "12", Num: 12}},
		{`connection:"Box Prod"`, tm("connection", "Box Prod")},
		{"size>10MB", &Term{Field: "size", Op: OpGt, Value: "10MB", Num: 10_000_000}},
		{"size<=1.5kib", &Term{Field: "size", Op: OpLe, Value: "1.5KiB", Num: 1536}},
		{"size:500", &Term{Field: "size", Op: OpEq, Value: "500", Num: 500}},
		{"size:>=2GB", &Term{Field: "size", Op: OpGe, Value: "2GB", Num: 2e9}},
		{"severity>=high", &Term{Field: "severity", Op: OpGe, Value: "high", Num: 3}},
		{"risk:medium", &Term{Field: "severity", Op: OpEq, Value: "moderate", Num: 2}},
		{"id>100", &Term{Field: "id", Op: OpGt, Value: "100", Num: 100}},
		{"after:2026-11-01", &Term{Field: "observed", Op: OpGe, Value: "2026-11-01", From: day(2026, 11, 1)}},
		{"before:2026-11-20T10:00Z", &Term{Field: "observed", Op: OpLt, Value: "2026-11-20T10:00Z", To: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}},
		{"observed:2026-11-20", &Term{Field: "observed", Op: OpEq, Value: "2026-11-20", From: day(2026, 11, 20), To: day(2026, 11, 21)}},
		{"observed>2026-11-20", &Term{Field: "observed", Op: OpGt, Value: "2026-11-20", From: day(2026, 11, 21)}},
		{"observed<=2026-11-20", &Term{Field: "observed", Op: OpLe, Value: "2026-11-20", To: day(2026, 11, 21)}},
		{"observed:2026-11-20T10:00:30+01:00", &Term{Field: "observed", Op: OpEq, Value: "2026-11-20T10:00:30+01:00",
			From: time.Date(2026, 11, 20, 9, 0, 30, 0, time.UTC), To: time.Date(2026, 11, 20, 9, 0, 31, 0, time.UTC)}},
		{"observed:2026-11-20T10:00:30.5Z", &Term{Field: "observed", Op: OpEq, Value: "2026-11-20T10:00:30.5Z",
			From: time.Date(2026, 11, 20, 10, 0, 30, 5e8, time.UTC), To: time.Date(2026, 11, 20, 10, 0, 30, 5e8+1e3, time.UTC)}},
		{"observed:7d", &Term{Field: "observed", Op: OpEq, Value: "7d", From: now.AddDate(0, 0, -7)}},
		{"when<24H", &Term{Field: "observed", Op: OpLt, Value: "24h", To: now.Add(-24 * time.Hour)}},
		{"inserted_after:1h", &Term{Field: "inserted", Op: OpGe, Value: "1h", From: now.Add(-time.Hour)}},
		{"inserted_before:2026-11-21", &Term{Field: "inserted", Op: OpLt, Value: "2026-11-21", To: day(2026, 11, 21)}},
		{"a b", &And{Nodes: []Node{tm("name", "*a*"), tm("name", "*b*")}}},
		{"a AND b AND c", &And{Nodes: []Node{tm("name", "*a*"), tm("name", "*b*"), tm("name", "*c*")}}},
		{"(a b) c", &And{Nodes: []Node{tm("name", "*a*"), tm("name", "*b*"), tm("name", "*c*")}}},
		{"a OR b c", &Or{Nodes: []Node{tm("name", "*a*"), &And{Nodes: []Node{tm("name", "*b*"), tm("name", "*c*")}}}}},
		{"(a OR b) c", &And{Nodes: []Node{&Or{Nodes: []Node{tm("name", "*a*"), tm("name", "*b*")}}, tm("name", "*c*")}}},
		{"a OR (b OR c)", &Or{Nodes: []Node{tm("name", "*a*"), tm("name", "*b*"), tm("name", "*c*")}}},
		{"((a))", tm("name", "*a*")},
		{"NOT trusted:true", &Not{Node: tm("trusted", "true")}},
		{"-trusted:true", &Not{Node: tm("trusted", "true")}},
		{"-(a OR b)", &Not{Node: &Or{Nodes: []Node{tm("name", "*a*"), tm("name", "*b*")}}}},
		{"NOT(a)", &Not{Node: tm("name", "*a*")}},
		{"NOT NOT a", &Not{Node: &Not{Node: tm("name", "*a*")}}},
		{"and or", &And{Nodes: []Node{tm("name", "*and*"), tm("name", "*or*")}}},
		{"-draft", &Not{Node: tm("name", "*draft*")}},
		{"x-y", tm("name", "*x-y*")},
		{"a/b:c", tm("name", "*a/b:c*")},
		{"name:=x", tm("name", "x")},
	} {
		t.Run(tc.q, func(t *testing.T) {
			got, err := Parse(tc.q, now)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.q, err)
			}
			if diff := cmp.Diff(Query{Root: tc.want}, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.q, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		q       string
		pos     int
		msg     string // a part of the message
		suggest string
	}{
		{"acter:alice", 0, `unknown field "acter" at 0: did you mean "actor"?`, "actor"},
		{"size>1MB sevrity>=high", 9, `unknown field "sevrity"`, "severity"},
		{"zzzzzz:1", 0, "known fields are observed, after", ""},
		{"action:file-share", 7, `unknown action "file-share" at 7: did you mean "file-shared"?`, "file-shared"},
		{"action:eaten", 7, "valid values are file-created, file-modified", ""},
		{"exposure:publik", 9, `did you mean "public_link"?`, "public_link"},
		{"category:spreadsheat", 9, `"spreadsheet"`, "spreadsheet"},
		{"severity>=hihg", 10, `did you mean "high"?`, "high"},
		{"service:dropbox", 8, "valid values are box, google_drive", ""},
		{"after:2026-13-01", 6, "use a date (2026-11-20), a time in RFC 3339", ""},
		{"before:yesterday", 7, "relative time (30m, 24h, 7d, 2w)", ""},
		{"after:1969-12-31", 6, "between 1970 and 9999", ""},
		{"after:99999999w", 6, "at most 100 years", ""},
		{"size>ten", 5, `"ten" is not a size`, ""},
		{"size>10XB", 5, "KiB", ""},
		{"md5:abc", 4, "32 hex digits", ""},
		{"hash:xyz", 5, "32 digits (md5), 40 (sha1) or 64 (sha256)", ""},
		{"quick_xor:abc", 10, "28 base64 characters", ""},
		{"quick_xor:d41d8cd98f00b204e9800998ecf8427e", 10, "28 base64 characters", ""},
		{"hash:aGVsbG8gd29ybGQgcXVpY2t4b3I!", 5, "28 base64 characters", ""},
		{"trusted:maybe", 8, "true or false", ""},
		{"id:-1", 3, "not a number", ""},
		{"actor>bob", 5, `actor takes ":" only`, ""},
		{"after>2026-11-01", 5, "observed>VALUE", ""},
		{"action:file-*", 7, "wildcards are not allowed in action", ""},
		{"actor:", 6, "needs a value", ""},
		{`actor:""`, 6, "is empty", ""},
		{`""`, 0, "empty quoted value", ""},
		{`name:"abc`, 5, "unterminated quoted value", ""},
		{`name:"abc"def`, 10, "leave a space", ""},
		{`abc\`, 3, "backslash at the end", ""},
		{"a OR", 4, "OR at the end of the query", ""},
		{"OR a", 0, "no term before it", ""},
		{"a AND OR b", 6, "two operators in a row", ""},
		{"NOT", 3, "NOT at the end", ""},
		{"(a", 0, `unclosed "("`, ""},
		{"a)", 1, `unmatched ")"`, ""},
		{"()", 1, "empty parentheses", ""},
		{"(a OR)", 5, `")" right after OR`, ""},
		{"- a", 0, `a lone "-"`, ""},
		{strings.Repeat("(", 70) + "a" + strings.Repeat(")", 70), 64, "nests too deeply", ""},
		{strings.Repeat("a ", 300), 512, "too many terms", ""},
		{"a \xff", 2, "invalid UTF-8", ""},
	} {
		t.Run(tc.q, func(t *testing.T) {
			_, err := Parse(tc.q, now)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) = %v, want an *Error", tc.q, err)
			}
			if e.Pos != tc.pos || !strings.Contains(e.Msg, tc.msg) || e.Suggest != tc.suggest {
				t.Errorf("Parse(%q) = {Pos: %d, Msg: %q, Suggest: %q}, want Pos %d, a message containing %q, Suggest %q",
					tc.q, e.Pos, e.Msg, e.Suggest, tc.pos, tc.msg, tc.suggest)
			}
			if e.Error() != e.Msg {
				t.Errorf("Error() = %q, want the message", e.Error())
			}
		})
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, tc := range []struct{ q, canonical string }{
		{"", ""},
		{"actor:alice@corp.com action:file-shared exposure:public_link after:2026-11-01 name:*.xlsx",
			"actor:alice@corp.com action:file-shared exposure:public_link observed>=2026-11-01 name:*.xlsx"},
		{"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
			"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"recipient:*@gmail.com", "recipient:*@gmail.com"},
		{"size>10mb", "size>10MB"},
		{"NOT trusted:true", "NOT trusted:true"},
		{"(a OR b)", "name:*a* OR name:*b*"},
		{"(a OR b) c", "(name:*a* OR name:*b*) name:*c*"},
		{"a AND (b OR NOT c)", "name:*a* (name:*b* OR NOT name:*c*)"},
		{"-(a b)", "NOT (name:*a* name:*b*)"},
		{`name:"Q3 plan.xlsx"`, `name:"Q3 plan.xlsx"`},
		{`name:"say \"hi\""`, `name:"say \"hi\""`},
		{`name:"=x"`, `name:"=x"`},
		{`name:a\*b\\c`, `name:a\*b\\c`},
		{"path:/Finance/*", "path:/Finance/*"},
		{"user:Bob", "actor:Bob"},
		{"before:2026-11-20T10:00z", "observed<2026-11-20T10:00Z"},
		{"observed:7D", "observed:7d"},
		{"inserted_after:2026-11-01", "inserted>=2026-11-01"},
		{"severity:>=high", "severity>=high"},
		{"trusted:no", "trusted:false"},
		{`connection:"Box Prod" OR connection:3`, `connection:"Box Prod" OR connection:3`},
	} {
		q, err := Parse(tc.q, now)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.q, err)
		}
		s := q.String()
		if s != tc.canonical {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.q, s, tc.canonical)
		}
		back, err := Parse(s, now)
		if err != nil {
			t.Fatalf("Parse(%q) of the canonical form: %v", s, err)
		}
		if diff := cmp.Diff(q, back); diff != "" {
			t.Errorf("round trip of %q through %q (-first +second):\n%s", tc.q, s, diff)
		}
	}
}

func TestFields(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Fields() {
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			if seen[n] {
				t.Errorf("name %q is used twice", n)
			}
			seen[n] = true
		}
		if f.Help == "" || len(f.Examples) == 0 {
			t.Errorf("field %s lacks help or examples", f.Name)
		}
		for _, ex := range f.Examples {
			if _, err := Parse(ex, now); err != nil {
				t.Errorf("field %s: example %q does not parse: %v", f.Name, ex, err)
			}
		}
	}
	// every field of R5.1, and trusted, is searchable
	for _, n := range []string{"observed", "inserted", "action", "service", "connection", "actor", "owner", "name", "path",
		"md5", "sha1", "sha256", "size", "category", "recipient", "domain", "exposure", "severity", "trusted"} {
		if !seen[n] {
			t.Errorf("field %s is missing", n)
		}
	}
}
