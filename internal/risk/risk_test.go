package risk

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/event"
)

var trusted = []string{"corp.example", "partner.example"}

// tue is a Tuesday at 10:00 UTC: inside the default working hours.
var tue = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func ev(a event.Action, at time.Time, mod func(*event.FileEvent)) *event.FileEvent {
	e := &event.FileEvent{Timestamp: at, Event: event.Meta{Action: a, Observer: event.ObserverBox},
		User: event.User{Email: "Ann@Corp.Example"}, File: event.File{Name: "photo.png", Category: event.CategoryImage}}
	if mod != nil {
		mod(e)
	}
	return e
}

func scorer(t *testing.T, c Config) *Scorer {
	t.Helper()
	s, err := NewScorer(c, trusted)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func share(with ...string) func(*event.FileEvent) {
	return func(e *event.FileEvent) { e.Sharing.SharedWith = with }
}

func link(scope event.LinkScope) func(*event.FileEvent) {
	return func(e *event.FileEvent) { e.Sharing.LinkScope = scope }
}

// TestIndicators: each indicator applies exactly where docs/RISK.md says, with its default weight.
func TestIndicators(t *testing.T) {
	orgRisky := Config{Weights: map[string]int{event.IndicatorOrganizationLink: 2}}
	for _, tc := range []struct {
		name     string
		cfg      Config
		e        *event.FileEvent
		firstUse []string
		want     []string // indicators, in order
	}{
		{"public link", Config{}, ev(event.ActionShared, tue, link(event.LinkAnyone)), nil, []string{"public_link"}},
		{"organization link: not risky by default", Config{}, ev(event.ActionShared, tue, link(event.LinkOrganization)), nil, nil},
		{"organization link configured as risky", orgRisky, ev(event.ActionShared, tue, link(event.LinkOrganization)), nil, []string{"organization_link"}},
		{"specific link", Config{}, ev(event.ActionShared, tue, link(event.LinkSpecific)), nil, nil},
		{"external share", Config{}, ev(event.ActionShared, tue, share("bob@vendor.example")), nil, []string{"untrusted_domain"}},
		{"share inside a trusted domain", Config{}, ev(event.ActionShared, tue, share("bob@corp.example")), nil, nil},
		{"share to a trusted subdomain", Config{}, ev(event.ActionShared, tue, share("bob@eu.partner.example")), nil, nil},
		{"share to a group", Config{}, ev(event.ActionShared, tue, share("group:Sales")), nil, nil},
		{"personal mail share", Config{}, ev(event.ActionShared, tue, share("Ann.Home@GMAIL.com")), nil, []string{"untrusted_domain", "personal_mail"}},
		{"attachment to personal mail", Config{}, ev(event.ActionEmailed, tue, func(e *event.FileEvent) { e.Email.Recipients = []string{"x@proton.me"} }), nil,
			[]string{"untrusted_domain", "personal_mail"}},
		{"attachment to an untrusted domain", Config{}, ev(event.ActionEmailed, tue, func(e *event.FileEvent) { e.Email.Recipients = []string{"x@corp.example", "y@rival.example"} }), nil,
			[]string{"untrusted_domain"}},
		{"first use", Config{}, ev(event.ActionShared, tue, share("bob@vendor.example")), []string{"vendor.example"}, []string{"untrusted_domain", "first_use"}},
		{"off hours share", Config{}, ev(event.ActionShared, tue.Add(-8*time.Hour), link(event.LinkAnyone)), nil, []string{"public_link", "off_hours"}},
		{"off hours: the end is outside", Config{}, ev(event.ActionDownloaded, time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC), nil), nil, []string{"off_hours"}},
		{"working hours: the start is inside", Config{}, ev(event.ActionDownloaded, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), nil), nil, nil},
		{"off hours: a Saturday at noon", Config{}, ev(event.ActionDownloaded, time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), nil), nil, []string{"off_hours"}},
		{"off hours in the organization's time zone", Config{WorkingHours: WorkingHours{TimeZone: "America/New_York"}},
			ev(event.ActionDownloaded, tue, nil), nil, []string{"off_hours"}}, // 05:00 in New York
		{"night shift: inside", Config{WorkingHours: WorkingHours{Start: "22:00", End: "06:00"}},
			ev(event.ActionDownloaded, time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC), nil), nil, nil}, // Friday's shift, Saturday 02:00
		{"night shift: outside", Config{WorkingHours: WorkingHours{Start: "22:00", End: "06:00"}},
			ev(event.ActionDownloaded, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), nil), nil, []string{"off_hours"}},
		{"source code download", Config{}, ev(event.ActionDownloaded, tue, func(e *event.FileEvent) { e.File.Category = event.CategorySourceCode }), nil,
			[]string{"category_source_code"}},
		{"category with weight 0 is left out", Config{}, ev(event.ActionDownloaded, tue, nil), nil, nil},
		{"category other has no indicator", Config{}, ev(event.ActionDownloaded, tue, func(e *event.FileEvent) { e.File.Category = event.CategoryOther }), nil, nil},
		{"every indicator of a share", Config{}, ev(event.ActionShared, tue.Add(-8*time.Hour), func(e *event.FileEvent) {
			e.Sharing = event.Sharing{LinkScope: event.LinkAnyone, SharedWith: []string{"x@gmail.com", "y@vendor.example"}}
			e.File.Category = event.CategorySpreadsheet
		}), []string{"x@gmail.com"}, []string{"public_link", "untrusted_domain", "personal_mail", "first_use", "off_hours", "category_spreadsheet"}},
		// events that move nothing out score nothing, whatever their time or file
		{"modified off hours", Config{}, ev(event.ActionModified, tue.Add(-8*time.Hour), func(e *event.FileEvent) { e.File.Category = event.CategorySourceCode }), nil, nil},
		{"unshared public link", Config{}, ev(event.ActionUnshared, tue, link(event.LinkAnyone)), nil, nil},
		{"internal share off hours", Config{}, ev(event.ActionShared, tue.Add(-8*time.Hour), share("bob@corp.example")), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := scorer(t, tc.cfg)
			r := s.Assess(tc.e, tc.firstUse)
			if !slices.Equal(r.Indicators, tc.want) {
				t.Fatalf("indicators %v, want %v (reasons %+v)", r.Indicators, tc.want, r.Reasons)
			}
			sum := 0
			for i, rs := range r.Reasons {
				if rs.Indicator != r.Indicators[i] || rs.Weight != s.Config().Weights[rs.Indicator] || rs.Why == "" {
					t.Errorf("reason %d %+v: not the indicator %s with its weight and why", i, rs, r.Indicators[i])
				}
				sum += rs.Weight
			}
			if r.Score != sum || r.Severity != DefaultBands.Severity(sum) {
				t.Errorf("score %d severity %s, want %d %s", r.Score, r.Severity, sum, DefaultBands.Severity(sum))
			}
		})
	}
}

// TestReasons: each indicator says why in words an analyst can check against the event.
func TestReasons(t *testing.T) {
	s := scorer(t, Config{WorkingHours: WorkingHours{TimeZone: "Europe/Paris"}})
	e := ev(event.ActionShared, time.Date(2026, 12, 1, 1, 14, 0, 0, time.UTC), func(e *event.FileEvent) {
		e.Sharing = event.Sharing{LinkScope: event.LinkAnyone, SharedWith: []string{"a@gmail.com", "b@v1.example", "c@v2.example", "d@v3.example"}}
		e.File.Category = event.CategorySourceCode
	})
	r := s.Assess(e, []string{"a@gmail.com"})
	want := []event.Reason{
		{Indicator: "public_link", Weight: 4, Why: "a link anyone who has it can open"},
		{Indicator: "untrusted_domain", Weight: 3, Why: "shared with a@gmail.com, b@v1.example, c@v2.example and 1 more, outside the trusted domains"},
		{Indicator: "personal_mail", Weight: 3, Why: "shared with a@gmail.com, a personal-mail address"},
		{Indicator: "first_use", Weight: 2, Why: "the first time this person shared or sent to a@gmail.com"},
		{Indicator: "off_hours", Weight: 1, Why: "tue 02:14 in Europe/Paris; working hours are 08:00-18:00 mon tue wed thu fri"},
		{Indicator: "category_source_code", Weight: 3, Why: "a source code file"},
	}
	if diff := cmp.Diff(want, r.Reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if r.Score != 16 || r.Severity != event.SeverityCritical {
		t.Errorf("score %d %s, want 16 critical", r.Score, r.Severity)
	}
}

// TestBands: the default bands are the (0 none, 1-3 low, 4-6 moderate, 7-8 high, 9+
// critical) and edited bands move the edges.
func TestBands(t *testing.T) {
	want := []event.Severity{"none", "low", "low", "low", "moderate", "moderate", "moderate", "high", "high", "critical", "critical"}
	for score, w := range want {
		if got := DefaultBands.Severity(score); got != w {
			t.Errorf("score %d: %s, want %s", score, got, w)
		}
	}
	b := Bands{Low: 2, Moderate: 3, High: 10, Critical: 20}
	for score, w := range map[int]event.Severity{1: "none", 2: "low", 3: "moderate", 9: "moderate", 10: "high", 19: "high", 20: "critical"} {
		if got := b.Severity(score); got != w {
			t.Errorf("edited bands, score %d: %s, want %s", score, got, w)
		}
	}
	// the score of an event lands in its band: public link (4) + source code (3) = 7 high
	s := scorer(t, Config{})
	r := s.Assess(ev(event.ActionShared, tue, func(e *event.FileEvent) {
		e.Sharing.LinkScope, e.File.Category = event.LinkAnyone, event.CategorySourceCode
	}), nil)
	if r.Score != 7 || r.Severity != event.SeverityHigh {
		t.Errorf("public link of source code: %d %s, want 7 high", r.Score, r.Severity)
	}
	r = scorer(t, Config{Bands: b}).Assess(ev(event.ActionShared, tue, link(event.LinkAnyone)), nil)
	if r.Score != 4 || r.Severity != event.SeverityModerate {
		t.Errorf("edited bands: %d %s, want 4 moderate", r.Score, r.Severity)
	}
}

// TestTrust: an event is trusted (score 0, no indicators, the trust entries named) when every
// destination is in a trusted domain; one untrusted destination makes it untrusted.
func TestTrust(t *testing.T) {
	s := scorer(t, Config{})
	off := tue.Add(-8 * time.Hour) // off hours: would score if the event were not trusted
	for _, tc := range []struct {
		name    string
		e       *event.FileEvent
		trusted bool
		reason  string
		score   int
	}{
		{"all trusted", ev(event.ActionShared, off, share("a@corp.example", "b@eu.partner.example", "c@corp.example")), true,
			"every destination is in a trusted domain (corp.example, partner.example)", 0},
		{"trusted e-mail", ev(event.ActionEmailed, off, func(e *event.FileEvent) { e.Email.Recipients = []string{"a@CORP.example"} }), true,
			"every destination is in a trusted domain (corp.example)", 0},
		{"one untrusted", ev(event.ActionShared, off, share("a@corp.example", "x@vendor.example")), false, "", 3 + 1},
		{"trusted people and a public link", ev(event.ActionShared, off, func(e *event.FileEvent) {
			e.Sharing = event.Sharing{LinkScope: event.LinkAnyone, SharedWith: []string{"a@corp.example"}}
		}), false, "", 4 + 1},
		{"no destination is not trusted", ev(event.ActionShared, off, link(event.LinkSpecific)), false, "", 0},
		{"a download has no destination to trust", ev(event.ActionDownloaded, off, nil), false, "", 1},
	} {
		r := s.Assess(tc.e, nil)
		if r.Trusted != tc.trusted || r.TrustReason != tc.reason || r.Score != tc.score {
			t.Errorf("%s: trusted %v %q score %d, want %v %q %d", tc.name, r.Trusted, r.TrustReason, r.Score, tc.trusted, tc.reason, tc.score)
		}
		if r.Trusted && (len(r.Indicators) > 0 || r.Severity != event.SeverityNone) {
			t.Errorf("%s: a trusted event has indicators %v, severity %s", tc.name, r.Indicators, r.Severity)
		}
	}
}

// TestDestinations: the keys recorded per person for first use.
func TestDestinations(t *testing.T) {
	s := scorer(t, Config{})
	for _, tc := range []struct {
		name string
		e    *event.FileEvent
		want []string
	}{
		{"domains of untrusted addresses, once each", ev(event.ActionShared, tue, share("a@vendor.example", "B@Vendor.example", "c@corp.example")), []string{"vendor.example"}},
		{"personal mail by address", ev(event.ActionEmailed, tue, func(e *event.FileEvent) { e.Email.Recipients = []string{"Ann@Gmail.com", "bob@gmail.com"} }),
			[]string{"ann@gmail.com", "bob@gmail.com"}},
		{"a public link is no destination to remember", ev(event.ActionShared, tue, link(event.LinkAnyone)), nil},
		{"a download sends nothing", ev(event.ActionDownloaded, tue, share("a@vendor.example")), nil},
		{"no actor", ev(event.ActionShared, tue, func(e *event.FileEvent) { e.User.Email = ""; e.Sharing.SharedWith = []string{"a@vendor.example"} }), nil},
	} {
		if got := s.Destinations(tc.e); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := scorer(t, Config{Weights: map[string]int{"first_use": 0}}).Destinations(ev(event.ActionShared, tue, share("a@vendor.example"))); got != nil {
		t.Errorf("first use weighs 0 but destinations are %v", got)
	}
}

func TestWeightsChangeScores(t *testing.T) {
	s := scorer(t, Config{Weights: map[string]int{"public_link": 9, "off_hours": 0}})
	r := s.Assess(ev(event.ActionShared, tue.Add(-8*time.Hour), link(event.LinkAnyone)), nil)
	if !slices.Equal(r.Indicators, []string{"public_link"}) || r.Score != 9 || r.Severity != event.SeverityCritical {
		t.Errorf("edited weights: %v %d %s", r.Indicators, r.Score, r.Severity)
	}
}

// TestNormalize: bad settings are refused saying what is wrong and where; good ones are completed
// from the defaults.
func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want []string // parts of the error, in order
	}{
		{"negative weight", Config{Weights: map[string]int{"off_hours": -1}}, []string{"risk.weights.off_hours: -1 is negative; a weight is 0 (off) or more"}},
		{"weight too large", Config{Weights: map[string]int{"public_link": 101}}, []string{"risk.weights.public_link: 101 is above the largest weight, 100"}},
		{"unknown indicator", Config{Weights: map[string]int{"offhours": 1}}, []string{"risk.weights.offhours: unknown indicator; the indicators are public_link, "}},
		{"overlapping bands", Config{Bands: Bands{Low: 1, Moderate: 4, High: 4, Critical: 9}},
			[]string{"risk.bands.high: starts at 4, not above moderate (4): the bands overlap"}},
		{"bands out of order", Config{Bands: Bands{Low: 5, Moderate: 2, High: 7, Critical: 6}},
			[]string{"risk.bands.moderate: starts at 2, not above low (5)", "risk.bands.critical: starts at 6, not above high (7)"}},
		{"low at 0", Config{Bands: Bands{Low: 0, Moderate: 4, High: 7, Critical: 9}}, []string{"risk.bands.low: 0; low must start at 1 or more"}},
		{"time zone", Config{WorkingHours: WorkingHours{TimeZone: "Mars/Olympus"}}, []string{`risk.working_hours.time_zone: "Mars/Olympus" is not a time zone`}},
		{"start", Config{WorkingHours: WorkingHours{Start: "25:00"}}, []string{`risk.working_hours.start: "25:00" is not a time of day`}},
		{"empty hours", Config{WorkingHours: WorkingHours{Start: "9:00", End: "09:00"}}, []string{"risk.working_hours: start and end are both 9:00"}},
		{"day", Config{WorkingHours: WorkingHours{Days: []string{"mon", "funday"}}}, []string{`risk.working_hours.days: "funday" is not a day`}},
	} {
		_, err := Normalize(tc.c)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		msg, at := err.Error(), 0
		for _, w := range tc.want {
			i := strings.Index(msg[at:], w)
			if i < 0 {
				t.Errorf("%s: error %q lacks %q", tc.name, msg, w)
				break
			}
			at += i + len(w)
		}
	}
	got, err := Normalize(Config{Weights: map[string]int{"off_hours": 5}, WorkingHours: WorkingHours{TimeZone: "Europe/Paris", Start: "7:30", Days: []string{"Friday", "mon", "MON"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Weights["off_hours"] = 5
	want.WorkingHours = WorkingHours{TimeZone: "Europe/Paris", Start: "07:30", End: "18:00", Days: []string{"mon", "fri"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalized (-want +got):\n%s", diff)
	}
	if d, err := Normalize(Config{}); err != nil || !cmp.Equal(d, Defaults()) {
		t.Errorf("zero config: %+v %v, want the defaults", d, err)
	}
	if _, err := NewScorer(Config{Weights: map[string]int{"off_hours": -1}}, nil); err == nil {
		t.Error("NewScorer accepted a negative weight")
	}
}

// TestEveryIndicatorHasADefault: the defaults cover every indicator event lists, and nothing else.
func TestEveryIndicatorHasADefault(t *testing.T) {
	d := Defaults()
	for _, i := range event.Indicators() {
		if _, ok := d.Weights[i]; !ok {
			t.Errorf("indicator %s has no default weight", i)
		}
	}
	if len(d.Weights) != len(event.Indicators()) {
		t.Errorf("%d default weights for %d indicators", len(d.Weights), len(event.Indicators()))
	}
}

func TestPersonalMail(t *testing.T) {
	for _, a := range []string{"x@gmail.com", "X@Outlook.COM", "hotmail.com", "a@yahoo.co.uk", "b@icloud.com", "c@proton.me"} {
		if !PersonalMail(a) {
			t.Errorf("%s is not personal mail", a)
		}
	}
	for _, a := range []string{"x@corp.example", "x@mail.gmail.com.evil.example", "gmail.co", ""} {
		if PersonalMail(a) {
			t.Errorf("%s is personal mail", a)
		}
	}
	if !slices.IsSorted(PersonalMailDomains()) {
		t.Error("the personal-mail list is not sorted")
	}
}

// TestWatchlists: a scored event of a person on watchlists gets one indicator per type, with its
// weight and why; an event that moves nothing out stays at 0, and a person on no list gets none.
func TestWatchlists(t *testing.T) {
	on := map[string][]string{"ann@corp.example": {event.WatchlistDepartingEmployee, event.WatchlistCustom}}
	sc := scorer(t, Config{}).WithWatchlists(func(p string) []string { return on[p] })
	r := sc.Assess(ev(event.ActionDownloaded, tue, nil), nil)
	if want := []string{"watchlist_departing_employee", "watchlist_custom"}; !slices.Equal(r.Indicators, want) || r.Score != 3+1 {
		t.Errorf("download by a departing employee: %v score %d, want %v score 4", r.Indicators, r.Score, want)
	}
	if why := r.Reasons[0].Why; !strings.Contains(why, "departing employee watchlist") {
		t.Errorf("reason %q", why)
	}
	if r := sc.Assess(ev(event.ActionViewed, tue, nil), nil); r.Score != 0 || len(r.Indicators) != 0 {
		t.Errorf("a view is not scored: %+v", r)
	}
	if r := sc.Assess(ev(event.ActionDownloaded, tue, func(e *event.FileEvent) { e.User.Email = "bob@corp.example" }), nil); len(r.Indicators) != 0 {
		t.Errorf("a person on no list: %+v", r)
	}
	if r := sc.Assess(ev(event.ActionShared, tue, share("ann@partner.example")), nil); !r.Trusted || r.Score != 0 {
		t.Errorf("a trusted share stays trusted: %+v", r)
	}
	c := Defaults()
	c.Weights["watchlist_departing_employee"] = 0
	off := scorer(t, c).WithWatchlists(func(p string) []string { return on[p] })
	if r := off.Assess(ev(event.ActionDownloaded, tue, nil), nil); !slices.Equal(r.Indicators, []string{"watchlist_custom"}) {
		t.Errorf("weight 0 turns it off: %v", r.Indicators)
	}
}
