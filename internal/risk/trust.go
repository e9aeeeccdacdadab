package risk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Trusted activities beyond domains (R6.5, docs/RISK.md "Trust"): a specific recipient, or a
// shared drive whose files' destinations are trusted. Each entry says why.
const (
	TrustRecipient   = "recipient"    // an address (exact, case-insensitive)
	TrustSharedDrive = "shared_drive" // a drive id as events carry it (file.drive_id)
)

// MaxTrustEntries bounds the trusted activities.
const MaxTrustEntries = 1000

// TrustEntry is one trusted activity.
type TrustEntry struct {
	Kind   string `json:"kind"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// label is how an event's trust reason names the entry.
func (t TrustEntry) label() string {
	switch t.Kind {
	case TrustRecipient:
		return "the trusted recipient " + t.Value + " (" + t.Reason + ")"
	}
	return "the trusted shared drive " + t.Value + " (" + t.Reason + ")"
}

// NormalizeTrust validates entries and returns them trimmed (recipients in lower case), without
// repeats, in order of kind and value. The error names every bad entry (trusted_activities[i]).
func NormalizeTrust(entries []TrustEntry) ([]TrustEntry, error) {
	var errs []error
	out := []TrustEntry{}
	if len(entries) > MaxTrustEntries {
		return nil, fmt.Errorf("trusted_activities: %d entries; at most %d", len(entries), MaxTrustEntries)
	}
	for i, t := range entries {
		t.Kind, t.Value, t.Reason = strings.TrimSpace(t.Kind), strings.TrimSpace(t.Value), strings.TrimSpace(t.Reason)
		at := fmt.Sprintf("trusted_activities[%d]", i)
		switch t.Kind {
		case TrustRecipient:
			t.Value = strings.ToLower(t.Value)
			if at := strings.LastIndexByte(t.Value, '@'); at <= 0 || at == len(t.Value)-1 || strings.ContainsAny(t.Value, " \t,;<>") {
				errs = append(errs, fmt.Errorf("trusted_activities[%d].value %q: not an e-mail address such as ann@partner.example", i, t.Value))
				continue
			}
		case TrustSharedDrive:
			if t.Value == "" || len(t.Value) > 200 {
				errs = append(errs, fmt.Errorf("%s.value: a shared drive's id (file.drive_id of its events, 1 to 200 characters)", at))
				continue
			}
		default:
			errs = append(errs, fmt.Errorf("%s.kind %q: use recipient or shared_drive (a domain goes in trusted_domains)", at, t.Kind))
			continue
		}
		if t.Reason == "" || len(t.Reason) > 500 {
			errs = append(errs, fmt.Errorf("%s.reason: say why it is trusted (1 to 500 characters), e.g. \"NDA with Partner, ticket SEC-12\"", at))
			continue
		}
		if !slices.ContainsFunc(out, func(o TrustEntry) bool { return o.Kind == t.Kind && o.Value == t.Value }) {
			out = append(out, t)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b TrustEntry) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out, nil
}

// WithTrust makes the scorer trust the given activities besides the trusted domains.
func (s *Scorer) WithTrust(entries []TrustEntry) *Scorer {
	s.recipients, s.drives = map[string]TrustEntry{}, map[string]TrustEntry{}
	for _, t := range entries {
		switch t.Kind {
		case TrustRecipient:
			s.recipients[strings.ToLower(t.Value)] = t
		case TrustSharedDrive:
			s.drives[t.Value] = t
		}
	}
	return s
}
