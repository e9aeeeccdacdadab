package device

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	body := []byte(`{"counter":1}`)
	sig := Sign(key, ContextCheckIn, body)
	if err := Verify(pub, ContextCheckIn, body, sig); err != nil {
		t.Fatal(err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	for name, tc := range map[string]struct {
		pub  []byte
		ctx  string
		body []byte
		sig  string
	}{
		"body changed":    {pub, ContextCheckIn, []byte(`{"counter":2}`), sig},
		"another context": {pub, ContextEnroll, body, sig},
		"another key":     {other, ContextCheckIn, body, sig},
		"no signature":    {pub, ContextCheckIn, body, ""},
		"not base64":      {pub, ContextCheckIn, body, "%%%"},
		"short":           {pub, ContextCheckIn, body, "AAAA"},
		"no public key":   {nil, ContextCheckIn, body, sig},
	} {
		if err := Verify(tc.pub, tc.ctx, tc.body, tc.sig); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestOlder(t *testing.T) {
	for _, tc := range []struct {
		v, cur string
		want   bool
	}{
		{"1.2.0", "1.4.0", true},
		{"v1.4.0", "1.4.0", false},
		{"1.4", "1.4.0", false},
		{"1.10.0", "1.9.3", false},
		{"1.9.3", "1.10.0", true},
		{"2.0.0", "1.10.0", false},
		{"1.4.0-rc1", "1.4.0", true},
		{"dev", "1.4.0", false},
		{"1.2.0", "dev", false},
		{"", "1.0.0", false},
	} {
		if got := Older(tc.v, tc.cur); got != tc.want {
			t.Errorf("Older(%q, %q) = %v", tc.v, tc.cur, got)
		}
	}
}

func TestIsVersion(t *testing.T) {
	if !IsVersion("1.4.0") || !IsVersion("v2") || IsVersion("dev") || IsVersion("") {
		t.Error("IsVersion")
	}
}

func TestSecrets(t *testing.T) {
	s, p := NewSecret()
	s2, _ := NewSecret()
	if s == s2 || len(s) < 40 || p != s[:10] {
		t.Fatalf("secret %q prefix %q", s, p)
	}
	if string(HashSecret(s)) != string(HashSecret(" "+s+"\n")) || string(HashSecret(s)) == string(HashSecret(s2)) {
		t.Error("hash")
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if SecretState(now.Add(time.Hour), time.Time{}, now) != SecretActive || SecretState(now, time.Time{}, now) != SecretExpired ||
		SecretState(now.Add(-time.Hour), now, now) != SecretRevoked {
		t.Error("states")
	}
}
