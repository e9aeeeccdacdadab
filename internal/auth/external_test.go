package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLoginExternal: JIT creation, role from groups, the SSO session lifetime, no mapped group,
// a name taken by a local account, and a local sign-in recording the last sign-in.
func TestLoginExternal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x := External{Provider: "okta", ProviderName: "Okta", Subject: "00u1", Username: "ada@corp.example", Name: "Ada",
		Groups: []string{"tt-readers"}, Role: RoleReadOnly, RoleGroup: "tt-readers", MappedGroups: []string{"tt-readers"}}
	p, cookie, err := f.svc.LoginExternal(ctx, x, "192.0.2.1", 0)
	if err != nil || p.Role != RoleReadOnly {
		t.Fatalf("first sign-in %+v %v", p, err)
	}
	sess, _ := f.st.GetSession(ctx, HashToken(cookie))
	if sess.ExpiresAt.Sub(f.clk.Now()) != DefaultSSOSessionTTL {
		t.Errorf("session lasts %s", sess.ExpiresAt.Sub(f.clk.Now()))
	}
	// Password sign-in and password changes do not apply to provider users.
	if _, _, err := f.svc.Login(ctx, "ada@corp.example", "", "192.0.2.1"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("password sign-in of an SSO user: %v", err)
	}
	if err := f.svc.SetPassword(ctx, p.UserID, "correct horse battery staple"); !errors.Is(err, ErrInvalid) {
		t.Errorf("admin reset of an SSO user's password: %v", err)
	}
	x.Groups, x.Role, x.RoleGroup = nil, "", ""
	_, _, err = f.svc.LoginExternal(ctx, x, "192.0.2.1", time.Hour)
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrUnauthenticated) || !strings.Contains(re.Message, `you are in no groups`) || !strings.Contains(re.Message, `"tt-readers"`) {
		t.Fatalf("no mapped group: %v", err)
	}
	if _, err := f.svc.AuthenticateSession(ctx, cookie); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("the session outlived the lost mapping: %v", err)
	}
	if _, err := f.svc.CreateUser(ctx, "bob", "", RoleAdmin, "correct horse battery", false); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.LoginExternal(ctx, External{Provider: "okta", Subject: "00u2", Username: "BOB", Role: RoleAdmin, RoleGroup: "g"}, "192.0.2.1", 0)
	if !errors.As(err, &re) || !strings.Contains(re.Message, "belongs to another Telltale account") {
		t.Fatalf("taken name: %v", err)
	}
	f.clk.Advance(time.Minute)
	if _, _, err := f.svc.Login(ctx, "bob", "correct horse battery", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.st.GetUserByUsername(ctx, "bob"); !u.LastSignInAt.Equal(f.clk.Now()) || u.Provider != "" {
		t.Errorf("local sign-in %+v", u)
	}
}

// TestSSOSessionEndsAfterItsTime: a session opened through an identity provider lasts the SSO
// session time it was given, and no longer, even if the person never signs in again (their
// groups may have stopped mapping to a role at the provider meanwhile); 0 is the 8-hour default.
func TestSSOSessionEndsAfterItsTime(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x := External{Provider: "okta", ProviderName: "Okta", Subject: "00u1", Username: "ada@corp.example",
		Groups: []string{"tt-analysts"}, Role: RoleAnalyst, RoleGroup: "tt-analysts", MappedGroups: []string{"tt-analysts"}}
	for _, c := range []struct {
		ttl, lasts time.Duration
	}{{90 * time.Minute, 90 * time.Minute}, {0, DefaultSSOSessionTTL}} {
		_, cookie, err := f.svc.LoginExternal(ctx, x, "192.0.2.1", c.ttl)
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(c.lasts - time.Second)
		if _, err := f.svc.AuthenticateSession(ctx, cookie); err != nil {
			t.Errorf("ttl %s: the session ended before %s: %v", c.ttl, c.lasts, err)
		}
		f.clk.Advance(time.Second)
		if _, err := f.svc.AuthenticateSession(ctx, cookie); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("ttl %s: the session outlived %s: %v", c.ttl, c.lasts, err)
		}
	}
}
