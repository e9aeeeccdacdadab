package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
	"github.com/telltale-dev/telltale/internal/testutil/syncbuf"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=2,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash format: %s", h)
	}
	p, err := parsePHC(h)
	if err != nil || p.memory != 65536 || p.time != 2 || p.threads != 2 || len(p.salt) != 16 || len(p.key) != 32 {
		t.Fatalf("parse: %+v %v", p, err)
	}
	if ok, err := VerifyPassword(h, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	if ok, err := VerifyPassword(h, "correct horse battery stapler"); ok || err != nil {
		t.Fatalf("wrong password verified: %v %v", ok, err)
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h2 == h {
		t.Fatal("same salt twice")
	}
	// Parameters are read from the string, not assumed.
	cheap := "$argon2id$v=19$m=1024,t=1,p=1$" + strings.SplitN(h, "$", 6)[4] + "$"
	if _, err := VerifyPassword(cheap+"AAAA", "x"); err == nil {
		t.Fatal("short hash accepted")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=65536,t=2,p=2$c2FsdA$aGFzaA", "$argon2id$v=18$m=65536,t=2,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=x,t=2,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := VerifyPassword(bad, "x"); err == nil {
			t.Errorf("VerifyPassword(%q) accepted", bad)
		}
	}
}

func TestPasswordParamsFromString(t *testing.T) {
	// A hash made with other parameters still verifies.
	salt := []byte("0123456789abcdef")
	key := argon2IDKey("pw-with-other-params", salt, 1, 1024, 1, 32)
	phc := "$argon2id$v=19$m=1024,t=1,p=1$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
	if ok, err := VerifyPassword(phc, "pw-with-other-params"); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{
		"":                   false,
		"short":              false,
		"elevenchars":        false,
		"twelve chars":       true,
		"aaaaaaaaaaaaaaaa":   false,
		"ääääääääääää":       false,
		"correct horse 1":    true,
		"aaaaaaaaaaaaaaaaab": true,
	} {
		err := CheckPasswordPolicy(pw)
		if (err == nil) != ok {
			t.Errorf("CheckPasswordPolicy(%q) = %v", pw, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("policy error does not wrap ErrInvalid: %v", err)
		}
	}
}

func TestTokenFormat(t *testing.T) {
	plain, prefix, hash := NewToken()
	if !regexp.MustCompile(`^tt_[a-z2-7]{52}$`).MatchString(plain) {
		t.Fatalf("token %q", plain)
	}
	if prefix != plain[:10] || len(hash) != 32 || string(hash) != string(HashToken(plain)) {
		t.Fatalf("prefix %q hash %x", prefix, hash)
	}
	other, _, _ := NewToken()
	if other == plain {
		t.Fatal("tokens repeat")
	}
}

func TestRoles(t *testing.T) {
	want := map[Role]map[Role]bool{
		RoleReadOnly:    {RoleReadOnly: true, RoleAnalyst: false, RoleAdmin: false},
		RoleAnalyst:     {RoleReadOnly: true, RoleAnalyst: true, RoleAdmin: false},
		RoleIntegration: {RoleReadOnly: true, RoleAnalyst: true, RoleAdmin: false},
		RoleAdmin:       {RoleReadOnly: true, RoleAnalyst: true, RoleAdmin: true},
	}
	for have, needs := range want {
		for need, ok := range needs {
			if got := have.Satisfies(need); got != ok {
				t.Errorf("%s.Satisfies(%s) = %v, want %v", have, need, got, ok)
			}
		}
	}
	if Role("root").Satisfies(RoleReadOnly) || RoleAdmin.Satisfies(Role("root")) || Role("").Satisfies(Role("")) {
		t.Error("unknown roles satisfy something")
	}
	for _, r := range roles {
		if got, err := ParseRole(string(r)); got != r || err != nil {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	_, err := ParseRole("Admin")
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("ParseRole(Admin) = %v", err)
	}
}

type fixture struct {
	st  store.Store
	clk *clock.Fake
	svc *Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	return &fixture{st: st, clk: clk, svc: NewService(st, clk, nil, Options{SessionTTL: time.Hour})}
}

func TestCreateUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u, err := f.svc.CreateUser(ctx, "  alice@example.com ", " Alice ", RoleAnalyst, "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice@example.com" || u.Name != "Alice" || u.Role != "analyst" || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("user %+v", u)
	}
	_, err = f.svc.CreateUser(ctx, "alice@example.com", "", RoleAnalyst, "correct horse battery", false)
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), `user name "alice@example.com" is taken`) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, c := range []struct {
		name, pw string
		role     Role
	}{{"ab", "correct horse battery", RoleAnalyst}, {"bad name", "correct horse battery", RoleAnalyst},
		{"bob", "short", RoleAnalyst}, {"bob", "correct horse battery", Role("root")}} {
		if _, err := f.svc.CreateUser(ctx, c.name, "", c.role, c.pw, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateUser(%q, %q, %q) = %v, want ErrInvalid", c.name, c.pw, c.role, err)
		}
	}
	sa, err := f.svc.CreateUser(ctx, "siem", "", RoleIntegration, "ignored password", true)
	if err != nil || sa.PasswordHash != "" || !sa.ServiceAccount {
		t.Fatalf("service account %+v %v", sa, err)
	}
}

func TestAuthenticateToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u, err := f.svc.CreateUser(ctx, "svc", "", RoleIntegration, "", true)
	if err != nil {
		t.Fatal(err)
	}
	tok, plain, err := f.svc.CreateToken(ctx, u.ID, "  ", 0)
	if err != nil || tok.Name != "token" || !tok.ExpiresAt.IsZero() || tok.Prefix != plain[:10] {
		t.Fatalf("token %+v %v", tok, err)
	}
	p, err := f.svc.AuthenticateToken(ctx, plain)
	if err != nil || p.UserID != u.ID || p.Role != RoleIntegration || p.TokenID != tok.ID || p.Via != "token" || p.Username != "svc" {
		t.Fatalf("principal %+v %v", p, err)
	}
	// Last use recorded at most once a minute.
	touchedAt := func() time.Time {
		ts, err := f.st.ListTokens(ctx, u.ID)
		if err != nil || len(ts) != 1 {
			t.Fatal(ts, err)
		}
		return ts[0].LastUsedAt
	}
	first := touchedAt()
	if !first.Equal(f.clk.Now()) {
		t.Fatalf("LastUsedAt %v", first)
	}
	f.clk.Advance(30 * time.Second)
	if _, err := f.svc.AuthenticateToken(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if !touchedAt().Equal(first) {
		t.Fatal("touched twice within a minute")
	}
	f.clk.Advance(31 * time.Second)
	if _, err := f.svc.AuthenticateToken(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if !touchedAt().Equal(f.clk.Now()) {
		t.Fatal("not touched after a minute")
	}

	for _, bad := range []string{"", "tt_nope", plain + "x"} {
		if _, err := f.svc.AuthenticateToken(ctx, bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("AuthenticateToken(%q) = %v", bad, err)
		}
	}
	// Expiry.
	_, short, err := f.svc.CreateToken(ctx, u.ID, "short", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateToken(ctx, short); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Hour)
	if _, err := f.svc.AuthenticateToken(ctx, short); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("expired token: %v", err)
	}
	// Revocation.
	if err := f.svc.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateToken(ctx, plain); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("revoked token: %v", err)
	}
	// Disabled user.
	_, plain2, err := f.svc.CreateToken(ctx, u.ID, "again", 0)
	if err != nil {
		t.Fatal(err)
	}
	u, _ = f.st.GetUser(ctx, u.ID)
	u.Disabled = true
	if _, err := f.st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateToken(ctx, plain2); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("disabled user: %v", err)
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u, err := f.svc.CreateUser(ctx, "alice", "", RoleAdmin, "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUser(ctx, "robot", "", RoleIntegration, "", true); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{"alice", "wrong password!"}, {"nobody", "correct horse battery"}, {"robot", ""}} {
		if _, _, err := f.svc.Login(ctx, c[0], c[1], "192.0.2.1"); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Login(%q) = %v", c[0], err)
		}
	}
	p, cookie, err := f.svc.Login(ctx, "alice", "correct horse battery", "192.0.2.1")
	if err != nil || p.UserID != u.ID || p.Via != "session" || p.SessionCSRF == "" || len(cookie) != 43 {
		t.Fatalf("login %+v %q %v", p, cookie, err)
	}
	p2, err := f.svc.AuthenticateSession(ctx, cookie)
	if err != nil || p2.UserID != u.ID || p2.SessionCSRF != p.SessionCSRF || p2.Role != RoleAdmin || p2.Via != "session" {
		t.Fatalf("session %+v %v", p2, err)
	}
	if _, err := f.svc.AuthenticateSession(ctx, cookie+"x"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("unknown cookie: %v", err)
	}
	// Logout.
	if err := f.svc.Logout(ctx, cookie, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateSession(ctx, cookie); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after logout: %v", err)
	}
	if err := f.svc.Logout(ctx, cookie, "192.0.2.1"); err != nil {
		t.Fatalf("second logout: %v", err)
	}
	// Expiry deletes the session.
	_, cookie, err = f.svc.Login(ctx, "alice", "correct horse battery", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Hour)
	if _, err := f.svc.AuthenticateSession(ctx, cookie); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := f.st.GetSession(ctx, HashToken(cookie)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session kept: %v", err)
	}
	// Changing the password ends sessions and clears MustChangePassword.
	if err := f.svc.SetPassword(ctx, u.ID, "another good password"); err != nil {
		t.Fatal(err)
	}
	if u, _ = f.st.GetUser(ctx, u.ID); !u.MustChangePassword {
		t.Fatal("reset does not force a change")
	}
	_, cookie, err = f.svc.Login(ctx, "alice", "another good password", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ChangePassword(ctx, u.ID, "wrong current pw", "a third good password"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, u.ID, "another good password", "short"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("policy: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, u.ID, "another good password", "a third good password"); err != nil {
		t.Fatal(err)
	}
	if u, _ = f.st.GetUser(ctx, u.ID); u.MustChangePassword {
		t.Fatal("MustChangePassword not cleared")
	}
	if _, err := f.svc.AuthenticateSession(ctx, cookie); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("session survived a password change: %v", err)
	}
	// Disabled users cannot sign in.
	u.Disabled = true
	if _, err := f.st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Login(ctx, "alice", "a third good password", "192.0.2.1"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("disabled login: %v", err)
	}
}

func TestBootstrapGenerated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b, err := f.svc.Bootstrap(ctx, "")
	if err != nil || !b.Created || b.Username != "admin" || len(b.Password) != 20 || !strings.HasPrefix(b.Token, "tt_") {
		t.Fatalf("bootstrap %+v %v", b, err)
	}
	p, err := f.svc.AuthenticateToken(ctx, b.Token)
	if err != nil || p.Role != RoleAdmin {
		t.Fatalf("bootstrap token: %+v %v", p, err)
	}
	u, _ := f.st.GetUser(ctx, p.UserID)
	if !u.MustChangePassword {
		t.Fatal("first admin need not change the password")
	}
	if _, _, err := f.svc.Login(ctx, "admin", b.Password, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	b2, err := f.svc.Bootstrap(ctx, "")
	if err != nil || b2.Created || b2.Token != "" || b2.Password != "" {
		t.Fatalf("second bootstrap %+v %v", b2, err)
	}
	if n, _ := f.st.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users", n)
	}
}

func TestBootstrapEnvToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Bootstrap(ctx, "too-short-token"); err == nil || !strings.Contains(err.Error(), "at least 24") {
		t.Fatalf("short token: %v", err)
	}
	if n, _ := f.st.CountUsers(ctx); n != 0 {
		t.Fatal("short token created a user")
	}
	env := "operator-chosen-token-0123456789"
	b, err := f.svc.Bootstrap(ctx, env)
	if err != nil || !b.Created || b.Token != "" || b.Password == "" {
		t.Fatalf("bootstrap %+v %v", b, err)
	}
	if p, err := f.svc.AuthenticateToken(ctx, env); err != nil || p.Role != RoleAdmin {
		t.Fatalf("env token: %+v %v", p, err)
	}
	// Restarting with the same environment succeeds and does nothing.
	b, err = f.svc.Bootstrap(ctx, env)
	if err != nil || b.Created {
		t.Fatalf("restart %+v %v", b, err)
	}
	if ts, _ := f.st.ListTokens(ctx, 0); len(ts) != 1 {
		t.Fatalf("%d tokens", len(ts))
	}
}

func TestCheckUsername(t *testing.T) {
	for in, want := range map[string]string{
		"  alice  ":               "alice",
		"alice.smith@example.com": "alice.smith@example.com",
		"svc_splunk-01":           "svc_splunk-01",
		"ab":                      "",
		"has space":               "",
		"аdmin":                   "", // Cyrillic а
		"bob!":                    "",
		strings.Repeat("a", 254):  strings.Repeat("a", 254),
		strings.Repeat("a", 255):  "",
	} {
		got, err := CheckUsername(in)
		if want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("CheckUsername(%q) = %q, %v; want ErrInvalid", in, got, err)
			}
			continue
		}
		if got != want || err != nil {
			t.Errorf("CheckUsername(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestPolicyMessagesSayWhatToDo(t *testing.T) {
	for pw, want := range map[string]string{
		"short":                   "has 5 characters; use at least 12",
		"xxxxxxxxxxxxxxxx":        "one character repeated",
		strings.Repeat("ab", 600): "use at most 1024",
	} {
		if err := CheckPasswordPolicy(pw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPasswordPolicy(%.20q) = %v, want ~%q", pw, err, want)
		}
	}
}

// TestNoSecretsInLogs drives every path that logs and checks that no password, token, cookie or
// hash appears in the log.
func TestNoSecretsInLogs(t *testing.T) {
	f := newFixture(t)
	var logs syncbuf.Buffer
	f.svc = NewService(f.st, f.clk, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Options{})
	ctx := context.Background()
	b, err := f.svc.Bootstrap(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.svc.CreateUser(ctx, "alice", "", RoleAnalyst, "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	_, cookie, err := f.svc.Login(ctx, "alice", "correct horse battery", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Login(ctx, "alice", "wrong horse battery", "192.0.2.1")
	f.svc.Login(ctx, "my-secret-typed-as-name", "x", "192.0.2.1")
	_, tok, _ := f.svc.CreateToken(ctx, u.ID, "t", 0)
	f.svc.AuthenticateToken(ctx, tok)
	f.svc.AuthenticateToken(ctx, tok+"x")
	f.svc.Bootstrap(ctx, "an-env-token-that-is-long-enough")
	u, _ = f.st.GetUser(ctx, u.ID)
	out := logs.String()
	if !strings.Contains(out, "sign-in refused") || !strings.Contains(out, "TELLTALE_BOOTSTRAP_TOKEN is set") {
		t.Fatalf("expected log lines missing:\n%s", out)
	}
	for _, secret := range []string{b.Password, b.Token, "correct horse", "wrong horse", "my-secret-typed-as-name", cookie, tok,
		tok[len(tok)-20:], "an-env-token", u.PasswordHash, fmt.Sprintf("%x", HashToken(tok))} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret %q:\n%s", secret, out)
		}
	}
}

func TestBootstrapEnvTokenDetails(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	env := "  operator-chosen-token-0123456789\n" // as read from a *_FILE: trimmed
	if _, err := f.svc.Bootstrap(ctx, env); err != nil {
		t.Fatal(err)
	}
	ts, err := f.st.ListTokens(ctx, 0)
	if err != nil || len(ts) != 1 || ts[0].Prefix != "oper" || ts[0].Name != "bootstrap" {
		t.Fatalf("tokens %+v %v: an operator's token keeps only 4 characters in clear", ts, err)
	}
	if _, err := f.svc.AuthenticateToken(ctx, strings.TrimSpace(env)); err != nil {
		t.Fatal(err)
	}
	// A short token is refused on every start, with what to do.
	_, err = f.svc.Bootstrap(ctx, "short-token")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "TELLTALE_BOOTSTRAP_TOKEN has 11 characters; it must have at least 24") {
		t.Fatalf("short token on restart: %v", err)
	}
	// Another long token after the first start is ignored, not added.
	b, err := f.svc.Bootstrap(ctx, "a-different-token-0123456789")
	if err != nil || b.Created {
		t.Fatalf("%+v %v", b, err)
	}
	if _, err := f.svc.AuthenticateToken(ctx, "a-different-token-0123456789"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a later env token became valid: %v", err)
	}
	if n, _ := f.st.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users", n)
	}
}

// TestBootstrapTwoNodes: two nodes starting at once on one PostgreSQL create one admin.
func TestBootstrapTwoNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var svcs []*Service
	for range 2 {
		st, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svcs = append(svcs, NewService(st, clock.Real{}, nil, Options{}))
	}
	const env = "shared-bootstrap-token-0123456789"
	results := make(chan Bootstrap, 2)
	errs := make(chan error, 2)
	for _, s := range svcs {
		go func() {
			b, err := s.Bootstrap(ctx, env)
			results <- b
			errs <- err
		}()
	}
	created := 0
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if (<-results).Created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d nodes created the admin", created)
	}
	for _, s := range svcs {
		if p, err := s.AuthenticateToken(ctx, env); err != nil || p.Role != RoleAdmin {
			t.Fatalf("%+v %v", p, err)
		}
	}
}
