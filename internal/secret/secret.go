// Package secret keeps vendor and integration credentials secret (R9.3): a Keyring encrypts them
// before they are stored and decrypts them when a connector needs them, and Value holds a secret in
// memory so that printing, logging or encoding it shows "[redacted]".
//
// Sealed data is AES-256-GCM with this layout:
//
//	version (1 byte, 1) | key id (4 bytes) | nonce (12 random bytes) | ciphertext and tag
//
// The version and key id are authenticated as additional data. The key id is the first 4 bytes of
// the SHA-256 of the key (shown as 8 hex digits by KeyID), so that data sealed with an older key is
// recognised and opened with it after a rotation: configure the new key as the current key, keep the
// old one among the old keys, reseal what NeedsRotation reports, then drop the old key.
//
// The current key comes from TELLTALE_SECRET_KEY, or TELLTALE_SECRET_KEY_FILE, or else from
// <data dir>/secret.key, which is generated on first start. Losing that file loses every stored
// credential: back it up with the database.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Sentinel errors of Open, for errors.Is.
var (
	// ErrUnknownKey: the data was sealed with a key that is not configured.
	ErrUnknownKey = errors.New("secret: unknown key")
	// ErrCorrupt: the data is not sealed data, or was altered since it was sealed.
	ErrCorrupt = errors.New("secret: sealed data is corrupt")
)

const (
	version   = 1
	keySize   = 32
	idSize    = 4
	nonceSize = 12
	header    = 1 + idSize + nonceSize
	// KeyFileName is the key file generated in the data directory.
	KeyFileName = "secret.key"
)

const keyHelp = "32 random bytes, base64-encoded; generate one with `openssl rand -base64 32`"

// KeyConfig says where the keys come from. Key and KeyFile are exclusive (both may be set only to the
// same key, as config does when it reads TELLTALE_SECRET_KEY_FILE into Key too); when both are empty
// the key is read from, or generated into, DataDir/secret.key.
type KeyConfig struct {
	Key     string   // TELLTALE_SECRET_KEY: base64 of 32 bytes
	KeyFile string   // TELLTALE_SECRET_KEY_FILE: a file holding the base64 key
	OldKeys []string // base64 keys that only open data sealed before a rotation
	DataDir string   // where secret.key is kept when neither Key nor KeyFile is set
}

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Keyring seals with its current key and opens with the current key or any old key. It is safe for
// concurrent use.
type Keyring struct {
	current key
	keys    map[[idSize]byte]key
	source  string
}

// LoadKeyring loads the keys of cfg, generating DataDir/secret.key when no key is configured and the
// file does not exist yet. Errors never contain key material.
func LoadKeyring(cfg KeyConfig) (*Keyring, error) {
	var (
		raw    []byte
		source string
		err    error
	)
	switch {
	case strings.TrimSpace(cfg.KeyFile) != "":
		path := strings.TrimSpace(cfg.KeyFile)
		source = "TELLTALE_SECRET_KEY_FILE " + path
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("secret: reading TELLTALE_SECRET_KEY_FILE: %w", err)
		}
		if raw, err = decodeKey(string(b)); err != nil {
			return nil, fmt.Errorf("secret: the key in %s (TELLTALE_SECRET_KEY_FILE) %w", path, err)
		}
		// config fills Key from the same file (its *_FILE rule for secrets): agreeing is fine.
		if strings.TrimSpace(cfg.Key) != "" {
			if fromEnv, err := decodeKey(cfg.Key); err != nil || !bytes.Equal(fromEnv, raw) {
				return nil, errors.New("secret: TELLTALE_SECRET_KEY and TELLTALE_SECRET_KEY_FILE are both set, to different keys; set only one")
			}
		}
	case strings.TrimSpace(cfg.Key) != "":
		source = "TELLTALE_SECRET_KEY"
		if raw, err = decodeKey(cfg.Key); err != nil {
			return nil, fmt.Errorf("secret: TELLTALE_SECRET_KEY %w", err)
		}
	case cfg.DataDir != "":
		raw, source, err = dataDirKey(cfg.DataDir, true)
		if err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("secret: no key: set TELLTALE_SECRET_KEY or TELLTALE_SECRET_KEY_FILE, or a data directory to keep a generated key in")
	}
	k := &Keyring{keys: map[[idSize]byte]key{}, source: source}
	if k.current, err = newKey(raw); err != nil {
		return nil, err
	}
	k.keys[k.current.id] = k.current
	for i, s := range cfg.OldKeys {
		if strings.TrimSpace(s) == "" {
			continue
		}
		b, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("secret: old key %d of %d %w", i+1, len(cfg.OldKeys), err)
		}
		old, err := newKey(b)
		if err != nil {
			return nil, err
		}
		if _, dup := k.keys[old.id]; dup {
			continue // the same key listed twice, or the current key also listed as old
		}
		k.keys[old.id] = old
	}
	return k, nil
}

// decodeKey decodes base64 key text (standard or URL alphabet, padded or not, surrounding
// whitespace ignored). The error reads after the key's name and never quotes the text.
func decodeKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(text); err == nil {
			break
		}
	}
	switch {
	case text == "":
		return nil, errors.New("is empty; it must be " + keyHelp)
	case err != nil:
		return nil, errors.New("is not base64; it must be " + keyHelp)
	case len(b) != keySize:
		return nil, fmt.Errorf("is %d bytes long; it must be %s", len(b), keyHelp)
	}
	return b, nil
}

func newKey(raw []byte) (key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, fmt.Errorf("secret: %w", err)
	}
	sum := sha256.Sum256(raw)
	var k key
	copy(k.id[:], sum[:idSize])
	k.aead = aead
	return k, nil
}

// dataDirKey reads dir/secret.key, or generates it (and dir) when missing.
func dataDirKey(dir string, mayGenerate bool) ([]byte, string, error) {
	path := filepath.Join(dir, KeyFileName)
	b, err := readKeyFile(path)
	if err == nil {
		raw, err := decodeKey(string(b))
		if err != nil {
			return nil, "", fmt.Errorf("secret: the key in %s %w; restore the file from a backup (credentials sealed with the lost key cannot be opened)", path, err)
		}
		return raw, path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if !mayGenerate {
		return nil, "", fmt.Errorf("secret: key file %s disappeared while it was being created", path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("secret: creating the data directory for the key: %w", err)
	}
	raw := make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("secret: generating a key: %w", err)
	}
	created, err := writeNew(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"))
	if err != nil {
		return nil, "", fmt.Errorf("secret: writing the generated key to %s: %w", path, err)
	}
	if !created { // another process wrote it first: use theirs
		return dataDirKey(dir, false)
	}
	return raw, path + " (generated)", nil
}

// readKeyFile reads a key file that must be private to its owner.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secret: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("secret: key file %s has permissions %04o, which let other users read or change it; run `chmod 600 %s`", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret: key file: %w", err)
	}
	return b, nil
}

// writeNew writes data to path atomically with mode 0600 unless path exists, in which case it
// reports created false and leaves the existing file alone.
func writeNew(path string, data []byte) (created bool, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+KeyFileName+".tmp-*") // mode 0600
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	// A hard link never replaces an existing file, so two processes starting together agree on one
	// key. Where links are not supported, fall back to a rename.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if _, statErr := os.Stat(path); statErr == nil {
			return false, nil
		}
		if err := os.Rename(tmp, path); err != nil {
			return false, err
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return true, nil
}

// KeyID is the short id of the current key: the first 8 hex digits of the SHA-256 of the key.
func (k *Keyring) KeyID() string { return hex.EncodeToString(k.current.id[:]) }

// Source says where the current key came from, without the key: "TELLTALE_SECRET_KEY",
// "TELLTALE_SECRET_KEY_FILE <path>", "<data dir>/secret.key" or "<data dir>/secret.key (generated)".
// Callers log it at start so that an operator knows which file to back up.
func (k *Keyring) Source() string { return k.source }

// Seal encrypts plaintext with the current key.
func (k *Keyring) Seal(plaintext []byte) ([]byte, error) {
	out := make([]byte, header, header+len(plaintext)+k.current.aead.Overhead())
	out[0] = version
	copy(out[1:], k.current.id[:])
	if _, err := rand.Read(out[1+idSize : header]); err != nil {
		return nil, fmt.Errorf("secret: seal: %w", err)
	}
	return k.current.aead.Seal(out, out[1+idSize:header], plaintext, out[:1+idSize]), nil
}

// Open decrypts data sealed by Seal with the current key or an old key. It fails with ErrUnknownKey
// when the key is not configured and ErrCorrupt when the data was altered or is not sealed data.
func (k *Keyring) Open(sealed []byte) ([]byte, error) {
	id, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	key, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: sealed with key %x, which is not configured: set TELLTALE_SECRET_KEY or add it to the old keys", ErrUnknownKey, id)
	}
	plain, err := key.aead.Open(nil, sealed[1+idSize:header], sealed[header:], sealed[:1+idSize])
	if err != nil {
		return nil, fmt.Errorf("%w: the data sealed with key %x was altered or damaged since it was sealed", ErrCorrupt, id)
	}
	return plain, nil
}

func parseHeader(sealed []byte) ([idSize]byte, error) {
	var id [idSize]byte
	switch {
	case len(sealed) == 0:
		return id, fmt.Errorf("%w: it is empty", ErrCorrupt)
	case sealed[0] != version:
		return id, fmt.Errorf("%w: unknown format version %d (this version of Telltale reads version %d)", ErrCorrupt, sealed[0], version)
	case len(sealed) < header+16:
		return id, fmt.Errorf("%w: it is %d bytes long, shorter than any sealed data", ErrCorrupt, len(sealed))
	}
	copy(id[:], sealed[1:])
	return id, nil
}

// NeedsRotation reports whether sealed was sealed with a key other than the current one: an old key,
// or a key that is not configured at all (which Open then refuses with ErrUnknownKey). It is false
// for data sealed with the current key and for data that is not sealed data.
func (k *Keyring) NeedsRotation(sealed []byte) bool {
	id, err := parseHeader(sealed)
	return err == nil && id != k.current.id
}

// Reseal opens sealed and seals it again with the current key, for rotation.
func (k *Keyring) Reseal(sealed []byte) ([]byte, error) {
	plain, err := k.Open(sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return k.Seal(plain)
}

// ---- Value ----

// Redacted is what a Value shows of itself.
const Redacted = "[redacted]"

// Value is a secret held in memory: a config field, a password, a vendor token. Formatting it with
// any fmt verb, encoding it as JSON or text, and logging it with slog all give "[redacted]"; only
// Reveal returns the secret.
//
// Two holes that no method can close: fmt prints unexported struct fields without calling their
// methods, so keep a Value in an exported field of any struct that might be printed; and
// encoding/json writes map keys of string kind as they are, so never use a Value as a map key.
type Value string

// Reveal returns the secret.
func (v Value) Reveal() string { return string(v) }

// String returns "[redacted]".
func (v Value) String() string { return Redacted }

// GoString returns "[redacted]".
func (v Value) GoString() string { return Redacted }

// Format writes "[redacted]" for every verb, so that %d or %x cannot reveal the value either.
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON returns "[redacted]" as a JSON string.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns "[redacted]".
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue makes slog log "[redacted]".
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }
