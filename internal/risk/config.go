package risk

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // working hours name IANA time zones; hosts without zoneinfo still know them

	"github.com/telltale-dev/telltale/internal/event"
)

// Config is the organization's risk settings: a weight per indicator, the severity bands and the
// working hours. The zero Config means the defaults (Normalize fills what is missing).
type Config struct {
	Weights      map[string]int `json:"weights"`       // indicator -> weight; 0 turns it off
	Bands        Bands          `json:"bands"`         // the lowest score of each severity
	WorkingHours WorkingHours   `json:"working_hours"` // the organization's default (per person: later)
}

// Bands are the lowest score of each severity; a score below Low is none. Each band starts above
// the one before, so bands never overlap and leave no gap.
type Bands struct {
	Low      int `json:"low"`
	Moderate int `json:"moderate"`
	High     int `json:"high"`
	Critical int `json:"critical"`
}

// WorkingHours are when people are expected to work: from Start to End (24-hour "HH:MM"; an End
// before Start spans midnight) on Days, in the IANA TimeZone.
type WorkingHours struct {
	TimeZone string   `json:"time_zone"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Days     []string `json:"days"` // mon tue wed thu fri sat sun
}

// MaxWeight bounds a weight (a score is a sum of a dozen of them).
const MaxWeight = 100

// defaultWeights are published in docs/RISK.md (TestDocsListDefaults keeps them in step).
var defaultWeights = map[string]int{
	event.IndicatorPublicLink:       4,
	event.IndicatorOrganizationLink: 0,
	event.IndicatorUntrustedDomain:  3,
	event.IndicatorPersonalMail:     3,
	event.IndicatorFirstUse:         2,
	event.IndicatorOffHours:         1,

	event.CategoryIndicator(event.CategoryArchive):      2,
	event.CategoryIndicator(event.CategoryAudio):        0,
	event.CategoryIndicator(event.CategoryDocument):     1,
	event.CategoryIndicator(event.CategoryExecutable):   1,
	event.CategoryIndicator(event.CategoryImage):        0,
	event.CategoryIndicator(event.CategoryPDF):          1,
	event.CategoryIndicator(event.CategoryPresentation): 1,
	event.CategoryIndicator(event.CategoryScript):       2,
	event.CategoryIndicator(event.CategorySourceCode):   3,
	event.CategoryIndicator(event.CategorySpreadsheet):  1,
	event.CategoryIndicator(event.CategoryVideo):        0,
	event.CategoryIndicator(event.CategoryVirtualDisk):  3,
	event.CategoryIndicator(event.CategoryEmail):        2,

	event.WatchlistIndicator(event.WatchlistDepartingEmployee):     3,
	event.WatchlistIndicator(event.WatchlistFlightRisk):            2,
	event.WatchlistIndicator(event.WatchlistContractor):            1,
	event.WatchlistIndicator(event.WatchlistNewHire):               1,
	event.WatchlistIndicator(event.WatchlistElevatedAccess):        1,
	event.WatchlistIndicator(event.WatchlistHighImpact):            1,
	event.WatchlistIndicator(event.WatchlistPerformanceConcerns):   2,
	event.WatchlistIndicator(event.WatchlistPoorSecurityPractices): 2,
	event.WatchlistIndicator(event.WatchlistCustom):                1,
}

// DefaultBands are the reference product's: 1-3 low, 4-6 moderate, 7-8 high, 9+ critical.
var DefaultBands = Bands{Low: 1, Moderate: 4, High: 7, Critical: 9}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} // time.Weekday order

var dayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// DefaultWorkingHours: 08:00 to 18:00, Monday to Friday, UTC.
func DefaultWorkingHours() WorkingHours {
	return WorkingHours{TimeZone: "UTC", Start: "08:00", End: "18:00", Days: []string{"mon", "tue", "wed", "thu", "fri"}}
}

// Defaults returns the default settings.
func Defaults() Config {
	return Config{Weights: maps.Clone(defaultWeights), Bands: DefaultBands, WorkingHours: DefaultWorkingHours()}
}

// DefaultWeight returns an indicator's default weight.
func DefaultWeight(indicator string) int { return defaultWeights[indicator] }

// WithDefaults returns c with what it leaves out taken from the defaults: missing weights, zero
// bands, empty working-hour fields. It does not validate.
func (c Config) WithDefaults() Config {
	out := Config{Weights: maps.Clone(defaultWeights), Bands: c.Bands, WorkingHours: c.WorkingHours}
	maps.Copy(out.Weights, c.Weights)
	if out.Bands == (Bands{}) {
		out.Bands = DefaultBands
	}
	d := DefaultWorkingHours()
	w := &out.WorkingHours
	if strings.TrimSpace(w.TimeZone) == "" {
		w.TimeZone = d.TimeZone
	}
	if strings.TrimSpace(w.Start) == "" {
		w.Start = d.Start
	}
	if strings.TrimSpace(w.End) == "" {
		w.End = d.End
	}
	if len(w.Days) == 0 {
		w.Days = d.Days
	} else {
		w.Days = slices.Clone(w.Days)
	}
	return out
}

// Normalize fills c from the defaults (WithDefaults), validates it and returns it with days
// lower-cased, deduplicated and in week order. The error names every bad value and says what is
// wrong, under the JSON names (risk.weights.off_hours, risk.bands, ...).
func Normalize(c Config) (Config, error) {
	c = c.WithDefaults()
	var errs []error
	known := event.Indicators()
	for _, name := range slices.Sorted(maps.Keys(c.Weights)) {
		w := c.Weights[name]
		switch {
		case !slices.Contains(known, name):
			errs = append(errs, fmt.Errorf("risk.weights.%s: unknown indicator; the indicators are %s", name, strings.Join(known, ", ")))
		case w < 0:
			errs = append(errs, fmt.Errorf("risk.weights.%s: %d is negative; a weight is 0 (off) or more", name, w))
		case w > MaxWeight:
			errs = append(errs, fmt.Errorf("risk.weights.%s: %d is above the largest weight, %d", name, w, MaxWeight))
		}
	}
	b := c.Bands
	if b.Low < 1 {
		errs = append(errs, fmt.Errorf("risk.bands.low: %d; low must start at 1 or more (a score of 0 is none)", b.Low))
	}
	for _, p := range []struct {
		name, prev string
		v, pv      int
	}{{"moderate", "low", b.Moderate, b.Low}, {"high", "moderate", b.High, b.Moderate}, {"critical", "high", b.Critical, b.High}} {
		if p.v <= p.pv {
			errs = append(errs, fmt.Errorf("risk.bands.%s: starts at %d, not above %s (%d): the bands overlap; each band must start above the one before", p.name, p.v, p.prev, p.pv))
		}
	}
	w := &c.WorkingHours
	w.TimeZone = strings.TrimSpace(w.TimeZone)
	if _, err := time.LoadLocation(w.TimeZone); err != nil || w.TimeZone == "Local" {
		errs = append(errs, fmt.Errorf("risk.working_hours.time_zone: %q is not a time zone; use an IANA name such as Europe/Paris or America/New_York, or UTC", w.TimeZone))
	}
	start, okS := parseClock(w.Start)
	if !okS {
		errs = append(errs, fmt.Errorf("risk.working_hours.start: %q is not a time of day such as 08:00", w.Start))
	}
	end, okE := parseClock(w.End)
	if !okE {
		errs = append(errs, fmt.Errorf("risk.working_hours.end: %q is not a time of day such as 18:00", w.End))
	}
	if okS && okE && start == end {
		errs = append(errs, fmt.Errorf("risk.working_hours: start and end are both %s; working hours must not be empty (an end before the start spans midnight)", w.Start))
	}
	if okS {
		w.Start = formatClock(start)
	}
	if okE {
		w.End = formatClock(end)
	}
	var days []string
	for _, d := range w.Days {
		n := strings.ToLower(strings.TrimSpace(d))
		if i := slices.Index(dayNames, n); i >= 0 {
			n = weekdays[i] // monday -> mon
		}
		if !slices.Contains(weekdays, n) {
			errs = append(errs, fmt.Errorf("risk.working_hours.days: %q is not a day; use mon, tue, wed, thu, fri, sat, sun", d))
			continue
		}
		if !slices.Contains(days, n) {
			days = append(days, n)
		}
	}
	// week order, Monday first
	slices.SortFunc(days, func(a, b string) int { return weekIndex(a) - weekIndex(b) })
	w.Days = days
	return c, errors.Join(errs...)
}

func weekIndex(d string) int { return (slices.Index(weekdays, d) + 6) % 7 }

// parseClock reads "HH:MM" (or "H:MM") as minutes after midnight.
func parseClock(s string) (int, bool) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

func formatClock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// Severity returns the band of a score.
func (b Bands) Severity(score int) event.Severity {
	switch {
	case score >= b.Critical:
		return event.SeverityCritical
	case score >= b.High:
		return event.SeverityHigh
	case score >= b.Moderate:
		return event.SeverityModerate
	case score >= b.Low:
		return event.SeverityLow
	}
	return event.SeverityNone
}
