package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/crewjam/saml"
	"golang.org/x/oauth2"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/store"
)

// Skew is how far the provider's clock may be off: an ID token issued up to Skew in the future
// or expired up to Skew ago is accepted.
const Skew = 2 * time.Minute

// stateTTL is how long a person has at the provider's sign-in page.
const stateTTL = 10 * time.Minute

// maxTokenAge refuses ID tokens issued long before the code exchange that returned them.
const maxTokenAge = stateTTL

// Kinds of Error.
const (
	KindUnavailable = "unavailable" // the provider is down or answered garbage
	KindState       = "state"       // unknown, used, expired or another browser's state
	KindRefused     = "refused"     // the provider refused, or its answer failed a check
)

// Error is a sign-in that did not work: Message is for the person on the sign-in page, Reason
// for the audit log and the server log.
type Error struct {
	Kind    string
	Message string
	Reason  string
}

func (e *Error) Error() string { return "sso: " + e.Reason }

func fail(kind, msg, format string, a ...any) *Error {
	return &Error{Kind: kind, Message: msg, Reason: fmt.Sprintf(format, a...)}
}

// Identity is who the provider says signed in.
type Identity struct {
	Provider string // the provider's id
	Subject  string
	Username string
	Email    string
	Name     string
	Groups   []string
}

// Options configure a Manager.
type Options struct {
	Providers []ProviderConfig
	Store     store.Store
	Clock     clock.Clock
	Log       *slog.Logger
	// PublicURL is this server's URL as browsers reach it; the default redirect URLs are built
	// from it. "" derives them from each request (behind no proxy only).
	PublicURL string
	// HTTPClient talks to the providers; nil is a client with a 15-second timeout whose
	// connections go through Guard.
	HTTPClient *http.Client
	// Guard keeps the providers' URLs (admin-typed) away from addresses it refuses; nil: none.
	Guard *httpx.Guard
}

// Manager runs sign-ins through the configured providers.
type Manager struct {
	o     Options
	byID  map[string]*provider
	order []*provider
}

type provider struct {
	cfg ProviderConfig

	mu  sync.Mutex
	op  *gooidc.Provider       // OIDC: discovered on first use; retried while it fails
	idp *saml.EntityDescriptor // SAML: the metadata from its URL, fetched on first use
}

// New returns a Manager of the providers.
func New(o Options) *Manager {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second}
		if o.Guard != nil {
			o.HTTPClient.Transport = o.Guard.Transport()
		}
	}
	m := &Manager{o: o, byID: map[string]*provider{}}
	for _, c := range o.Providers {
		p := &provider{cfg: c}
		m.byID[c.ID] = p
		m.order = append(m.order, p)
	}
	return m
}

// Info is a provider as the sign-in page shows it.
type Info struct{ ID, Name string }

// Providers lists the providers in the file's order.
func (m *Manager) Providers() []Info {
	if m == nil {
		return nil
	}
	out := make([]Info, 0, len(m.order))
	for _, p := range m.order {
		out = append(out, Info{ID: p.cfg.ID, Name: p.cfg.Name})
	}
	return out
}

// Config returns a provider's configuration.
func (m *Manager) Config(id string) (ProviderConfig, bool) {
	if m == nil {
		return ProviderConfig{}, false
	}
	p, ok := m.byID[id]
	if !ok {
		return ProviderConfig{}, false
	}
	return p.cfg, true
}

func (m *Manager) ctx(ctx context.Context) context.Context {
	return gooidc.ClientContext(ctx, m.o.HTTPClient)
}

// discover fetches the provider's discovery document once it answers.
func (m *Manager) discover(ctx context.Context, p *provider) (*gooidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.op != nil {
		return p.op, nil
	}
	// The key set go-oidc builds lives on in the provider: it must not end with this request.
	op, err := gooidc.NewProvider(m.ctx(context.WithoutCancel(ctx)), p.cfg.Issuer)
	if err != nil {
		return nil, fail(KindUnavailable, fmt.Sprintf("%s cannot be reached or did not answer as an OpenID provider; try again later, or sign in with a local account if you have one.", p.cfg.Name),
			"discovery of %s failed: %v", p.cfg.Issuer, err)
	}
	p.op = op
	return op, nil
}

func (m *Manager) provider(id string) (*provider, error) {
	if m == nil || m.byID[id] == nil {
		return nil, fail(KindRefused, "There is no identity provider with that name here.", "unknown provider %q", id)
	}
	return m.byID[id], nil
}

// RedirectURL is the callback URL of provider id for a request r: for SAML, the assertion
// consumer service (ACS) URL.
func (m *Manager) RedirectURL(id string, r *http.Request) string {
	if m == nil {
		return ""
	}
	p, ok := m.byID[id]
	if ok && p.cfg.RedirectURL != "" {
		return p.cfg.RedirectURL
	}
	end := "/callback"
	if ok && p.cfg.Protocol == ProtocolSAML {
		end = "/acs"
	}
	base := strings.TrimSuffix(m.o.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/login/sso/" + url.PathEscape(id) + end
}

func (m *Manager) oauth(p *provider, op *gooidc.Provider, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: op.Endpoint(), RedirectURL: redirect,
		Scopes: append([]string{gooidc.ScopeOpenID}, p.cfg.Scopes...)}
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Start begins a sign-in through provider id: it returns the provider's authorization URL to
// send the browser to, and the secret to keep in the browser's cookie until the callback. next
// must already be a safe local path.
func (m *Manager) Start(ctx context.Context, id, redirect, next string) (authURL, browser string, err error) {
	p, err := m.provider(id)
	if err != nil {
		return "", "", err
	}
	if p.cfg.Protocol == ProtocolSAML {
		return m.startSAML(ctx, p, redirect, next)
	}
	op, err := m.discover(ctx, p)
	if err != nil {
		return "", "", err
	}
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	browser = random()
	st := store.SSOState{Hash: hash(state), Provider: id, Browser: hash(browser), Nonce: nonce, Verifier: verifier, Next: next,
		ExpiresAt: m.o.Clock.Now().Add(stateTTL)}
	if err := m.o.Store.CreateSSOState(ctx, st); err != nil {
		return "", "", fmt.Errorf("sso: start: %w", err)
	}
	return m.oauth(p, op, redirect).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)), browser, nil
}

// Finish completes a sign-in at the callback of provider id with the callback's query and the
// browser's cookie secret. It returns who signed in and where they were going. Every failure is
// an *Error.
func (m *Manager) Finish(ctx context.Context, id, redirect string, q url.Values, browser string) (Identity, string, error) {
	p, err := m.provider(id)
	if err != nil {
		return Identity{}, "", err
	}
	if p.cfg.Protocol == ProtocolSAML {
		return Identity{}, "", fail(KindRefused, "That identity provider uses SAML: its answer comes to another address.", "OIDC callback of SAML provider %q", id)
	}
	expired := fmt.Sprintf("This sign-in with %s expired, was already used or was started in another browser: start again.", p.cfg.Name)
	state := q.Get("state")
	if state == "" {
		return Identity{}, "", fail(KindState, expired, "callback without state")
	}
	// Taken once, whatever follows: a replayed state finds nothing.
	st, err := m.o.Store.TakeSSOState(ctx, hash(state), m.o.Clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, "", fail(KindState, expired, "unknown, used or expired state")
	}
	if err != nil {
		return Identity{}, "", fmt.Errorf("sso: finish: %w", err)
	}
	if st.Provider != id {
		return Identity{}, "", fail(KindState, expired, "state of provider %q came back to %q", st.Provider, id)
	}
	if browser == "" || subtle.ConstantTimeCompare(hash(browser), st.Browser) != 1 {
		return Identity{}, "", fail(KindState, expired, "state not bound to this browser (cookie missing or different)")
	}
	if e := q.Get("error"); e != "" {
		d := q.Get("error_description")
		return Identity{}, st.Next, fail(KindRefused, fmt.Sprintf("%s refused the sign-in: %s.", p.cfg.Name, firstNonEmpty(d, e)), "provider answered %s: %s", e, d)
	}
	op, err := m.discover(ctx, p)
	if err != nil {
		return Identity{}, st.Next, err
	}
	tok, err := m.oauth(p, op, redirect).Exchange(m.ctx(ctx), q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 && re.ErrorCode != "" {
			return Identity{}, st.Next, fail(KindRefused, fmt.Sprintf("%s refused to complete the sign-in (%s): start again.", p.cfg.Name, re.ErrorCode), "code exchange refused: %v", err)
		}
		return Identity{}, st.Next, fail(KindUnavailable, fmt.Sprintf("%s did not complete the sign-in: it cannot be reached or answered garbage. Try again later, or sign in with a local account if you have one.", p.cfg.Name),
			"code exchange failed: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, st.Next, fail(KindRefused, fmt.Sprintf("%s sent no ID token.", p.cfg.Name), "token response without id_token")
	}
	x, err := m.verify(ctx, p, op, raw, st.Nonce)
	if err != nil {
		return Identity{}, st.Next, err
	}
	return x, st.Next, nil
}

// verify checks an ID token and reads the identity from its claims.
func (m *Manager) verify(ctx context.Context, p *provider, op *gooidc.Provider, raw, nonce string) (Identity, error) {
	bad := func(format string, a ...any) error {
		return fail(KindRefused, fmt.Sprintf("The ID token from %s failed a check, so nobody was signed in; an admin can find the reason in the server log and the audit log.", p.cfg.Name), format, a...)
	}
	now := m.o.Clock.Now()
	v := op.Verifier(&gooidc.Config{ClientID: p.cfg.ClientID, Now: func() time.Time { return now.Add(-Skew) },
		// Asymmetric algorithms only, whatever the discovery document says: "none" and HS256
		// (a MAC keyed with the public key) never pass.
		SupportedSigningAlgs: []string{gooidc.RS256, gooidc.RS384, gooidc.RS512, gooidc.ES256, gooidc.ES384, gooidc.ES512, gooidc.PS256, gooidc.PS384, gooidc.PS512, gooidc.EdDSA}})
	t, err := v.Verify(m.ctx(context.WithoutCancel(ctx)), raw)
	if err != nil {
		return Identity{}, bad("ID token refused: %v", err)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(t.Nonce), []byte(nonce)) != 1 {
		return Identity{}, bad("ID token nonce does not match the sign-in's")
	}
	if t.IssuedAt.IsZero() || t.IssuedAt.After(now.Add(Skew)) || t.IssuedAt.Before(now.Add(-maxTokenAge-Skew)) {
		return Identity{}, bad("ID token issued at %s, not within %s of now (%s)", t.IssuedAt.Format(time.RFC3339), maxTokenAge, now.Format(time.RFC3339))
	}
	var c map[string]any
	if err := t.Claims(&c); err != nil {
		return Identity{}, bad("ID token claims: %v", err)
	}
	x := Identity{Provider: p.cfg.ID, Subject: t.Subject, Email: str(c[p.cfg.Claims.Email]), Name: str(c[p.cfg.Claims.Name])}
	if x.Subject == "" {
		return Identity{}, bad("ID token without sub")
	}
	if p.cfg.Claims.Username != "" {
		x.Username = str(c[p.cfg.Claims.Username])
	} else {
		x.Username = firstNonEmpty(str(c["preferred_username"]), x.Email)
	}
	switch g := c[p.cfg.Claims.Groups].(type) {
	case []any:
		for _, v := range g {
			if s := str(v); s != "" {
				x.Groups = append(x.Groups, s)
			}
		}
	case string: // one group
		if g = strings.TrimSpace(g); g != "" {
			x.Groups = []string{g}
		}
	}
	return x, nil
}

func str(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

func firstNonEmpty(a ...string) string {
	for _, s := range a {
		if s != "" {
			return s
		}
	}
	return ""
}
