// Package config loads Telltale's typed configuration from command-line flags, TELLTALE_* environment
// variables and an optional file of KEY=value lines, in that order of precedence. Every setting is
// declared once in Settings (name, env var, default, help, secret), which drives the flags, the
// environment, the README table and the redacted dump. Secrets may come from *_FILE variables.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is the whole configuration, passed down from the composition root. No package globals.
type Config struct {
	Listen          string
	DataDir         string
	Database        string // "" or "sqlite": SQLite in DataDir; postgres://...: PostgreSQL
	SecretKey       string // secret
	SecretKeyFile   string
	SecretOldKeys   string // secret; comma-separated base64 keys that only decrypt (rotation)
	BootstrapToken  string // secret
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	Workers         int
	WorkLease       time.Duration // how long a node's claim on a unit of work lasts unrenewed
	WorkPoll        time.Duration // how often an idle node looks for due work
	WorkNotify      bool          // PostgreSQL: nodes wake each other with LISTEN/NOTIFY
	PollInterval    time.Duration
	DiscoveryEvery  time.Duration // 0: each connector's default (Box 5m, Google/Microsoft 8h)
	HashMaxSize     int64
	HashWorkers     int
	ImportMaxSize   int64  // largest upload to POST /api/v1/connections/{id}/import
	AllowLoopback   bool   // vendor URLs may point at loopback (emulators); never in production
	PublicURL       string // where vendors reach this node for push notifications; "" = polling only
	Retention       time.Duration
	EventRetention  time.Duration // 0: events are kept until their connection is deleted
	DriveLimitBox   int
	DriveLimitGoog  int
	DriveLimitOne   int
	SessionTTL      time.Duration
	SSOProviders    string        // path of the identity providers JSON file (issue 20); "" = local accounts only
	SSOSessionTTL   time.Duration // how long a session opened through an identity provider lasts
	TrustProxy      bool          // take the client IP from X-Forwarded-For (only behind a trusted proxy)
	DebugListen     string        // loopback address serving Go's pprof profiles; "" = off
	AgentVersion    string        // the endpoint agent version devices should run; "" = this server's
	AgentCheckIn    time.Duration // how often agents check in
	DeviceSilent    time.Duration // a device without a check-in for longer is flagged silent
	EnrollRate      int           // enrolments allowed per minute per source address
	File            string
}

// Setting declares one configuration value.
type Setting struct {
	Name    string // flag name
	Env     string // environment variable
	Default string
	Help    string
	Secret  bool
	set     func(c *Config, v string) error
	get     func(c *Config) string
}

func str(p func(*Config) *string) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error { *p(c) = v; return nil }, func(c *Config) string { return *p(c) }
}

// sizeSetting parses sizes like 1GiB, 100MB or 4096.
func sizeSetting(p func(*Config) *int64) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			n, err := parseSize(v)
			if err != nil {
				return err
			}
			*p(c) = n
			return nil
		}, func(c *Config) string {
			return strconv.FormatInt(*p(c), 10)
		}
}

func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size: write a positive number with an optional unit B, KB, MB, GB, KiB, MiB or GiB", v)
	}
	return n * mult, nil
}

func dur(p func(*Config) *time.Duration) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			d, err := ParseDuration(v)
			if err != nil {
				return err
			}
			*p(c) = d
			return nil
		}, func(c *Config) string {
			return FormatDuration(*p(c))
		}
}

func integer(p func(*Config) *int, min int) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < min {
				return fmt.Errorf("want a whole number >= %d, got %q", min, v)
			}
			*p(c) = n
			return nil
		}, func(c *Config) string {
			return strconv.Itoa(*p(c))
		}
}

func boolean(p func(*Config) *bool) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			*p(c) = b
			return nil
		}, func(c *Config) string {
			return strconv.FormatBool(*p(c))
		}
}

func mk(name, env, def, help string, secret bool, s func(*Config, string) error, g func(*Config) string) Setting {
	return Setting{Name: name, Env: env, Default: def, Help: help, Secret: secret, set: s, get: g}
}

// Settings lists every setting, in the order the docs show them.
func Settings() []Setting {
	var out []Setting
	add := func(name, env, def, help string, secret bool, s func(*Config, string) error, g func(*Config) string) {
		out = append(out, mk(name, env, def, help, secret, s, g))
	}
	s, g := str(func(c *Config) *string { return &c.Listen })
	add("listen", "TELLTALE_LISTEN", "127.0.0.1:8080", "address the API and console listen on", false, s, g)
	s, g = str(func(c *Config) *string { return &c.DataDir })
	add("data-dir", "TELLTALE_DATA_DIR", "./data", "directory for the SQLite database and the generated secret key", false, s, g)
	s, g = str(func(c *Config) *string { return &c.Database })
	add("database", "TELLTALE_DATABASE", "", "empty for embedded SQLite in the data dir, or a postgres:// URL for PostgreSQL", true, s, g)
	s, g = str(func(c *Config) *string { return &c.SecretKey })
	add("secret-key", "TELLTALE_SECRET_KEY", "", "base64 of 32 random bytes that encrypts vendor credentials at rest; generated into the data dir when unset", true, s, g)
	s, g = str(func(c *Config) *string { return &c.SecretKeyFile })
	add("secret-key-file", "TELLTALE_SECRET_KEY_FILE", "", "file holding the secret key (instead of TELLTALE_SECRET_KEY)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.SecretOldKeys })
	add("secret-old-keys", "TELLTALE_SECRET_OLD_KEYS", "", "comma-separated previous secret keys, kept only to decrypt credentials sealed before a key rotation", true, s, g)
	s, g = str(func(c *Config) *string { return &c.BootstrapToken })
	add("bootstrap-token", "TELLTALE_BOOTSTRAP_TOKEN", "", "on first start, the API token of the first admin (at least 24 characters); unset: one is generated and printed once", true, s, g)
	s, g = str(func(c *Config) *string { return &c.LogLevel })
	add("log-level", "TELLTALE_LOG_LEVEL", "info", "debug, info, warn or error", false, s, g)
	s, g = str(func(c *Config) *string { return &c.LogFormat })
	add("log-format", "TELLTALE_LOG_FORMAT", "text", "text or json", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })
	add("shutdown-timeout", "TELLTALE_SHUTDOWN_TIMEOUT", "30s", "how long running work may finish on shutdown before it is cancelled", false, s, g)
	s, g = integer(func(c *Config) *int { return &c.Workers }, 1)
	add("workers", "TELLTALE_WORKERS", "4", "units of scheduled work this node runs at once", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.WorkLease })
	add("work-lease", "TELLTALE_WORK_LEASE", "1m", "how long a claim on a unit of work lasts unrenewed: the work of a killed node moves to the others within about this long (set the same on every node)", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.WorkPoll })
	add("work-poll", "TELLTALE_WORK_POLL", "1s", "how often an idle node looks for due work (with PostgreSQL, nodes also wake each other at once: work-notify)", false, s, g)
	bsn, bgn := boolean(func(c *Config) *bool { return &c.WorkNotify })
	add("work-notify", "TELLTALE_WORK_NOTIFY", "true", "PostgreSQL: a node that schedules work now (a push notification) wakes the node that runs it with NOTIFY, over one extra connection per node doing LISTEN; false behind a PgBouncer in transaction pooling mode (then work-poll bounds the delay)", false, bsn, bgn)
	s, g = dur(func(c *Config) *time.Duration { return &c.PollInterval })
	add("poll-interval", "TELLTALE_POLL_INTERVAL", "5m", "how often monitored services are checked for new files and activity (R3.3)", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.DiscoveryEvery })
	add("discovery-interval", "TELLTALE_DISCOVERY_INTERVAL", "0s", "how often connections look for new drives; 0 uses each service's default (Box 5m, Google Drive and OneDrive 8h, R3.4)", false, s, g)
	s, g = integer(func(c *Config) *int { return &c.HashWorkers }, 1)
	add("hash-workers", "TELLTALE_HASH_WORKERS", "4", "files hashed at once (R3.10)", false, s, g)
	s, g = sizeSetting(func(c *Config) *int64 { return &c.HashMaxSize })
	add("hash-max-size", "TELLTALE_HASH_MAX_SIZE", "1GiB", "largest file whose content is hashed; bigger files keep only the vendor's hash (R3.10)", false, s, g)
	s, g = sizeSetting(func(c *Config) *int64 { return &c.ImportMaxSize })
	add("import-max-size", "TELLTALE_IMPORT_MAX_SIZE", "4GiB", "largest file of exported vendor records one import accepts (telltale connections import); it is spooled to the data dir and checked whole before anything is stored", false, s, g)
	s, g = str(func(c *Config) *string { return &c.PublicURL })
	add("public-url", "TELLTALE_PUBLIC_URL", "", "this node's URL as vendors reach it (HTTPS on 443 for Box); when set, connections register webhooks to cut latency and polling stays the safety net (R3.3); empty: polling only", false, s, g)
	bs0, bg0 := boolean(func(c *Config) *bool { return &c.AllowLoopback })
	add("allow-loopback-vendors", "TELLTALE_ALLOW_LOOPBACK_VENDORS", "false", "let vendor API URLs point at loopback addresses (the built-in emulators); keep false in production", false, bs0, bg0)
	s, g = dur(func(c *Config) *time.Duration { return &c.Retention })
	add("retention", "TELLTALE_RETENTION", "90d", "default time a deauthorized connection and its data are kept before deletion (R1.8); the settings API overrides it", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.EventRetention })
	add("event-retention", "TELLTALE_EVENT_RETENTION", "0", "age (by time observed) past which events are removed, whole months at a time on PostgreSQL; events a case on legal hold keeps stay; 0: keep events as long as their connection", false, s, g)
	// Drive limits are the connectors' to declare (Spec.DriveLimit); these override them.
	s, g = integer(func(c *Config) *int { return &c.DriveLimitBox }, 0)
	add("drive-limit-box", "TELLTALE_DRIVE_LIMIT_BOX", "0", "maximum user drives per Box connection (R1.9); 0: the connector's (500000)", false, s, g)
	s, g = integer(func(c *Config) *int { return &c.DriveLimitGoog }, 0)
	add("drive-limit-google-drive", "TELLTALE_DRIVE_LIMIT_GOOGLE_DRIVE", "0", "maximum drives per Google Drive connection (R1.9); 0: the connector's", false, s, g)
	s, g = integer(func(c *Config) *int { return &c.DriveLimitOne }, 0)
	add("drive-limit-onedrive", "TELLTALE_DRIVE_LIMIT_ONEDRIVE", "0", "maximum drives per OneDrive connection (R1.9); 0: the connector's", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.SessionTTL })
	add("session-ttl", "TELLTALE_SESSION_TTL", "12h", "how long a console session lasts", false, s, g)
	s, g = str(func(c *Config) *string { return &c.SSOProviders })
	add("sso-providers", "TELLTALE_SSO_PROVIDERS", "", "path of the JSON file of identity providers (OpenID Connect or SAML 2.0) people sign in through, with their group-to-role mappings (docs/OPERATIONS.md); empty: local accounts only", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.SSOSessionTTL })
	add("sso-session-ttl", "TELLTALE_SSO_SESSION_TTL", "8h", "how long a console session opened through an identity provider lasts: a person whose groups no longer map to a role loses access at the next sign-in and within this time", false, s, g)
	bs, bg := boolean(func(c *Config) *bool { return &c.TrustProxy })
	add("trust-proxy", "TELLTALE_TRUST_PROXY", "false", "take the client address from X-Forwarded-For (only behind a proxy you run)", false, bs, bg)
	s, g = str(func(c *Config) *string { return &c.DebugListen })
	add("debug-listen", "TELLTALE_DEBUG_LISTEN", "", "loopback address (e.g. 127.0.0.1:6060) serving Go's pprof profiles at /debug/pprof/ for performance work; empty: off", false, s, g)
	s, g = str(func(c *Config) *string { return &c.AgentVersion })
	add("agent-version", "TELLTALE_AGENT_VERSION", "", "the endpoint agent version devices should run: devices reporting an older one are flagged outdated (R8.2); empty: this server's own version", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.AgentCheckIn })
	add("agent-checkin-interval", "TELLTALE_AGENT_CHECKIN_INTERVAL", "1m", "how often endpoint agents check in (the server tells them at enrolment and in every answer)", false, s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.DeviceSilent })
	add("device-silent-after", "TELLTALE_DEVICE_SILENT_AFTER", "24h", "an active device whose last check-in is older than this is flagged silent (R8.2)", false, s, g)
	s, g = integer(func(c *Config) *int { return &c.EnrollRate }, 1)
	add("enroll-rate", "TELLTALE_ENROLL_RATE", "30", "agent enrolments allowed per minute from one source address; more are refused with 429 and Retry-After", false, s, g)
	return out
}

// Default returns the configuration with every default applied.
func Default() Config {
	var c Config
	for _, s := range Settings() {
		if err := s.set(&c, s.Default); err != nil {
			panic("config: bad default for " + s.Name + ": " + err.Error())
		}
	}
	return c
}

// Bind registers a flag for every setting on fs. Flag defaults show the built-in default.
func Bind(fs *pflag.FlagSet) {
	fs.String("config", "", "optional file of KEY=value lines (TELLTALE_* names); env and flags override it")
	for _, s := range Settings() {
		fs.String(s.Name, s.Default, s.Help+" (env "+s.Env+")")
	}
}

// Load builds the configuration: defaults, then the optional file, then the environment (and *_FILE
// variables for secrets and the database URL), then flags that were set explicitly.
// getenv is os.Getenv in production, a map lookup in tests.
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	c := Default()
	settings := Settings()
	var errs []error
	apply := func(s Setting, v, from string) {
		if err := s.set(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", s.Name, from, err))
		}
	}
	file := getenv("TELLTALE_CONFIG")
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			file = f.Value.String()
		}
	}
	if file != "" {
		kv, err := readFile(file)
		if err != nil {
			return Config{}, err
		}
		for _, s := range settings {
			if v, ok := kv[s.Env]; ok {
				apply(s, v, file)
				delete(kv, s.Env)
			}
		}
		for k := range kv {
			errs = append(errs, fmt.Errorf("%s: unknown setting %s; see `telltale serve --help` for the list", file, k))
		}
		c.File = file
	}
	for _, s := range settings {
		if v := getenv(s.Env); v != "" {
			apply(s, v, s.Env)
		}
		if s.Secret || s.Env == "TELLTALE_DATABASE" {
			if p := getenv(s.Env + "_FILE"); p != "" {
				b, err := os.ReadFile(p)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s_FILE: %w", s.Env, err))
				} else {
					apply(s, strings.TrimSpace(string(b)), s.Env+"_FILE")
				}
			}
		}
	}
	if fs != nil {
		for _, s := range settings {
			if f := fs.Lookup(s.Name); f != nil && f.Changed {
				apply(s, f.Value.String(), "--"+s.Name)
			}
		}
	}
	if err := c.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return c, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Database != "" && c.Database != "sqlite" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		errs = append(errs, fmt.Errorf("database: want empty (SQLite) or a postgres:// URL"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level: want debug, info, warn or error, got %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log-format: want text or json, got %q", c.LogFormat))
	}
	if c.DataDir == "" {
		errs = append(errs, fmt.Errorf("data-dir: must not be empty"))
	} else if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	if c.WorkPoll < 10*time.Millisecond || c.WorkPoll > 10*time.Minute {
		errs = append(errs, fmt.Errorf("work-poll: want 10ms to 10m, got %s", FormatDuration(c.WorkPoll)))
	}
	if c.WorkLease < time.Second || c.WorkLease > time.Hour {
		errs = append(errs, fmt.Errorf("work-lease: want 1s to 1h, got %s", FormatDuration(c.WorkLease)))
	}
	if c.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("retention: at least 1d, got %s", FormatDuration(c.Retention)))
	}
	if c.EventRetention != 0 && c.EventRetention < 31*24*time.Hour {
		errs = append(errs, fmt.Errorf("event-retention: 0 (keep) or at least 31d, got %s", FormatDuration(c.EventRetention)))
	}
	if c.AgentCheckIn < 5*time.Second || c.AgentCheckIn > 24*time.Hour {
		errs = append(errs, fmt.Errorf("agent-checkin-interval: want 5s to 24h, got %s", FormatDuration(c.AgentCheckIn)))
	}
	if c.DeviceSilent < c.AgentCheckIn {
		errs = append(errs, fmt.Errorf("device-silent-after: want at least the check-in interval (%s), got %s", FormatDuration(c.AgentCheckIn), FormatDuration(c.DeviceSilent)))
	}
	if c.DebugListen != "" {
		// Profiles reveal memory contents: never on a routable address.
		host, _, err := net.SplitHostPort(c.DebugListen)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			errs = append(errs, fmt.Errorf("debug-listen: want a loopback host:port such as 127.0.0.1:6060, got %q (profiles expose memory; they are never served on other addresses)", c.DebugListen))
		}
	}
	return errors.Join(errs...)
}

// OldKeys splits SecretOldKeys.
func (c Config) OldKeys() []string {
	var out []string
	for _, k := range strings.Split(c.SecretOldKeys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// UsesPostgres reports whether the PostgreSQL driver is configured.
func (c Config) UsesPostgres() bool {
	return strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://")
}

// Dump lists every setting with its value, secrets redacted, for logs and `telltale config`.
func (c Config) Dump() []string {
	var out []string
	for _, s := range Settings() {
		v := s.get(&c)
		if s.Secret && v != "" {
			v = "[redacted]"
		}
		out = append(out, s.Env+"="+v)
	}
	sort.Strings(out)
	return out
}

func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config: %s line %d: want KEY=value, got %q", path, n, line)
		}
		kv[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return kv, sc.Err()
}

// ParseDuration accepts Go durations plus a "d" suffix for days ("90d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	if i := strings.Index(s, "d"); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err == nil && n >= 0 {
			rest, err := time.ParseDuration(s[i+1:])
			if err == nil {
				return time.Duration(n)*24*time.Hour + rest, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s, 5m, 12h or 90d, got %q", s)
	}
	return d, nil
}

// FormatDuration prints whole days as "90d" and anything else as Go does.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}
