package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "telltale.env")
	os.WriteFile(file, []byte("# comment\nTELLTALE_LISTEN=127.0.0.1:1\nTELLTALE_WORKERS=2\nTELLTALE_LOG_LEVEL=warn\n"), 0o600)
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("  c2VjcmV0\n"), 0o600)
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	Bind(fs)
	if err := fs.Parse([]string{"--config", file, "--workers", "7"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, env(map[string]string{"TELLTALE_LOG_LEVEL": "debug", "TELLTALE_SECRET_KEY_FILE": keyFile, "TELLTALE_RETENTION": "7d"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1" || c.Workers != 7 || c.LogLevel != "debug" || c.SecretKey != "c2VjcmV0" || c.Retention != 7*24*time.Hour {
		t.Fatalf("unexpected %+v", c)
	}
	if !filepath.IsAbs(c.DataDir) {
		t.Errorf("data dir not made absolute: %q", c.DataDir)
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TELLTALE_WORKERS": "zero"}, "workers (TELLTALE_WORKERS)"},
		{map[string]string{"TELLTALE_DATABASE": "mysql://x"}, "postgres://"},
		{map[string]string{"TELLTALE_RETENTION": "forever"}, "90d"},
		{map[string]string{"TELLTALE_RETENTION": "1h"}, "at least 1d"},
		{map[string]string{"TELLTALE_EVENT_RETENTION": "7d"}, "event-retention: 0 (keep) or at least 31d, got 7d"},
		{map[string]string{"TELLTALE_LOG_FORMAT": "xml"}, "text or json"},
		{map[string]string{"TELLTALE_WORK_LEASE": "500ms"}, "work-lease: want 1s to 1h, got 500ms"},
		{map[string]string{"TELLTALE_WORK_LEASE": "2h"}, "work-lease: want 1s to 1h"},
		{map[string]string{"TELLTALE_DEBUG_LISTEN": "0.0.0.0:6060"}, "want a loopback host:port"},
		{map[string]string{"TELLTALE_DEBUG_LISTEN": "6060"}, "want a loopback host:port"},
	} {
		_, err := Load(nil, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want error containing %q", tc.env, err, tc.want)
		}
	}
}

func TestDebugListenLoopback(t *testing.T) {
	for _, v := range []string{"127.0.0.1:6060", "[::1]:0", "localhost:6060"} {
		if _, err := Load(nil, env(map[string]string{"TELLTALE_DEBUG_LISTEN": v})); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

func TestUnknownFileKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("TELLTALE_LISTN=x\n"), 0o600)
	_, err := Load(nil, env(map[string]string{"TELLTALE_CONFIG": file}))
	if err == nil || !strings.Contains(err.Error(), "unknown setting TELLTALE_LISTN") {
		t.Fatalf("got %v", err)
	}
}

func TestDumpRedactsSecrets(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"TELLTALE_SECRET_KEY": "supersecretvalue", "TELLTALE_BOOTSTRAP_TOKEN": "tok-abcdefghijklmnopqrstuvwxyz", "TELLTALE_DATABASE": "postgres://u:pw@127.0.0.1/db"}))
	if err != nil {
		t.Fatal(err)
	}
	dump := strings.Join(c.Dump(), "\n")
	for _, s := range []string{"supersecretvalue", "tok-abc", "pw@"} {
		if strings.Contains(dump, s) {
			t.Errorf("dump leaks %q:\n%s", s, dump)
		}
	}
	if !strings.Contains(dump, "TELLTALE_SECRET_KEY=[redacted]") {
		t.Errorf("dump does not show the redacted key:\n%s", dump)
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "1d12h": 36 * time.Hour, "5m": 5 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	if FormatDuration(90*24*time.Hour) != "90d" || FormatDuration(90*time.Second) != "1m30s" {
		t.Error("FormatDuration")
	}
}
