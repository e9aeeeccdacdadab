package risk

import (
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// TestTrustedActivities: a trusted recipient or a trusted shared drive covers a destination as a
// trusted domain does; an event is trusted only when every destination is covered, and its trust
// reason names the entries (and domains) that made it so. A public link is never trusted.
func TestTrustedActivities(t *testing.T) {
	entries, err := NormalizeTrust([]TrustEntry{
		{Kind: TrustRecipient, Value: " Ann@Ally.Example ", Reason: "NDA, ticket SEC-12"},
		{Kind: TrustSharedDrive, Value: "0AFdrive", Reason: "the joint venture's drive"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := scorer(t, Config{}).WithTrust(entries)
	off := tue.Add(-8 * time.Hour)
	inDrive := func(with ...string) func(*event.FileEvent) {
		return func(e *event.FileEvent) { e.Sharing.SharedWith, e.File.DriveID = with, "0AFdrive" }
	}
	for _, tc := range []struct {
		name    string
		e       *event.FileEvent
		trusted bool
		reason  []string // parts the trust reason names
		score   int
	}{
		{"a trusted recipient", ev(event.ActionShared, off, share("ann@ally.example")), true,
			[]string{"the trusted recipient ann@ally.example (NDA, ticket SEC-12)"}, 0},
		{"a trusted recipient by e-mail, in another case", ev(event.ActionEmailed, off, func(e *event.FileEvent) { e.Email.Recipients = []string{"ANN@ally.example"} }), true,
			[]string{"ann@ally.example"}, 0},
		{"a trusted recipient and a trusted domain", ev(event.ActionShared, off, share("ann@ally.example", "b@corp.example")), true,
			[]string{"the trusted recipient ann@ally.example", "the trusted domains corp.example"}, 0},
		{"a trusted recipient and an untrusted one", ev(event.ActionShared, off, share("ann@ally.example", "bob@ally.example")), false, nil, 3 + 1},
		{"the other person at the recipient's domain", ev(event.ActionShared, off, share("bob@ally.example")), false, nil, 3 + 1},
		{"anyone, from a trusted shared drive", ev(event.ActionShared, off, inDrive("x@vendor.example", "y@gmail.com")), true,
			[]string{"the trusted shared drive 0AFdrive (the joint venture's drive)"}, 0},
		{"a public link from a trusted shared drive", ev(event.ActionShared, off, func(e *event.FileEvent) {
			e.Sharing.LinkScope, e.File.DriveID = event.LinkAnyone, "0AFdrive"
		}), false, nil, 4 + 1},
		{"another drive", ev(event.ActionShared, off, func(e *event.FileEvent) { e.Sharing.SharedWith, e.File.DriveID = []string{"x@vendor.example"}, "other" }), false, nil, 3 + 1},
	} {
		r := s.Assess(tc.e, nil)
		if r.Trusted != tc.trusted || r.Score != tc.score {
			t.Errorf("%s: trusted %v score %d (%q), want %v %d", tc.name, r.Trusted, r.Score, r.TrustReason, tc.trusted, tc.score)
		}
		for _, part := range tc.reason {
			if !strings.Contains(r.TrustReason, part) {
				t.Errorf("%s: trust reason %q does not name %q", tc.name, r.TrustReason, part)
			}
		}
		if !tc.trusted && r.TrustReason != "" {
			t.Errorf("%s: an untrusted event has a trust reason %q", tc.name, r.TrustReason)
		}
	}
	// A destination a trusted activity covers is not a first use.
	if keys := s.Destinations(ev(event.ActionShared, off, share("ann@ally.example", "bob@ally.example"))); len(keys) != 1 || keys[0] != "ally.example" {
		t.Errorf("first-use keys %v, want ally.example for bob only", keys)
	}
}

// TestNormalizeTrust: bad entries are refused naming each and saying what to write; good ones
// are trimmed, lower-cased (recipients), deduplicated and sorted.
func TestNormalizeTrust(t *testing.T) {
	_, err := NormalizeTrust([]TrustEntry{
		{Kind: "domain", Value: "ally.example", Reason: "x"},
		{Kind: TrustRecipient, Value: "not-an-address", Reason: "x"},
		{Kind: TrustRecipient, Value: "a@b.example"},
		{Kind: TrustSharedDrive, Value: "", Reason: "x"},
	})
	for _, want := range []string{`trusted_activities[0].kind "domain": use recipient, shared_drive or tenant`, `trusted_activities[1].value "not-an-address": not an e-mail address`,
		"trusted_activities[2].reason: say why", "trusted_activities[3].value: a shared drive's id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	got, err := NormalizeTrust([]TrustEntry{{Kind: TrustSharedDrive, Value: "d1", Reason: "r"}, {Kind: " recipient ", Value: "B@X.example", Reason: " r "},
		{Kind: TrustRecipient, Value: "b@x.example", Reason: "again"}})
	if err != nil || len(got) != 2 || got[0] != (TrustEntry{Kind: TrustRecipient, Value: "b@x.example", Reason: "r"}) || got[1].Kind != TrustSharedDrive {
		t.Errorf("normalized %+v, %v", got, err)
	}
}

// TestTrustedTenants (R6.5): a partner's tenant at a service trusts the destinations an event's
// record places in it (sharing.tenants), at that service only; an event is trusted when every
// destination is covered (with trusted domains and other entries), and the reason names the entry.
// A destination whose tenant the record does not name is judged as before. Bad entries are refused.
func TestTrustedTenants(t *testing.T) {
	entries, err := NormalizeTrust([]TrustEntry{
		{Kind: TrustTenant, Service: " Google ", Value: "JV.Example", Reason: "joint venture, contract JV-7"},
		{Kind: TrustTenant, Service: "box", Value: "11446498", Reason: "outsourced payroll"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if entries[1] != (TrustEntry{Kind: TrustTenant, Service: ServiceGoogle, Value: "jv.example", Reason: "joint venture, contract JV-7"}) {
		t.Fatalf("normalized %+v", entries)
	}
	s := scorer(t, Config{}).WithTrust(entries)
	off := tue.Add(-8 * time.Hour)
	in := func(obs event.Observer, with []string, tenants ...event.DestinationTenant) func(*event.FileEvent) {
		return func(e *event.FileEvent) {
			e.Event.Observer, e.Sharing.SharedWith, e.Sharing.Tenants = obs, with, tenants
		}
	}
	partner := event.DestinationTenant{To: "jv.example", Tenant: "jv.example"}
	for _, tc := range []struct {
		name    string
		e       *event.FileEvent
		trusted bool
		score   int
	}{
		{"a Google domain share to the partner's Workspace", ev(event.ActionShared, off, in(event.ObserverGoogleDrive, []string{"jv.example"}, partner)), true, 0},
		{"an address the record places in the partner's tenant", ev(event.ActionShared, off, in(event.ObserverGoogleDrive, []string{"ann@jv.example"},
			event.DestinationTenant{To: "Ann@Jv.example", Tenant: "JV.example"})), true, 0},
		{"the same address, its tenant not named", ev(event.ActionShared, off, in(event.ObserverGoogleDrive, []string{"ann@jv.example"})), false, 3 + 1},
		{"the partner's tenant and an untrusted address", ev(event.ActionShared, off, in(event.ObserverGoogleDrive, []string{"jv.example", "x@vendor.example"}, partner)), false, 3 + 1},
		{"the tenant id at another service", ev(event.ActionShared, off, in(event.ObserverOneDrive, []string{"ann@jv.example"},
			event.DestinationTenant{To: "ann@jv.example", Tenant: "jv.example"})), false, 3 + 1},
		{"a Box enterprise", ev(event.ActionShared, off, in(event.ObserverBox, []string{"pay@payroll.example"},
			event.DestinationTenant{To: "pay@payroll.example", Tenant: "11446498"})), true, 0},
	} {
		r := s.Assess(tc.e, nil)
		if r.Trusted != tc.trusted || r.Score != tc.score {
			t.Errorf("%s: trusted %v score %d (%q), want %v %d", tc.name, r.Trusted, r.Score, r.TrustReason, tc.trusted, tc.score)
		}
		if tc.trusted && !strings.Contains(r.TrustReason, " tenant ") {
			t.Errorf("%s: trust reason %q does not name the tenant entry", tc.name, r.TrustReason)
		}
	}
	if r := s.Assess(ev(event.ActionShared, off, in(event.ObserverGoogleDrive, []string{"jv.example"}, partner)), nil); r.TrustReason !=
		"every destination is trusted: the trusted google tenant jv.example (joint venture, contract JV-7)" {
		t.Errorf("reason %q", r.TrustReason)
	}
	_, err = NormalizeTrust([]TrustEntry{
		{Kind: TrustTenant, Service: "dropbox", Value: "x", Reason: "r"},
		{Kind: TrustTenant, Service: "google", Value: "", Reason: "r"},
		{Kind: TrustRecipient, Service: "google", Value: "a@b.example", Reason: "r"},
		{Kind: TrustTenant, Service: "microsoft", Value: "a b", Reason: "r"},
	})
	for _, want := range []string{`trusted_activities[0].service "dropbox": a tenant is at one of box, google, microsoft`,
		`trusted_activities[1].value "": the partner's tenant id`, "trusted_activities[2].service: only a tenant entry names a service",
		`trusted_activities[3].value "a b"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
