package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"
)

// TokenPrefixLen is how many leading characters of a token are stored in clear to tell tokens apart.
const TokenPrefixLen = 10

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewToken returns a new API token: "tt_" and 32 random bytes in lower-case unpadded base32; its
// prefix (the first TokenPrefixLen characters) and its SHA-256 hash.
func NewToken() (plain, prefix string, hash []byte) {
	plain = "tt_" + tokenEncoding.EncodeToString(randomBytes(32))
	return plain, tokenPrefix(plain), HashToken(plain)
}

// tokenPrefix is the part of a token stored and shown in clear. For a generated token that is
// "tt_" and 7 of its 52 random characters; a token the operator chose (TELLTALE_BOOTSTRAP_TOKEN)
// may be much weaker, so only its first 4 characters are kept.
func tokenPrefix(plain string) string {
	n := TokenPrefixLen
	if !strings.HasPrefix(plain, "tt_") {
		n = 4
	}
	if len(plain) <= n {
		return ""
	}
	return plain[:n]
}

// HashToken returns the SHA-256 of a token (or session cookie) as stored.
func HashToken(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// randomBytes returns n bytes from crypto/rand (which never fails on supported platforms).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomURL(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

// randomPassword returns n characters from an alphabet without look-alike characters.
func randomPassword(n int) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var sb strings.Builder
	for sb.Len() < n {
		for _, c := range randomBytes(n) {
			// 256 - 256%56 = 224: reject above to avoid modulo bias.
			if int(c) < 256-256%len(alphabet) && sb.Len() < n {
				sb.WriteByte(alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return sb.String()
}
