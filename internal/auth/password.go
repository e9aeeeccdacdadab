package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters for new hashes. Existing hashes keep the parameters written in them.
const (
	argonMemory  = 64 * 1024 // KiB
	argonTime    = 2
	argonThreads = 2
	argonSaltLen = 16
	argonKeyLen  = 32
)

// MinPasswordLen is the shortest password CheckPasswordPolicy accepts.
const MinPasswordLen = 12

var b64 = base64.RawStdEncoding

// HashPassword returns an argon2id PHC string:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash> (unpadded standard base64).
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
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

func parsePHC(s string) (phc, error) {
	var p phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, fmt.Errorf("%w: unsupported version", errBadHash)
	}
	var m, t uint32
	var th uint8
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 || m == 0 || t == 0 || th == 0 {
		return p, fmt.Errorf("%w: bad parameters", errBadHash)
	}
	if m > 4*1024*1024 || t > 100 {
		return p, fmt.Errorf("%w: parameters out of range", errBadHash)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) == 0 {
		return p, fmt.Errorf("%w: bad salt", errBadHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, fmt.Errorf("%w: bad hash", errBadHash)
	}
	return phc{memory: m, time: t, threads: th, salt: salt, key: key}, nil
}

// VerifyPassword reports whether pw matches the PHC string. A malformed PHC string is an error.
// The comparison is constant-time.
func VerifyPassword(phcString, pw string) (bool, error) {
	p, err := parsePHC(phcString)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

// CheckPasswordPolicy returns an error wrapping ErrInvalid unless pw has at least MinPasswordLen
// characters and is not one character repeated.
func CheckPasswordPolicy(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return fmt.Errorf("%w: the password must have at least %d characters", ErrInvalid, MinPasswordLen)
	}
	first, _ := utf8.DecodeRuneInString(pw)
	if strings.Trim(pw, string(first)) == "" {
		return fmt.Errorf("%w: the password must not be one character repeated", ErrInvalid)
	}
	return nil
}

// dummyHash is verified against when a user is unknown so that unknown and known user names take
// the same time.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("telltale-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
})
