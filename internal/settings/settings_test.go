package settings

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/store"
)

func TestNormalize(t *testing.T) {
	got, err := Normalize(Settings{TrustedDomains: []string{" Corp.COM ", "*.corp.io", "@subsidiary.example", "corp.com"}, RetentionDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"corp.com", "corp.io", "subsidiary.example"}, got.TrustedDomains); diff != "" {
		t.Error(diff)
	}
	_, err = Normalize(Settings{TrustedDomains: []string{"localhost", "bad_domain.com", "ok.com", "exämple.com"}, RetentionDays: 0})
	for _, want := range []string{`trusted_domains[0] "localhost"`, `trusted_domains[1] "bad_domain.com"`, `trusted_domains[3]`, "punycode", "retention_days: want 1 to 3650"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestTrusted(t *testing.T) {
	s := Settings{TrustedDomains: []string{"corp.com"}}
	for in, want := range map[string]bool{"bob@corp.com": true, "a@eu.corp.com": true, "x@notcorp.com": false, "corp.com": true, "x@gmail.com": false} {
		if s.Trusted(in) != want {
			t.Errorf("Trusted(%q) != %v", in, want)
		}
	}
}

// TestRiskValidation: risk settings are validated with the rest, and every bad value is named.
func TestRiskValidation(t *testing.T) {
	_, err := Normalize(Settings{TrustedDomains: []string{"corp.com"}, RetentionDays: 30, Risk: risk.Config{
		Weights: map[string]int{"off_hours": -2},
		Bands:   risk.Bands{Low: 1, Moderate: 5, High: 5, Critical: 9},
	}})
	for _, want := range []string{"risk.weights.off_hours: -2 is negative", "risk.bands.high: starts at 5, not above moderate (5): the bands overlap"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	got, err := Normalize(Settings{TrustedDomains: []string{}, RetentionDays: 30})
	if err != nil || !cmp.Equal(got.Risk, risk.Defaults()) {
		t.Errorf("no risk settings: %+v %v, want the defaults", got.Risk, err)
	}
}

type memSettings map[string][]byte

func (m memSettings) GetSetting(_ context.Context, k string) ([]byte, error) {
	if b, ok := m[k]; ok {
		return b, nil
	}
	return nil, store.ErrNotFound
}

func (m memSettings) PutSetting(_ context.Context, k string, v []byte) error { m[k] = v; return nil }

// TestLoadRisk: stored risk settings are read back; an indicator they do not name (added by a
// later version) gets its default weight; nothing stored means the defaults.
func TestLoadRisk(t *testing.T) {
	ctx := context.Background()
	s, err := Load(ctx, memSettings{}, 90)
	if err != nil || !cmp.Equal(s.Risk, risk.Defaults()) {
		t.Fatalf("nothing stored: %+v %v", s.Risk, err)
	}
	m := memSettings{"risk": []byte(`{"weights":{"public_link":7},"bands":{"low":2,"moderate":4,"high":6,"critical":8},"working_hours":{"time_zone":"Europe/Paris","start":"09:00","end":"17:00","days":["mon"]}}`)}
	s, err = Load(ctx, m, 90)
	if err != nil {
		t.Fatal(err)
	}
	want := risk.Defaults()
	want.Weights["public_link"] = 7
	want.Bands = risk.Bands{Low: 2, Moderate: 4, High: 6, Critical: 8}
	want.WorkingHours = risk.WorkingHours{TimeZone: "Europe/Paris", Start: "09:00", End: "17:00", Days: []string{"mon"}}
	if diff := cmp.Diff(want, s.Risk); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
}
