// Package oidc is an OpenID provider for tests and the demo, built on zitadel/oidc's op package
// (discovery, authorization code flow with PKCE, token endpoint, JWKS, userinfo): the protocol is
// the library's, not hand-written token JSON. The emulator adds what tests need around it: users
// with passwords and groups, a sign-in page a browser can fill, a configurable groups claim, key
// rotation, and a hook that rewrites the ID token of a token response (for the bad-input tests:
// op mints only correct tokens, so a test mints a bad one with go-jose, using SigningKey when it
// must look genuine, and hands it out through the hook).
package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a person at the provider.
type User struct {
	Subject  string // the stable "sub"; defaults to the user name
	Username string // preferred_username, typed on the sign-in page
	Password string
	Email    string
	Name     string
	Groups   []string // nil: no groups claim at all
}

// Options configure an emulator.
type Options struct {
	ClientID     string // default "telltale"
	ClientSecret string // default "telltale-secret"
	GroupsClaim  string // the claim carrying the groups; default "groups"
	RedirectURIs []string
	Users        []User
}

// Server is a running OpenID provider on loopback.
type Server struct {
	URL string // the issuer, http://127.0.0.1:port

	opt  Options
	http *httptest.Server
	op   *op.Provider

	mu        sync.Mutex
	users     map[string]User // by subject
	redirects []string
	requests  map[string]*authRequest
	codes     map[string]string // code -> auth request id
	tokens    map[string]string // access token id -> subject
	keys      []*signingKey     // the last one signs; all are published
	hook      func(idToken string) string
	garbage   bool
}

// Start runs a provider on 127.0.0.1 and a random port.
func Start(o Options) (*Server, error) {
	if o.ClientID == "" {
		o.ClientID = "telltale"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "telltale-secret"
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = "groups"
	}
	s := &Server{opt: o, users: map[string]User{}, redirects: append([]string(nil), o.RedirectURIs...),
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]string{}}
	for _, u := range o.Users {
		s.SetUser(u)
	}
	s.RotateKey()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + ln.Addr().String()
	var ck [32]byte
	_, _ = rand.Read(ck[:])
	s.op, err = op.NewProvider(&op.Config{CryptoKey: ck, CodeMethodS256: true, AuthMethodPost: true,
		SupportedScopes: []string{"openid", "profile", "email", "groups"}},
		storage{s}, op.StaticIssuer(s.URL), op.WithAllowInsecure())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("oidc emulator: %w", err)
	}
	mux := http.NewServeMux()
	ic := op.NewIssuerInterceptor(s.op.IssuerFromRequest)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.Handle("POST /login", ic.HandlerFunc(s.login))
	mux.Handle("/", s.tokenHook(s.op))
	s.http = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	s.http.Start()
	return s, nil
}

// Close stops the provider.
func (s *Server) Close() { s.http.Close() }

// ClientID and ClientSecret are the one client's credentials.
func (s *Server) ClientID() string     { return s.opt.ClientID }
func (s *Server) ClientSecret() string { return s.opt.ClientSecret }

// SetUser adds or replaces a user (by subject): change Groups to move someone between groups.
func (s *Server) SetUser(u User) {
	if u.Subject == "" {
		u.Subject = u.Username
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Subject] = u
}

// AllowRedirect registers another redirect URI of the client.
func (s *Server) AllowRedirect(uri string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirects = append(s.redirects, uri)
}

// RotateKey makes a new RSA key the signing key; the old ones stay in the JWKS until DropOldKeys.
func (s *Server) RotateKey() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, &signingKey{id: randomID()[:12], key: k})
}

// DropOldKeys removes every key but the signing key from the JWKS.
func (s *Server) DropOldKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = s.keys[len(s.keys)-1:]
}

// SigningKey returns the current signing key and its key id, for tests that mint tokens.
func (s *Server) SigningKey() (kid string, key *rsa.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[len(s.keys)-1]
	return k.id, k.key
}

// SetIDTokenHook makes the token endpoint answer with f(the genuine ID token) instead of it; nil
// turns the hook off.
func (s *Server) SetIDTokenHook(f func(idToken string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = f
}

// AnswerGarbage makes every endpoint of the provider (discovery, token, keys) answer 200 with
// a body that is not JSON, as a broken proxy in front of a provider does; false undoes it.
func (s *Server) AnswerGarbage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.garbage = on
}

// tokenHook rewrites the id_token of successful token responses when a hook is set.
func (s *Server) tokenHook(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		hook, garbage := s.hook, s.garbage
		s.mu.Unlock()
		if garbage {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body>502 Bad Gateway{"))
			return
		}
		if hook == nil || r.URL.Path != "/oauth/token" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var m map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &m) == nil {
			if t, ok := m["id_token"].(string); ok {
				m["id_token"] = hook(t)
				body, _ = json.Marshal(m)
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><title>Emulated IdP sign-in</title></head><body>
<h1>Emulated identity provider</h1>
{{if .Error}}<p id="idp-error">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label>User name <input id="idp-username" name="username" autocomplete="username"></label>
<label>Password <input id="idp-password" name="password" type="password"></label>
<button id="idp-submit" type="submit">Sign in</button>
</form></body></html>`))

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r.URL.Query().Get("authRequestID"), "")
}

func (s *Server) renderLogin(w http.ResponseWriter, id, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if msg != "" {
		w.WriteHeader(http.StatusUnauthorized)
	}
	loginTmpl.Execute(w, struct{ ID, Error string }{id, msg})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, name, pw := r.PostFormValue("id"), strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	s.mu.Lock()
	req, ok := s.requests[id]
	var user *User
	for _, u := range s.users {
		if strings.EqualFold(u.Username, name) && u.Password == pw {
			user = &u
			break
		}
	}
	if ok && user != nil {
		req.userID, req.authTime, req.done = user.Subject, time.Now(), true
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.renderLogin(w, id, "This sign-in request is unknown or finished; start again from the application.")
	case user == nil:
		s.renderLogin(w, id, "Wrong user name or password.")
	default:
		http.Redirect(w, r, op.AuthCallbackURL(s.op)(r.Context(), id), http.StatusFound)
	}
}
