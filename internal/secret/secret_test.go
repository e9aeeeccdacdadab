package secret

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func newKeyText(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func mustLoad(t *testing.T, cfg KeyConfig) *Keyring {
	t.Helper()
	k, err := LoadKeyring(cfg)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	return k
}

// noKeyIn fails if err mentions any of the keys.
func noKeyIn(t *testing.T, err error, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" && strings.Contains(err.Error(), k) {
			t.Errorf("error %q contains key material", err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	k := mustLoad(t, KeyConfig{Key: newKeyText(t)})
	for _, plain := range [][]byte{nil, {}, []byte("x"), []byte(`{"client_secret":"s3cr3t"}`), bytes.Repeat([]byte{0, 1, 2}, 10000)} {
		sealed, err := k.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) > 3 && bytes.Contains(sealed, plain) {
			t.Error("sealed data contains the plaintext")
		}
		got, err := k.Open(sealed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("Open(Seal(%q)) = %q", plain, got)
		}
		if k.NeedsRotation(sealed) {
			t.Error("NeedsRotation of data sealed with the current key")
		}
	}
	a, _ := k.Seal([]byte("same"))
	b, _ := k.Seal([]byte("same"))
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are equal: nonce not random")
	}
}

func TestFormat(t *testing.T) {
	text := newKeyText(t)
	raw, _ := base64.StdEncoding.DecodeString(text)
	sum := sha256.Sum256(raw)
	k := mustLoad(t, KeyConfig{Key: text})
	if want := hex.EncodeToString(sum[:])[:8]; k.KeyID() != want {
		t.Errorf("KeyID() = %q, want %q", k.KeyID(), want)
	}
	sealed, _ := k.Seal([]byte("hello"))
	if sealed[0] != 1 || hex.EncodeToString(sealed[1:5]) != k.KeyID() || len(sealed) != 1+4+12+5+16 {
		t.Errorf("sealed layout: % x", sealed)
	}
}

func TestTamper(t *testing.T) {
	k := mustLoad(t, KeyConfig{Key: newKeyText(t)})
	sealed, _ := k.Seal([]byte("the vendor token"))
	for i := range sealed {
		for bit := range 8 {
			bad := bytes.Clone(sealed)
			bad[i] ^= 1 << bit
			if got, err := k.Open(bad); err == nil {
				t.Fatalf("flipping bit %d of byte %d: Open succeeded with %q", bit, i, got)
			} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("flipping bit %d of byte %d: error %v is neither ErrCorrupt nor ErrUnknownKey", bit, i, err)
			}
		}
	}
	for n := range len(sealed) {
		if _, err := k.Open(sealed[:n]); err == nil {
			t.Fatalf("Open of the first %d bytes succeeded", n)
		}
	}
	if _, err := k.Open(append(bytes.Clone(sealed), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open with a byte appended: %v", err)
	}
	_, err := k.Open(sealed[:len(sealed)-1])
	if err == nil || !strings.Contains(err.Error(), "altered or damaged") {
		t.Errorf("truncated: %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	a := mustLoad(t, KeyConfig{Key: newKeyText(t)})
	b := mustLoad(t, KeyConfig{Key: newKeyText(t)})
	sealed, _ := a.Seal([]byte("x"))
	_, err := b.Open(sealed)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open with another key: %v, want ErrUnknownKey", err)
	}
	want := fmt.Sprintf("sealed with key %s, which is not configured: set TELLTALE_SECRET_KEY or add it to the old keys", a.KeyID())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\ndoes not contain %q", err, want)
	}
	if !b.NeedsRotation(sealed) {
		t.Error("NeedsRotation false for data sealed with an unknown key")
	}
}

func TestRotation(t *testing.T) {
	oldText, newText := newKeyText(t), newKeyText(t)
	old := mustLoad(t, KeyConfig{Key: oldText})
	sealedOld, _ := old.Seal([]byte("token"))

	k := mustLoad(t, KeyConfig{Key: newText, OldKeys: []string{"", " " + oldText + "\n", newText}})
	if k.KeyID() == old.KeyID() {
		t.Fatal("current key id is the old one")
	}
	got, err := k.Open(sealedOld)
	if err != nil || string(got) != "token" {
		t.Fatalf("Open of old data: %q, %v", got, err)
	}
	if !k.NeedsRotation(sealedOld) {
		t.Error("NeedsRotation false for data sealed with an old key")
	}
	resealed, err := k.Reseal(sealedOld)
	if err != nil {
		t.Fatal(err)
	}
	if k.NeedsRotation(resealed) {
		t.Error("NeedsRotation true after Reseal")
	}
	if got, err := k.Open(resealed); err != nil || string(got) != "token" {
		t.Errorf("Open(Reseal) = %q, %v", got, err)
	}
	if _, err := old.Open(resealed); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old keyring opened data resealed with the new key: %v", err)
	}
	if k.NeedsRotation([]byte("not sealed")) || k.NeedsRotation(nil) {
		t.Error("NeedsRotation true for data that is not sealed data")
	}
}

func TestKeyErrors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	good := newKeyText(t)
	tests := []struct {
		name string
		cfg  KeyConfig
		want string
	}{
		{"short key", KeyConfig{Key: short}, "TELLTALE_SECRET_KEY is 16 bytes long; it must be 32 random bytes, base64-encoded; generate one with `openssl rand -base64 32`"},
		{"not base64", KeyConfig{Key: "correct horse battery staple!!"}, "TELLTALE_SECRET_KEY is not base64; it must be 32 random bytes"},
		{"both set, file missing", KeyConfig{Key: good, KeyFile: "/nonexistent/key"}, "reading TELLTALE_SECRET_KEY_FILE"},
		{"nothing set", KeyConfig{}, "no key"},
		{"bad old key", KeyConfig{Key: good, OldKeys: []string{good, short}}, "old key 2 of 2 is 16 bytes long"},
		{"missing key file", KeyConfig{KeyFile: filepath.Join(t.TempDir(), "nope")}, "reading TELLTALE_SECRET_KEY_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadKeyring(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			noKeyIn(t, err, append([]string{tt.cfg.Key}, tt.cfg.OldKeys...)...)
		})
	}
}

func TestKeyEncodings(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	want := mustLoad(t, KeyConfig{Key: base64.StdEncoding.EncodeToString(raw)}).KeyID()
	for _, text := range []string{
		"  " + base64.StdEncoding.EncodeToString(raw) + "\n",
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
	} {
		if got := mustLoad(t, KeyConfig{Key: text}).KeyID(); got != want {
			t.Errorf("key id %s, want %s", got, want)
		}
	}
}

func TestKeyFile(t *testing.T) {
	text := newKeyText(t)
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(text+"\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := mustLoad(t, KeyConfig{KeyFile: path})
	if want := mustLoad(t, KeyConfig{Key: text}).KeyID(); k.KeyID() != want {
		t.Errorf("key id %s, want %s", k.KeyID(), want)
	}
	if k.Source() != "TELLTALE_SECRET_KEY_FILE "+path {
		t.Errorf("Source() = %q", k.Source())
	}
	// config sets Key from the same file as well: the same key is accepted, another refused.
	if k := mustLoad(t, KeyConfig{Key: text, KeyFile: path}); k.KeyID() != mustLoad(t, KeyConfig{Key: text}).KeyID() {
		t.Error("Key and KeyFile agreeing: wrong key")
	}
	other := newKeyText(t)
	_, err := LoadKeyring(KeyConfig{Key: other, KeyFile: path})
	if err == nil || !strings.Contains(err.Error(), "both set, to different keys; set only one") {
		t.Errorf("Key and KeyFile disagreeing: %v", err)
	}
	noKeyIn(t, err, text, other)

	os.WriteFile(path, []byte("c2hvcnQ=\n"), 0o600)
	_, err = LoadKeyring(KeyConfig{KeyFile: path})
	if err == nil || !strings.Contains(err.Error(), "is 5 bytes long; it must be 32 random bytes") {
		t.Errorf("short key file: %v", err)
	}
}

func TestGeneratedKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	k1 := mustLoad(t, KeyConfig{DataDir: dir})
	path := filepath.Join(dir, KeyFileName)
	if k1.Source() != path+" (generated)" {
		t.Errorf("Source() = %q", k1.Source())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %v, want only the key file", entries)
	}
	b, _ := os.ReadFile(path)
	if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil || len(raw) != 32 {
		t.Errorf("key file holds %d bytes (%v)", len(raw), err)
	}

	sealed, _ := k1.Seal([]byte("kept"))
	k2 := mustLoad(t, KeyConfig{DataDir: dir})
	if k2.KeyID() != k1.KeyID() || k2.Source() != path {
		t.Errorf("second load: key %s from %q, want %s from %q", k2.KeyID(), k2.Source(), k1.KeyID(), path)
	}
	if got, err := k2.Open(sealed); err != nil || string(got) != "kept" {
		t.Errorf("Open after reload = %q, %v", got, err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKeyring(KeyConfig{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "permissions 0644") || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("loose permissions: %v", err)
	}
	noKeyIn(t, err, string(b))
	if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
		t.Error("key file changed after a refused load")
	}

	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("garbage!"), 0o600)
	_, err = LoadKeyring(KeyConfig{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "is not base64") {
		t.Errorf("garbage key file: %v", err)
	}
}

func TestGeneratedKeyFileConcurrent(t *testing.T) {
	dir := t.TempDir()
	ids := make(chan string, 8)
	for range 8 {
		go func() {
			k, err := LoadKeyring(KeyConfig{DataDir: dir})
			if err != nil {
				ids <- err.Error()
				return
			}
			ids <- k.KeyID()
		}()
	}
	first := <-ids
	for range 7 {
		if id := <-ids; id != first {
			t.Fatalf("concurrent loads disagree: %s and %s", first, id)
		}
	}
}

type creds struct {
	User  string
	Token Value
}

func TestValueRedaction(t *testing.T) {
	const s = "hunter2-very-secret"
	v := Value(s)
	if v.Reveal() != s {
		t.Fatalf("Reveal() = %q", v.Reveal())
	}
	c := creds{User: "svc", Token: v}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T %v"} {
		for _, arg := range []any{v, &v, c, &c, []Value{v}, map[string]Value{"k": v}} {
			if got := fmt.Sprintf(format, arg); strings.Contains(got, s) || strings.Contains(got, fmt.Sprintf("%x", s)) {
				t.Errorf("Sprintf(%q, %T) = %q reveals the secret", format, arg, got)
			}
		}
	}
	if got := fmt.Sprint(v); got != Redacted {
		t.Errorf("Sprint = %q", got)
	}
	if got := v.GoString(); got != Redacted {
		t.Errorf("GoString = %q", got)
	}

	j, err := json.Marshal(map[string]any{"v": v, "c": c, "p": &c})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), s) {
		t.Errorf("json reveals the secret: %s", j)
	}
	want := `{"c":{"User":"svc","Token":"[redacted]"},"p":{"User":"svc","Token":"[redacted]"},"v":"[redacted]"}`
	if diff := cmp.Diff(want, string(j)); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
	if txt, _ := v.MarshalText(); string(txt) != Redacted {
		t.Errorf("MarshalText = %q", txt)
	}

	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var b bytes.Buffer
		log := slog.New(h(&b))
		log.Info("connect", "token", v, "creds", c, "ptr", &c, slog.Any("any", v), slog.Group("g", "token", v))
		log.With("token", v).Info("with")
		if strings.Contains(b.String(), s) {
			t.Errorf("slog %s handler reveals the secret:\n%s", name, b.String())
		}
		if !strings.Contains(b.String(), Redacted) {
			t.Errorf("slog %s handler output lacks %q:\n%s", name, Redacted, b.String())
		}
	}

	var back struct{ Token Value }
	if err := json.Unmarshal([]byte(`{"Token":"from-config"}`), &back); err != nil || back.Token.Reveal() != "from-config" {
		t.Errorf("Unmarshal into Value: %q, %v", back.Token.Reveal(), err)
	}
}
