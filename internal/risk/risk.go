// Package risk owns the risk of a file event (issue 16, docs/RISK.md): the indicators, their
// weights, the severity bands, trust, and the scoring that ingest applies to every event it
// stores. It is pure: the one lookup it needs (has this person used this destination before?) is
// the caller's, through Destinations and the firstUse argument of Assess.
package risk

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// Scorer assesses events with one organization's settings. Build one per page of events.
type Scorer struct {
	cfg        Config
	loc        *time.Location
	start, end int // minutes after midnight
	days       [7]bool
	trusted    []string
	watchlists func(person string) []string
	recipients map[string]TrustEntry // trusted activities (WithTrust)
	drives     map[string]TrustEntry
	tenants    map[string]TrustEntry // service + "\x00" + tenant id
}

// WithWatchlists makes the scorer add, to every scored event, one indicator per type of watchlist
// its actor is on: f returns those types for a lower-case address (internal/watchlist's Set.Types).
func (s *Scorer) WithWatchlists(f func(person string) []string) *Scorer {
	s.watchlists = f
	return s
}

// NewScorer validates c (see Normalize) and prepares it; trusted are the trusted domains.
func NewScorer(c Config, trusted []string) (*Scorer, error) {
	c, err := Normalize(c)
	if err != nil {
		return nil, err
	}
	s := &Scorer{cfg: c, trusted: trusted}
	s.loc, _ = time.LoadLocation(c.WorkingHours.TimeZone)
	s.start, _ = parseClock(c.WorkingHours.Start)
	s.end, _ = parseClock(c.WorkingHours.End)
	for _, d := range c.WorkingHours.Days {
		s.days[slices.Index(weekdays, d)] = true
	}
	return s, nil
}

// Config returns the settings the scorer applies.
func (s *Scorer) Config() Config { return s.cfg }

// TrustedBy returns the trusted domain covering an address or a domain ("" when none does): a
// trusted domain covers itself and its subdomains.
func TrustedBy(trusted []string, addrOrDomain string) string {
	d := domainOf(addrOrDomain)
	for _, t := range trusted {
		if d == t || strings.HasSuffix(d, "."+t) {
			return t
		}
	}
	return ""
}

func domainOf(addrOrDomain string) string {
	d := strings.ToLower(strings.TrimSpace(addrOrDomain))
	if i := strings.LastIndexByte(d, '@'); i >= 0 {
		d = d[i+1:]
	}
	return d
}

// personalMail are the domains of free personal mailboxes (docs/RISK.md lists them).
var personalMail = slices.Sorted(slices.Values([]string{
	"aol.com", "fastmail.com", "gmail.com", "gmx.com", "gmx.de", "gmx.net", "googlemail.com", "hey.com",
	"hotmail.com", "hotmail.co.uk", "hotmail.fr", "icloud.com", "live.com", "mail.com", "mail.ru", "me.com",
	"msn.com", "outlook.com", "pm.me", "proton.me", "protonmail.com", "qq.com", "tutanota.com", "web.de",
	"yahoo.com", "yahoo.co.uk", "yahoo.fr", "yandex.com", "yandex.ru", "zoho.com",
}))

// PersonalMailDomains lists the personal-mail domains, sorted.
func PersonalMailDomains() []string { return slices.Clone(personalMail) }

// PersonalMail reports whether an address or domain is at a personal-mail provider.
func PersonalMail(addrOrDomain string) bool {
	_, ok := slices.BinarySearch(personalMail, domainOf(addrOrDomain))
	return ok
}

// sends reports whether an event's action sends the file somewhere: its destinations are judged.
func sends(a event.Action) bool { return a == event.ActionShared || a == event.ActionEmailed }

// destinations is what an event's destinations are, judged against the settings.
type destinations struct {
	public, org bool     // a public link; an organization link weighted as risky
	untrusted   []string // addresses outside the trusted domains (lower case, in order)
	personal    []string // those at personal-mail domains
	trustedBy   []string // the trusted domains covering the other addresses
	entries     []string // the trusted activities covering the rest, as the trust reason names them
	judged      int      // destinations judged: links and addresses (a group is none)
}

func (d destinations) risky() bool { return d.public || d.org || len(d.untrusted) > 0 }

func (s *Scorer) destinations(e *event.FileEvent) destinations {
	var d destinations
	switch e.Sharing.LinkScope {
	case event.LinkAnyone:
		d.public, d.judged = true, d.judged+1
	case event.LinkOrganization:
		if s.cfg.Weights[event.IndicatorOrganizationLink] > 0 {
			d.org, d.judged = true, d.judged+1
		}
	}
	seen := map[string]bool{}
	for _, a := range slices.Concat(e.Sharing.SharedWith, e.Email.Recipients) {
		a = strings.ToLower(strings.TrimSpace(a))
		if !strings.Contains(a, "@") && !seen[a] {
			// A group ("group:Sales") is inside the organization; a domain shared with as a whole
			// counts when it is a trusted partner's tenant.
			if t, ok := s.tenantEntry(e, a); ok {
				seen[a] = true
				d.judged++
				if l := t.label(); !slices.Contains(d.entries, l) {
					d.entries = append(d.entries, l)
				}
			}
			continue
		}
		if seen[a] {
			continue
		}
		seen[a] = true
		d.judged++
		if t := TrustedBy(s.trusted, a); t != "" {
			if !slices.Contains(d.trustedBy, t) {
				d.trustedBy = append(d.trustedBy, t)
			}
			continue
		}
		if t, ok := s.trustEntry(e, a); ok {
			if l := t.label(); !slices.Contains(d.entries, l) {
				d.entries = append(d.entries, l)
			}
			continue
		}
		d.untrusted = append(d.untrusted, a)
		if PersonalMail(a) {
			d.personal = append(d.personal, a)
		}
	}
	return d
}

// trustEntry returns the trusted activity covering address a of e: the recipient itself, the
// shared drive e's file is in, or the partner tenant the record places a in.
func (s *Scorer) trustEntry(e *event.FileEvent, a string) (TrustEntry, bool) {
	if t, ok := s.recipients[a]; ok {
		return t, true
	}
	if e.File.DriveID != "" {
		if t, ok := s.drives[e.File.DriveID]; ok {
			return t, true
		}
	}
	return s.tenantEntry(e, a)
}

// tenantEntry returns the trusted tenant destination a of e is in, when e's record names its
// tenant (sharing.tenants) and an entry of e's service trusts it.
func (s *Scorer) tenantEntry(e *event.FileEvent, a string) (TrustEntry, bool) {
	if len(s.tenants) == 0 {
		return TrustEntry{}, false
	}
	svc := tenantService(e.Event.Observer)
	for _, t := range e.Sharing.Tenants {
		if strings.EqualFold(strings.TrimSpace(t.To), a) {
			if x, ok := s.tenants[svc+"\x00"+strings.ToLower(strings.TrimSpace(t.Tenant))]; ok {
				return x, true
			}
		}
	}
	return TrustEntry{}, false
}

// Person is the key of an event's actor for first use: the lower-case address ("" when unknown).
func Person(e *event.FileEvent) string { return strings.ToLower(strings.TrimSpace(e.User.Email)) }

// Destinations returns the keys of e's untrusted destinations, whose first use by e's actor is an
// indicator: the domain of an address outside the trusted domains, or the whole address at a
// personal-mail domain (gmail.com says nothing about whose mailbox it is). Nil when e sends
// nothing, has no actor, or first use weighs 0. The caller records them per person and passes
// those never seen before to Assess.
func (s *Scorer) Destinations(e *event.FileEvent) []string {
	if !sends(e.Event.Action) || Person(e) == "" || s.cfg.Weights[event.IndicatorFirstUse] == 0 {
		return nil
	}
	var keys []string
	for _, a := range s.destinations(e).untrusted {
		k := domainOf(a)
		if PersonalMail(a) {
			k = a
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// Assess returns e's risk. firstUse are the keys of Destinations that e's actor uses for the first
// time with this event.
//
// Only events that move a file out are scored: a share or an e-mail with an untrusted
// destination, and a download. A share or e-mail whose destinations are all in trusted domains is
// trusted and scores 0; any other event scores 0 (severity none).
func (s *Scorer) Assess(e *event.FileEvent, firstUse []string) event.Risk {
	r := event.Risk{Severity: event.SeverityNone}
	add := func(indicator, why string) {
		w := s.cfg.Weights[indicator]
		if w == 0 {
			return
		}
		r.Score += w
		r.Indicators = append(r.Indicators, indicator)
		r.Reasons = append(r.Reasons, event.Reason{Indicator: indicator, Weight: w, Why: why})
	}
	switch {
	case sends(e.Event.Action):
		d := s.destinations(e)
		if !d.risky() {
			switch {
			case d.judged == 0:
			case len(d.entries) == 0 && len(d.trustedBy) > 0:
				r.Trusted = true
				r.TrustReason = "every destination is in a trusted domain (" + strings.Join(d.trustedBy, ", ") + ")"
			case len(d.entries) > 0:
				r.Trusted = true
				by := slices.Clone(d.entries)
				if len(d.trustedBy) > 0 {
					by = append(by, "the trusted domains "+strings.Join(d.trustedBy, ", "))
				}
				r.TrustReason = "every destination is trusted: " + strings.Join(by, "; ")
			}
			return r
		}
		verb := "shared with"
		if e.Event.Action == event.ActionEmailed {
			verb = "sent to"
		}
		if d.public {
			add(event.IndicatorPublicLink, "a link anyone who has it can open")
		}
		if d.org {
			add(event.IndicatorOrganizationLink, "a link anyone in the organization can open")
		}
		if len(d.untrusted) > 0 {
			add(event.IndicatorUntrustedDomain, verb+" "+list(d.untrusted)+", outside the trusted domains")
		}
		if len(d.personal) > 0 {
			add(event.IndicatorPersonalMail, verb+" "+list(d.personal)+", a personal-mail address")
		}
		if len(firstUse) > 0 {
			add(event.IndicatorFirstUse, "the first time this person shared or sent to "+list(firstUse))
		}
	case e.Event.Action == event.ActionDownloaded:
	default:
		return r
	}
	if why, off := s.offHours(e.Timestamp); off {
		add(event.IndicatorOffHours, why)
	}
	if c := e.File.Category; c != "" {
		if i := event.CategoryIndicator(c); i != "" {
			add(i, "a "+strings.ReplaceAll(string(c), "_", " ")+" file")
		}
	}
	if p := Person(e); p != "" && s.watchlists != nil {
		for _, t := range s.watchlists(p) {
			if i := event.WatchlistIndicator(t); i != "" {
				add(i, "the person is on a "+strings.ReplaceAll(t, "_", " ")+" watchlist")
			}
		}
	}
	r.Severity = s.cfg.Bands.Severity(r.Score)
	return r
}

// offHours reports whether t is outside the working hours, and says when it was.
func (s *Scorer) offHours(t time.Time) (string, bool) {
	if t.IsZero() {
		return "", false
	}
	lt := t.In(s.loc)
	m := lt.Hour()*60 + lt.Minute()
	day := int(lt.Weekday())
	var in bool
	if s.start < s.end {
		in = s.days[day] && m >= s.start && m < s.end
	} else {
		// a shift over midnight belongs to the day it starts on
		in = s.days[day] && m >= s.start || s.days[(day+6)%7] && m < s.end
	}
	if in {
		return "", false
	}
	w := s.cfg.WorkingHours
	return fmt.Sprintf("%s %s in %s; working hours are %s-%s %s", weekdays[day], lt.Format("15:04"), w.TimeZone, w.Start, w.End, strings.Join(w.Days, " ")), true
}

// list names up to three items and counts the rest.
func list(xs []string) string {
	if len(xs) <= 3 {
		return strings.Join(xs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(xs[:3], ", "), len(xs)-3)
}
