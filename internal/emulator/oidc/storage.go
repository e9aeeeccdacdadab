package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage implements op.Storage in memory for the emulator: one client, the users, the pending
// authorization requests and codes, the access tokens and the signing keys.

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

type authRequest struct {
	id, clientID, redirectURI, state, nonce string
	scopes                                  []string
	responseType                            zoidc.ResponseType
	responseMode                            zoidc.ResponseMode
	challenge                               *zoidc.CodeChallenge
	userID                                  string
	authTime                                time.Time
	done                                    bool
}

func (a *authRequest) GetID() string                          { return a.id }
func (a *authRequest) GetACR() string                         { return "" }
func (a *authRequest) GetAMR() []string                       { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                  { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                 { return a.authTime }
func (a *authRequest) GetClientID() string                    { return a.clientID }
func (a *authRequest) GetCodeChallenge() *zoidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                       { return a.nonce }
func (a *authRequest) GetRedirectURI() string                 { return a.redirectURI }
func (a *authRequest) GetResponseType() zoidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() zoidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                    { return a.scopes }
func (a *authRequest) GetState() string                       { return a.state }
func (a *authRequest) GetSubject() string                     { return a.userID }
func (a *authRequest) Done() bool                             { return a.done }

type client struct{ s *Server }

func (c client) GetID() string { return c.s.opt.ClientID }
func (c client) RedirectURIs() []string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return slices.Clone(c.s.redirects)
}
func (c client) PostLogoutRedirectURIs() []string    { return nil }
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c client) AuthMethod() zoidc.AuthMethod        { return zoidc.AuthMethodBasic }
func (c client) ResponseTypes() []zoidc.ResponseType {
	return []zoidc.ResponseType{zoidc.ResponseTypeCode}
}
func (c client) GrantTypes() []zoidc.GrantType        { return []zoidc.GrantType{zoidc.GrantTypeCode} }
func (c client) LoginURL(id string) string            { return "/login?authRequestID=" + id }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration       { return 5 * time.Minute }
func (c client) DevMode() bool                        { return true } // http:// redirect URIs on loopback
func (c client) IsScopeAllowed(scope string) bool     { return scope == "groups" }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true } // claims in the ID token, as Okta and Entra do
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

type storage struct{ s *Server }

var errNotFound = errors.New("not found")

func (st storage) CreateAuthRequest(_ context.Context, r *zoidc.AuthRequest, userID string) (op.AuthRequest, error) {
	if slices.Contains(r.Prompt, zoidc.PromptNone) {
		return nil, zoidc.ErrLoginRequired()
	}
	a := &authRequest{id: randomID(), clientID: r.ClientID, redirectURI: r.RedirectURI, state: r.State, nonce: r.Nonce,
		scopes: r.Scopes, responseType: r.ResponseType, responseMode: r.ResponseMode, userID: userID}
	if r.CodeChallenge != "" {
		a.challenge = &zoidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	st.s.requests[a.id] = a
	return a, nil
}

func (st storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if a, ok := st.s.requests[id]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("auth request %w", errNotFound)
}

func (st storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	st.s.mu.Lock()
	id, ok := st.s.codes[code]
	st.s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("code invalid or used")
	}
	return st.AuthRequestByID(ctx, id)
}

func (st storage) SaveAuthCode(_ context.Context, id, code string) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	st.s.codes[code] = id
	return nil
}

func (st storage) DeleteAuthRequest(_ context.Context, id string) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	delete(st.s.requests, id)
	for c, rid := range st.s.codes {
		if rid == id {
			delete(st.s.codes, c)
		}
	}
	return nil
}

func (st storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	id, exp := randomID(), time.Now().Add(5*time.Minute)
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	st.s.tokens[id] = r.GetSubject()
	return id, exp, nil
}

func (st storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("the emulator issues no refresh tokens")
}

func (st storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (st storage) TerminateSession(context.Context, string, string) error { return nil }

func (st storage) RevokeToken(_ context.Context, token, _, _ string) *zoidc.Error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	delete(st.s.tokens, token)
	return nil
}

func (st storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (st storage) SigningKey(context.Context) (op.SigningKey, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	return st.s.keys[len(st.s.keys)-1], nil
}

func (st storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (st storage) KeySet(context.Context) ([]op.Key, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	out := make([]op.Key, 0, len(st.s.keys))
	for _, k := range st.s.keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

func (st storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != st.s.opt.ClientID {
		return nil, fmt.Errorf("client %w", errNotFound)
	}
	return client{st.s}, nil
}

func (st storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != st.s.opt.ClientID || secret != st.s.opt.ClientSecret {
		return errors.New("wrong client id or secret")
	}
	return nil
}

func (st storage) SetUserinfoFromScopes(context.Context, *zoidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest puts the user's claims in the ID token: profile and email by scope, the
// groups (under the configured claim name) always, as Okta's groups filter and Entra do.
func (st storage) SetUserinfoFromRequest(_ context.Context, ui *zoidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return st.userinfo(ui, r.GetSubject(), scopes)
}

func (st storage) userinfo(ui *zoidc.UserInfo, subject string, scopes []string) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	u, ok := st.s.users[subject]
	if !ok {
		return fmt.Errorf("user %w", errNotFound)
	}
	ui.Subject = u.Subject
	if slices.Contains(scopes, zoidc.ScopeProfile) {
		ui.PreferredUsername, ui.Name = u.Username, u.Name
	}
	if slices.Contains(scopes, zoidc.ScopeEmail) {
		ui.Email, ui.EmailVerified = u.Email, true
	}
	if u.Groups != nil {
		ui.AppendClaims(st.s.opt.GroupsClaim, slices.Clone(u.Groups))
	}
	return nil
}

func (st storage) SetUserinfoFromToken(_ context.Context, ui *zoidc.UserInfo, tokenID, _, _ string) error {
	st.s.mu.Lock()
	sub, ok := st.s.tokens[tokenID]
	st.s.mu.Unlock()
	if !ok {
		return errors.New("token invalid")
	}
	return st.userinfo(ui, sub, []string{zoidc.ScopeProfile, zoidc.ScopeEmail})
}

func (st storage) SetIntrospectionFromToken(context.Context, *zoidc.IntrospectionResponse, string, string, string) error {
	return errors.New("the emulator does not introspect")
}

func (st storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (st storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("the emulator has no JWT profile keys")
}

func (st storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the emulator has no JWT profile")
}

func (st storage) Health(context.Context) error { return nil }
