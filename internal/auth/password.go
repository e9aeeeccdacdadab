package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters for new hashes: 64 MiB of memory, 2 passes, 2 lanes (the RFC 9106 "second
// recommended option" with t=2), 16-byte salt, 32-byte key. Verifying takes about 57 ms on the
// 2-core build machine (measured 2026-11), within the 50-100 ms aimed for. Existing hashes keep the
// parameters written in them, so these can be raised later without invalidating passwords.
const (
	argonMemory  = 64 * 1024 // KiB
	argonTime    = 2
	argonThreads = 2
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Password policy bounds.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

var b64 = base64.RawStdEncoding

// HashPassword returns an argon2id PHC string with a fresh random salt:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash> (unpadded standard base64).
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

var errBadHash = errors.New("auth: malformed argon2id password hash")

// parsePHC parses $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key> strictly.
func parsePHC(s string) (phc, error) {
	var p phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, errBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("%w: unsupported version %q", errBadHash, parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, fmt.Errorf("%w: want m=,t=,p= parameters", errBadHash)
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return p, fmt.Errorf("%w: bad parameter %q", errBadHash, params[i])
		}
		vals[i] = n
	}
	// Bounds keep a tampered row from stalling the server: at most 1 GiB, 64 passes, 255 lanes.
	if vals[0] > 1<<20 || vals[1] > 64 || vals[2] > 255 {
		return p, fmt.Errorf("%w: parameters out of range", errBadHash)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, fmt.Errorf("%w: bad salt", errBadHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, fmt.Errorf("%w: bad hash", errBadHash)
	}
	return phc{memory: uint32(vals[0]), time: uint32(vals[1]), threads: uint8(vals[2]), salt: salt, key: key}, nil
}

// VerifyPassword reports whether pw matches the PHC string, using the parameters written in it.
// The comparison is constant-time. A malformed PHC string is an error.
func VerifyPassword(phcString, pw string) (bool, error) {
	p, err := parsePHC(phcString)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

// CheckPasswordPolicy returns an error wrapping ErrInvalid, saying what to change, unless pw has
// MinPasswordLen to MaxPasswordLen characters and is not one character repeated.
func CheckPasswordPolicy(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return fmt.Errorf("%w: the password has %d characters; use at least %d (a few unrelated words make a good one)", ErrInvalid, n, MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return fmt.Errorf("%w: the password has %d characters; use at most %d", ErrInvalid, n, MaxPasswordLen)
	}
	first, _ := utf8.DecodeRuneInString(pw)
	if strings.Trim(pw, string(first)) == "" {
		return fmt.Errorf("%w: the password is one character repeated; choose one that is harder to guess", ErrInvalid)
	}
	return nil
}

// dummyHash is verified against when a user is unknown or has no password, so that every failed
// sign-in spends the same time.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("telltale-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
})
