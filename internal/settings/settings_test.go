package settings

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
