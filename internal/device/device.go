// Package device holds what the endpoint agent (internal/agent) and the server (internal/api) must
// agree on: how an agent's message is signed with its device key, the limits of a message, how
// deployment secrets look and are hashed, and when a device counts as outdated or silent
// (issue 18, R8.2). Standard library only.
package device

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a signed agent request.
const (
	// HeaderDevice carries the device id (absent on enrolment).
	HeaderDevice = "X-Telltale-Device"
	// HeaderSignature carries base64 (standard, padded) of the ed25519 signature of the body.
	HeaderSignature = "X-Telltale-Signature"
)

// Signing contexts: a signature made for one kind of message never verifies as another.
const (
	ContextEnroll  = "telltale-agent-enroll-v1"
	ContextCheckIn = "telltale-agent-checkin-v1"
	ContextEvents  = "telltale-agent-events-v1"
)

// RefusalType starts the problem type of a refused agent message; the reason follows
// (rate_limited, oversized, malformed, signature, unknown_device, replay, deactivated,
// secret_unknown, secret_expired, secret_revoked, enrolled_already).
const RefusalType = "urn:telltale:agent:"

// MaxMessage bounds an enrolment or check-in body in bytes; MaxEvents bounds a batch of file events.
const (
	MaxMessage = 16 << 10
	MaxEvents  = 1 << 20
)

// MaxLabel bounds the host name, OS, architecture, version and user name an agent reports.
const MaxLabel = 200

func signed(context string, body []byte) []byte {
	m := make([]byte, 0, len(context)+1+len(body))
	m = append(m, context...)
	m = append(m, '\n')
	return append(m, body...)
}

// Sign returns the header value signing body for context with key.
func Sign(key ed25519.PrivateKey, context string, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, signed(context, body)))
}

// ErrSignature is a signature that is missing, malformed or does not verify.
var ErrSignature = errors.New("device: bad signature")

// Verify checks the header value sig over body for context with the public key pub.
func Verify(pub []byte, context string, body []byte, sig string) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: the device has no valid public key", ErrSignature)
	}
	if sig == "" {
		return fmt.Errorf("%w: no %s header", ErrSignature, HeaderSignature)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s is not base64 of %d bytes", ErrSignature, HeaderSignature, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, signed(context, body), raw) {
		return fmt.Errorf("%w: it does not match the device's key", ErrSignature)
	}
	return nil
}

// ParsePublicKey decodes a public key sent as base64 (standard, padded).
func ParsePublicKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("want base64 of a %d-byte ed25519 public key", ed25519.PublicKeySize)
	}
	return b, nil
}

// SecretPrefix starts every deployment secret, so that one found in a file or a log is recognized.
const SecretPrefix = "tds_"

// NewSecret returns a new deployment secret (256 random bits) and its prefix shown to tell it apart.
func NewSecret() (secret, prefix string) {
	b := make([]byte, 32)
	rand.Read(b)
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, secret[:len(SecretPrefix)+6]
}

// HashSecret is what the server stores and looks a secret up by.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return h[:]
}

// Secret states.
const (
	SecretActive  = "active"
	SecretExpired = "expired"
	SecretRevoked = "revoked"
)

// SecretState is a secret's state at now: revoked wins over expired.
func SecretState(expiresAt, revokedAt, now time.Time) string {
	switch {
	case !revokedAt.IsZero():
		return SecretRevoked
	case !now.Before(expiresAt):
		return SecretExpired
	}
	return SecretActive
}

// Older reports whether version v is older than current. Versions compare as dotted numbers
// (an optional leading v; a pre-release suffix after - sorts before the release); a version that
// does not parse (a development build) is never older and nothing is older than it.
func Older(v, current string) bool {
	a, okA := parseVersion(v)
	b, okB := parseVersion(current)
	if !okA || !okB {
		return false
	}
	for i := 0; i < 3; i++ {
		if a.n[i] != b.n[i] {
			return a.n[i] < b.n[i]
		}
	}
	return a.pre != "" && b.pre == "" || a.pre != "" && b.pre != "" && a.pre < b.pre
}

// IsVersion reports whether s is a version Older can compare (a development build's "dev" is not).
func IsVersion(s string) bool {
	_, ok := parseVersion(s)
	return ok
}

type version struct {
	n   [3]int
	pre string
}

func parseVersion(s string) (version, bool) {
	var v version
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	s, v.pre, _ = strings.Cut(s, "-")
	parts := strings.Split(s, ".")
	if s == "" || len(parts) > 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v.n[i] = n
	}
	return v, true
}
