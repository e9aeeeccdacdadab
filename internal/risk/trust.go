package risk

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/telltale-dev/telltale/internal/event"
)

// Trusted activities beyond domains (R6.5, docs/RISK.md "Trust"): a specific recipient, a shared
// drive whose files' destinations are trusted, or a partner's tenant at a service. Each entry says
// why.
const (
	TrustRecipient   = "recipient"    // an address (exact, case-insensitive)
	TrustSharedDrive = "shared_drive" // a drive id as events carry it (file.drive_id)
	TrustTenant      = "tenant"       // a tenant id at Service as events carry it (sharing.tenants)
)

// Tenant services: the vendor whose tenant ids a tenant entry names.
const (
	ServiceBox       = "box"       // a Box enterprise id
	ServiceGoogle    = "google"    // a Google Workspace domain
	ServiceMicrosoft = "microsoft" // a Microsoft tenant id
)

// TenantServices lists the services a tenant entry may name.
func TenantServices() []string { return []string{ServiceBox, ServiceGoogle, ServiceMicrosoft} }

// tenantService is the service whose tenants an event's destinations are in.
func tenantService(o event.Observer) string {
	switch o {
	case event.ObserverBox:
		return ServiceBox
	case event.ObserverGoogleDrive, event.ObserverGmail:
		return ServiceGoogle
	case event.ObserverOneDrive, event.ObserverMicrosoft365Mail:
		return ServiceMicrosoft
	}
	return ""
}

// MaxTrustEntries bounds the trusted activities.
const MaxTrustEntries = 1000

// TrustEntry is one trusted activity.
type TrustEntry struct {
	Kind    string `json:"kind"`
	Service string `json:"service,omitempty"` // tenant entries: box, google or microsoft
	Value   string `json:"value"`
	Reason  string `json:"reason"`
}

// label is how an event's trust reason names the entry.
func (t TrustEntry) label() string {
	switch t.Kind {
	case TrustRecipient:
		return "the trusted recipient " + t.Value + " (" + t.Reason + ")"
	case TrustTenant:
		return "the trusted " + t.Service + " tenant " + t.Value + " (" + t.Reason + ")"
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
		t.Service = strings.ToLower(strings.TrimSpace(t.Service))
		at := fmt.Sprintf("trusted_activities[%d]", i)
		if t.Service != "" && t.Kind != TrustTenant {
			errs = append(errs, fmt.Errorf("%s.service: only a tenant entry names a service; leave it out for %s", at, t.Kind))
			continue
		}
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
		case TrustTenant:
			if !slices.Contains(TenantServices(), t.Service) {
				errs = append(errs, fmt.Errorf("%s.service %q: a tenant is at one of %s", at, t.Service, strings.Join(TenantServices(), ", ")))
				continue
			}
			t.Value = strings.ToLower(t.Value)
			if t.Value == "" || len(t.Value) > 200 || strings.ContainsAny(t.Value, " \t,;<>@") {
				errs = append(errs, fmt.Errorf("%s.value %q: the partner's tenant id as events carry it (sharing.tenants, searchable as tenant:): a Google Workspace domain such as partner.example, a Box enterprise id, a Microsoft tenant id; 1 to 200 characters, no spaces", at, t.Value))
				continue
			}
		default:
			errs = append(errs, fmt.Errorf("%s.kind %q: use recipient, shared_drive or tenant (a domain goes in trusted_domains)", at, t.Kind))
			continue
		}
		if t.Reason == "" || len(t.Reason) > 500 {
			errs = append(errs, fmt.Errorf("%s.reason: say why it is trusted (1 to 500 characters), e.g. \"NDA with Partner, ticket SEC-12\"", at))
			continue
		}
		if !slices.ContainsFunc(out, func(o TrustEntry) bool { return o.Kind == t.Kind && o.Service == t.Service && o.Value == t.Value }) {
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
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out, nil
}

// WithTrust makes the scorer trust the given activities besides the trusted domains.
func (s *Scorer) WithTrust(entries []TrustEntry) *Scorer {
	s.recipients, s.drives, s.tenants = map[string]TrustEntry{}, map[string]TrustEntry{}, map[string]TrustEntry{}
	for _, t := range entries {
		switch t.Kind {
		case TrustRecipient:
			s.recipients[strings.ToLower(t.Value)] = t
		case TrustSharedDrive:
			s.drives[t.Value] = t
		case TrustTenant:
			s.tenants[t.Service+"\x00"+strings.ToLower(t.Value)] = t
		}
	}
	return s
}
