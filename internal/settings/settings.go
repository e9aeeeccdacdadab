// Package settings holds the organization-wide settings kept in the store: trusted domains (R6.5,
// used to mark sharing outside the company), the retention of deauthorized connections (R1.8) and
// the risk settings (weights, severity bands, working hours: internal/risk, docs/RISK.md).
// It validates them once, for the API, the console and the CLI alike.
package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/store"
)

// Settings are the organization-wide settings.
type Settings struct {
	TrustedDomains []string // lower-case domain names; a domain also trusts its subdomains
	RetentionDays  int
	Risk           risk.Config // zero: the defaults (Save stores them in full)
	// TrustedActivities are trusted recipients and shared drives, each with a reason (R6.5).
	TrustedActivities []risk.TrustEntry
}

// Keys in the settings table.
const (
	keyTrustedDomains = "trusted_domains"
	keyRetentionDays  = "retention_days"
	keyRisk           = "risk"
	keyTrustActivity  = "trusted_activities"
)

// Limits of the retention setting, in days.
const (
	MinRetentionDays = 1
	MaxRetentionDays = 3650
)

// Load reads the settings, using defaultRetentionDays when none is stored.
func Load(ctx context.Context, q store.SettingQueries, defaultRetentionDays int) (Settings, error) {
	s := Settings{TrustedDomains: []string{}, RetentionDays: defaultRetentionDays, TrustedActivities: []risk.TrustEntry{}}
	if err := get(ctx, q, keyTrustedDomains, &s.TrustedDomains); err != nil {
		return s, err
	}
	if err := get(ctx, q, keyRetentionDays, &s.RetentionDays); err != nil {
		return s, err
	}
	if err := get(ctx, q, keyRisk, &s.Risk); err != nil {
		return s, err
	}
	if err := get(ctx, q, keyTrustActivity, &s.TrustedActivities); err != nil {
		return s, err
	}
	// an indicator added since the settings were saved gets its default weight
	s.Risk = s.Risk.WithDefaults()
	return s, nil
}

func get(ctx context.Context, q store.SettingQueries, key string, v any) error {
	b, err := q.GetSetting(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("settings: %s: %w", key, err)
	}
	return nil
}

// Retention returns the retention as a duration.
func (s Settings) Retention() time.Duration { return time.Duration(s.RetentionDays) * 24 * time.Hour }

// Normalize validates s and returns it with domains trimmed, lower-cased, deduplicated and sorted.
// The error names every bad value.
func Normalize(s Settings) (Settings, error) {
	var errs []error
	out := Settings{RetentionDays: s.RetentionDays, TrustedDomains: []string{}}
	r, err := risk.Normalize(s.Risk)
	if err != nil {
		errs = append(errs, err)
	}
	out.Risk = r
	if out.TrustedActivities, err = risk.NormalizeTrust(s.TrustedActivities); err != nil {
		errs = append(errs, err)
	}
	for i, d := range s.TrustedDomains {
		n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		n = strings.TrimPrefix(n, "*.")
		n = strings.TrimPrefix(n, "@")
		if err := checkDomain(n); err != nil {
			errs = append(errs, fmt.Errorf("trusted_domains[%d] %q: %v", i, d, err))
			continue
		}
		if !slices.Contains(out.TrustedDomains, n) {
			out.TrustedDomains = append(out.TrustedDomains, n)
		}
	}
	slices.Sort(out.TrustedDomains)
	if s.RetentionDays < MinRetentionDays || s.RetentionDays > MaxRetentionDays {
		errs = append(errs, fmt.Errorf("retention_days: want %d to %d days, got %d", MinRetentionDays, MaxRetentionDays, s.RetentionDays))
	}
	return out, errors.Join(errs...)
}

func checkDomain(d string) error {
	if d == "" {
		return errors.New("is empty")
	}
	if len(d) > 253 {
		return errors.New("is longer than 253 characters")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return errors.New("is not a domain name such as example.com")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return errors.New("is not a domain name such as example.com")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("has the character %q; use the ASCII (punycode) form of the domain", r)
			}
		}
	}
	return nil
}

// Save validates and stores s; a bad value changes nothing.
func Save(ctx context.Context, st store.Store, s Settings) (Settings, error) {
	n, err := Normalize(s)
	if err != nil {
		return Settings{}, err
	}
	td, _ := json.Marshal(n.TrustedDomains)
	rd, _ := json.Marshal(n.RetentionDays)
	rk, _ := json.Marshal(n.Risk)
	ta, _ := json.Marshal(n.TrustedActivities)
	err = st.InTx(ctx, func(q store.Queries) error {
		if err := q.PutSetting(ctx, keyTrustActivity, ta); err != nil {
			return err
		}
		if err := q.PutSetting(ctx, keyTrustedDomains, td); err != nil {
			return err
		}
		if err := q.PutSetting(ctx, keyRisk, rk); err != nil {
			return err
		}
		return q.PutSetting(ctx, keyRetentionDays, rd)
	})
	return n, err
}

// Trusted reports whether an email address or domain is inside the trusted domains (a trusted
// domain also covers its subdomains).
func (s Settings) Trusted(addrOrDomain string) bool {
	return risk.TrustedBy(s.TrustedDomains, addrOrDomain) != ""
}
