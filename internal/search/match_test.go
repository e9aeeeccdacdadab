package search

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/event"
)

// matchEvents are hand-written events, each named for what makes it distinct.
func matchEvents() map[string]*event.FileEvent {
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	return map[string]*event.FileEvent{
		"shared": {Timestamp: base, Event: event.Meta{ID: 1, Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: 3,
			ConnectionName: "Box Prod", Inserted: base.Add(time.Hour)},
			User: event.User{Email: "Alice@Corp.com"},
			File: event.File{Name: "Q3 Plan.xlsx", Directory: "/Finance", Path: "/Finance/Q3 Plan.xlsx", Size: 12_000_000,
				Category: event.CategorySpreadsheet, Owner: "bob@corp.com",
				Hash: event.Hash{MD5: "d41d8cd98f00b204e9800998ecf8427e", SHA1: "85136c79cbf9fe36bb9d05d0639c70c265c18d37",
					QuickXor: "aGVsbG8gd29ybGQgcXVpY2t4b3I="}},
			Sharing: event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink, event.ExposureOutsideTrustedDomain},
				SharedWith: []string{"eve@Gmail.com"}},
			Risk: event.Risk{Severity: event.SeverityHigh, Score: 8, Indicators: []string{"public_link", "off_hours", "category_spreadsheet"}}},
		"emailed": {Timestamp: base.Add(-3 * 24 * time.Hour), Event: event.Meta{ID: 2, Action: event.ActionEmailed, Observer: event.ObserverGmail,
			ConnectionID: 4, ConnectionName: "Gmail EU", Inserted: base},
			User:  event.User{Email: "carol@corp.com"},
			File:  event.File{Name: "100%_done.pdf", Size: 2048, Category: event.CategoryPDF},
			Email: event.Email{Recipients: []string{"x@partner.example", "y@mail.gmail.com"}},
			Risk:  event.Risk{Severity: event.SeverityLow, Score: 1, Trusted: true, Indicators: []string{"category_pdf"}}},
		"bare": {Timestamp: base.Add(-40 * 24 * time.Hour), Event: event.Meta{ID: 3, Action: event.ActionCreated, Observer: event.ObserverEndpoint,
			Inserted: base.Add(-39 * 24 * time.Hour)},
			File: event.File{Name: "Ärger*.txt", Directory: "/Root/", Path: "/Root/Ärger*.txt", Hash: event.Hash{
				SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}},
	}
}

func TestMatch(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	evs := matchEvents()
	for _, tc := range []struct {
		q    string
		want []string // names of the matching events
	}{
		{"", []string{"bare", "emailed", "shared"}},
		{"actor:alice@corp.com", []string{"shared"}},
		{"actor:ALICE@corp.COM", []string{"shared"}},
		{"actor:*@corp.com", []string{"emailed", "shared"}},
		{"actor:*", []string{"emailed", "shared"}},
		{"NOT actor:*", []string{"bare"}},
		{"actor:c?rol@*", []string{"emailed"}},
		{"actor:alice", nil},
		{"owner:bob@corp.com", []string{"shared"}},
		{"plan", []string{"shared"}},
		{"PLAN xlsx", []string{"shared"}},
		{`"q3 plan"`, []string{"shared"}},
		{`name:"Q3 Plan.xlsx"`, []string{"shared"}},
		{`name:Q3`, nil},
		{"name:*.XLSX", []string{"shared"}},
		{"name:*%*", []string{"emailed"}},
		{"name:100?_done.pdf", []string{"emailed"}},
		{`name:*\**`, []string{"bare"}},
		{`name:ärger*`, nil}, // folding is ASCII only, as in SQL
		{`name:Ärger*`, []string{"bare"}},
		{"path:/finance/*", []string{"shared"}},
		{"path:/Root/*", []string{"bare"}},
		{"directory:/Root/", []string{"bare"}},
		{"action:file-shared", []string{"shared"}},
		{"action:shared OR action:emailed", []string{"emailed", "shared"}},
		{"service:gmail", []string{"emailed"}},
		{"connection:3", []string{"shared"}},
		{`connection:"gmail eu"`, []string{"emailed"}},
		{"connection:box*", []string{"shared"}},
		{"NOT connection:*", []string{"bare"}},
		{"md5:D41D8CD98F00B204E9800998ECF8427E", []string{"shared"}},
		{"hash:85136c79cbf9fe36bb9d05d0639c70c265c18d37", []string{"shared"}},
		{"hash:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []string{"bare"}},
		{"sha1:e3b0c44298fc1c149afbf4c8996fb92427ae41e4", nil},
		{"quick_xor:aGVsbG8gd29ybGQgcXVpY2t4b3I=", []string{"shared"}},
		{`file.hash.quick_xor:"aGVsbG8gd29ybGQgcXVpY2t4b3I="`, []string{"shared"}},
		{"hash:aGVsbG8gd29ybGQgcXVpY2t4b3I=", []string{"shared"}},
		{"quick_xor:AGVSBG8GD29YBGQGCXVPY2T4B3I=", nil}, // base64 is case-sensitive
		{"NOT quick_xor:aGVsbG8gd29ybGQgcXVpY2t4b3I=", []string{"bare", "emailed"}},
		{"size>10MB", []string{"shared"}},
		{"size>=2KiB size<=2048", []string{"emailed"}},
		{"size:0", []string{"bare"}},
		{"size<1KB", []string{"bare"}},
		{"category:spreadsheet OR category:pdf", []string{"emailed", "shared"}},
		{"recipient:*@gmail.com", []string{"shared"}},
		{"recipient:x@partner.example", []string{"emailed"}},
		{"domain:gmail.com", []string{"shared"}},
		{"domain:*gmail.com", []string{"emailed", "shared"}},
		{"domain:partner.example", []string{"emailed"}},
		{"NOT recipient:*", []string{"bare"}},
		{"exposure:public_link", []string{"shared"}},
		{"exposure:outside_trusted_domains", []string{"shared"}},
		{"exposure:organization_link", nil},
		{"link:anyone", []string{"shared"}},
		{"severity>=high", []string{"shared"}},
		{"severity>none", []string{"emailed", "shared"}},
		{"severity<moderate", []string{"emailed"}},
		{"NOT severity:low", []string{"bare", "shared"}},
		{"trusted:true", []string{"emailed"}},
		{"risk.severity:high", []string{"shared"}},
		{"risk.score>=7", []string{"shared"}},
		{"score:1", []string{"emailed"}},
		{"risk.score<8", []string{"emailed"}}, // bare was never assessed: it matches no score term
		{"NOT risk.score>=1", []string{"bare"}},
		{"risk.indicator:off_hours", []string{"shared"}},
		{"indicator:category-pdf OR indicator:public_link", []string{"emailed", "shared"}},
		{"NOT risk.indicator:off_hours", []string{"bare", "emailed"}},
		{"risk.severity>=high risk.indicator:category_spreadsheet", []string{"shared"}},
		{"NOT trusted:true", []string{"bare", "shared"}},
		{"id>=2", []string{"bare", "emailed"}},
		{"observed:7d", []string{"emailed", "shared"}},
		{"observed:2026-11-20", []string{"shared"}},
		{"observed:2026-11-20T10:00Z", []string{"shared"}},
		{"observed:2026-11-20T10:01Z", nil},
		{"after:2026-11-20", []string{"shared"}},
		{"before:2026-11-20", []string{"bare", "emailed"}},
		{"observed>2026-11-19", []string{"shared"}},
		{"observed<=2026-11-17", []string{"bare", "emailed"}},
		{"observed<30d", []string{"bare"}},
		{"inserted_after:2026-11-20T10:30Z", []string{"shared"}},
		{"inserted:2026-11-20", []string{"emailed", "shared"}},
		{"(plan OR pdf) -trusted:true", []string{"shared"}},
		{"actor:*@corp.com severity>=low NOT domain:gmail.com", []string{"emailed"}},
	} {
		q, err := Parse(tc.q, now)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.q, err)
		}
		var got []string
		for _, name := range []string{"bare", "emailed", "shared"} {
			if Match(q, evs[name]) {
				got = append(got, name)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Match(%q) (-want +got):\n%s", tc.q, diff)
		}
	}
}

func TestLikePattern(t *testing.T) {
	for _, tc := range []struct{ value, like, literal string }{
		{"*.XLSX", "%.xlsx", ""},
		{`100%_d?ne`, `100\%\_d_ne`, ""},
		{`a\*b\\c`, `a*b\\c`, `a*b\c`},
		{"**x", "%x", ""},
	} {
		term := &Term{Field: "name", Op: OpEq, Value: tc.value}
		if got := term.LikePattern(); got != tc.like {
			t.Errorf("LikePattern(%q) = %q, want %q", tc.value, got, tc.like)
		}
		if tc.literal != "" && term.Literal() != tc.literal {
			t.Errorf("Literal(%q) = %q, want %q", tc.value, term.Literal(), tc.literal)
		}
	}
}
