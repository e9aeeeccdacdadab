package integration_test

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/integration"
)

// TestDocTestVector: the signature test vector of docs/INTEGRATIONS.md is what Sign computes and
// what Verify accepts; a changed body or secret is refused.
func TestDocTestVector(t *testing.T) {
	doc, err := os.ReadFile("../../docs/INTEGRATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(.+)$`).FindSubmatch(doc)
		if m == nil {
			t.Fatalf("docs/INTEGRATIONS.md has no %q line in its test vector", name)
		}
		return string(m[1])
	}
	secret, ts, body, header := field("secret"), field("timestamp"), field("body"), field("header")
	at, err := time.Parse(time.UnixDate, "Thu Dec  1 09:00:00 UTC 2026")
	if err != nil {
		t.Fatal(err)
	}
	if got := integration.Sign(secret, at, []byte(body)); got != header || ts != "1796115600" {
		t.Errorf("Sign = %s, the doc says %s (timestamp %s)", got, header, ts)
	}
	if !integration.Verify(secret, header, []byte(body), at.Add(time.Minute), 5*time.Minute) {
		t.Error("Verify refuses the doc's vector")
	}
	if integration.Verify(secret, header, []byte(body+" "), at, 5*time.Minute) || integration.Verify(secret+"x", header, []byte(body), at, 5*time.Minute) {
		t.Error("Verify accepts a changed body or secret")
	}
	if integration.Verify(secret, header, []byte(body), at.Add(6*time.Minute), 5*time.Minute) {
		t.Error("Verify accepts a timestamp older than the tolerance")
	}
}
