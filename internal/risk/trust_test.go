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
	for _, want := range []string{`trusted_activities[0].kind "domain": use recipient or shared_drive`, `trusted_activities[1].value "not-an-address": not an e-mail address`,
		"trusted_activities[2].reason: say why", "trusted_activities[3].value: a shared drive's id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	got, err := NormalizeTrust([]TrustEntry{{Kind: TrustSharedDrive, Value: "d1", Reason: "r"}, {Kind: " recipient ", Value: "B@X.example", Reason: " r "},
		{Kind: TrustRecipient, Value: "b@x.example", Reason: "again"}})
	if err != nil || len(got) != 2 || got[0] != (TrustEntry{TrustRecipient, "b@x.example", "r"}) || got[1].Kind != TrustSharedDrive {
		t.Errorf("normalized %+v, %v", got, err)
	}
}
