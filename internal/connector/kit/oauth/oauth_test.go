package oauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// tokenServer is a loopback token endpoint that counts mints and hands out tok-1, tok-2, ...
type tokenServer struct {
	*httptest.Server
	mints atomic.Int32
	mu    sync.Mutex
	forms []url.Values
	auth  []string
	// answer, when set, writes the answer instead of a token.
	answer func(w http.ResponseWriter, form url.Values) bool
	// gate, when set, holds each mint until it is closed.
	gate chan struct{}
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm)
		ts.auth = append(ts.auth, r.Header.Get("Authorization"))
		ts.mu.Unlock()
		if ts.gate != nil {
			<-ts.gate
		}
		if ts.answer != nil && ts.answer(w, r.PostForm) {
			return
		}
		n := ts.mints.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","expires_in":3600,"token_type":"bearer"}`, n)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) lastForm() url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.forms[len(ts.forms)-1]
}

var start = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func boxSource(ts *tokenServer, clk clock.Clock, ho httpx.Options) *Source {
	return ClientCredentials(clientcredentials.Config{
		ClientID: "cid", ClientSecret: "the-client-secret", TokenURL: ts.URL + "/oauth2/token",
		AuthStyle:      oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"box_subject_type": {"enterprise"}, "box_subject_id": {"900001"}},
	}, Options{HTTP: httpx.New(ho), Key: "test:token", Clock: clk})
}

func mustToken(t *testing.T, s *Source) string {
	t.Helper()
	tok, err := s.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestCachesUntilDue: one mint serves until a tenth of the lifetime is left on the injected clock,
// then the next call mints again; the form is the client credentials grant with the vendor's extras.
func TestCachesUntilDue(t *testing.T) {
	ts := newTokenServer(t)
	clk := clock.NewFake(start)
	s := boxSource(ts, clk, httpx.Options{})
	if tok := mustToken(t, s); tok != "tok-1" {
		t.Fatalf("first token %q", tok)
	}
	f := ts.lastForm()
	want := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"the-client-secret"},
		"box_subject_type": {"enterprise"}, "box_subject_id": {"900001"}}
	if f.Encode() != want.Encode() {
		t.Errorf("form %v, want %v", f, want)
	}
	if ts.auth[0] != "" {
		t.Errorf("credentials also sent in a header: %q", ts.auth[0])
	}
	clk.Advance(3240*time.Second - time.Nanosecond) // 90 % of 3600 s, less a hair
	if tok := mustToken(t, s); tok != "tok-1" || ts.mints.Load() != 1 {
		t.Fatalf("before due: token %q after %d mints", tok, ts.mints.Load())
	}
	clk.Advance(time.Nanosecond)
	if tok := mustToken(t, s); tok != "tok-2" || ts.mints.Load() != 2 {
		t.Fatalf("when due: token %q after %d mints", tok, ts.mints.Load())
	}
}

// TestDefaultTTL: an answer without expires_in is kept for Options.DefaultTTL, less a tenth.
func TestDefaultTTL(t *testing.T) {
	ts := newTokenServer(t)
	ts.answer = func(w http.ResponseWriter, _ url.Values) bool {
		n := ts.mints.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"bearer"}`, n)
		return true
	}
	clk := clock.NewFake(start)
	s := boxSource(ts, clk, httpx.Options{})
	mustToken(t, s)
	clk.Advance(53 * time.Minute)
	if mustToken(t, s); ts.mints.Load() != 1 {
		t.Fatalf("re-minted after 53 min of a 1 h default")
	}
	clk.Advance(time.Minute)
	if tok := mustToken(t, s); tok != "tok-2" {
		t.Fatalf("not re-minted after 54 min: %q", tok)
	}
}

// TestInvalidate: a 401's token is dropped and the next call mints once; a token minted since the
// 401 is kept (two callers that saw the same 401 cause one mint).
func TestInvalidate(t *testing.T) {
	ts := newTokenServer(t)
	s := boxSource(ts, clock.NewFake(start), httpx.Options{})
	old := mustToken(t, s)
	s.Invalidate(old)
	if tok := mustToken(t, s); tok != "tok-2" {
		t.Fatalf("after Invalidate: %q", tok)
	}
	s.Invalidate(old) // the second caller of the same 401
	if tok := mustToken(t, s); tok != "tok-2" || ts.mints.Load() != 2 {
		t.Fatalf("a stale Invalidate dropped the new token: %q after %d mints", tok, ts.mints.Load())
	}
	s.Invalidate("")
	if tok := mustToken(t, s); tok != "tok-3" {
		t.Fatalf("Invalidate(\"\") kept the token: %q", tok)
	}
}

// TestSingleFlight: callers arriving while a mint is under way wait for it; the vendor sees one
// request.
func TestSingleFlight(t *testing.T) {
	ts := newTokenServer(t)
	ts.gate = make(chan struct{})
	s := boxSource(ts, clock.NewFake(start), httpx.Options{})
	const callers = 8
	got := make(chan string, callers)
	for range callers {
		go func() {
			tok, err := s.Token(context.Background())
			if err != nil {
				tok = err.Error()
			}
			got <- tok
		}()
	}
	// Wait until the one request has arrived and every caller has had time to join it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts.mu.Lock()
		n := len(ts.forms)
		ts.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no token request arrived")
		}
		time.Sleep(time.Millisecond)
	}
	close(ts.gate)
	for range callers {
		if tok := <-got; tok != "tok-1" {
			t.Errorf("a caller got %q", tok)
		}
	}
	if n := ts.mints.Load(); n != 1 {
		t.Errorf("%d mints for %d concurrent callers, want 1", n, callers)
	}
}

// TestWaiterOutlivesCancelledLeader: when the caller that is minting gives up, a waiting caller
// whose context is alive mints for itself instead of failing with the other's cancellation.
func TestWaiterOutlivesCancelledLeader(t *testing.T) {
	ts := newTokenServer(t)
	ts.gate = make(chan struct{})
	s := boxSource(ts, clock.NewFake(start), httpx.Options{MaxRetries: -1})
	ctx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() { _, err := s.Token(ctx); leaderDone <- err }()
	for s.inFlight() == nil {
		time.Sleep(time.Millisecond)
	}
	waiter := make(chan string, 1)
	go func() {
		tok, err := s.Token(context.Background())
		if err != nil {
			tok = err.Error()
		}
		waiter <- tok
	}()
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want context.Canceled", err)
	}
	close(ts.gate)
	if tok := <-waiter; !strings.HasPrefix(tok, "tok-") {
		t.Fatalf("waiter: %q", tok)
	}
}

func (s *Source) inFlight() *mint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flight
}

// TestFailures: a refusal wraps connector.ErrAuth with the vendor's error and description; a
// vendor outage or throttle is httpx's error, not the admin's; an answer without a token is
// malformed.
func TestFailures(t *testing.T) {
	oauthErr := func(status int, code, desc string) func(w http.ResponseWriter, _ url.Values) bool {
		return func(w http.ResponseWriter, _ url.Values) bool {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if code != "" {
				json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
			}
			return true
		}
	}
	for _, c := range []struct {
		name       string
		answer     func(w http.ResponseWriter, _ url.Values) bool
		auth       bool
		code, desc string
		status     int
		malformed  bool
	}{
		{name: "bad secret", answer: oauthErr(401, "invalid_client", "AADSTS7000215: Invalid client secret provided."), auth: true, code: "invalid_client", desc: "AADSTS7000215: Invalid client secret provided.", status: 401},
		{name: "Box refusal", answer: oauthErr(400, "unauthorized_client", "This app is not authorized by the enterprise admin"), auth: true, code: "unauthorized_client", desc: "This app is not authorized by the enterprise admin", status: 400},
		{name: "bare 403", answer: oauthErr(403, "", ""), auth: true, status: 403},
		{name: "error code on a 200", answer: oauthErr(200, "invalid_grant", "Grant credentials are invalid"), auth: true, code: "invalid_grant", desc: "Grant credentials are invalid", status: 200},
		{name: "outage", answer: oauthErr(503, "temporarily_unavailable", "down"), status: 503},
		{name: "throttle", answer: oauthErr(429, "", ""), status: 429},
		{name: "no access_token", answer: func(w http.ResponseWriter, _ url.Values) bool {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token_type":"bearer","expires_in":3600}`)
			return true
		}, malformed: true},
		{name: "not JSON", answer: func(w http.ResponseWriter, _ url.Values) bool {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `<html>`)
			return true
		}, malformed: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := newTokenServer(t)
			ts.answer = c.answer
			s := boxSource(ts, clock.NewFake(start), httpx.Options{MaxRetries: -1})
			_, err := s.Token(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, connector.ErrAuth) != c.auth {
				t.Errorf("%v: ErrAuth %v, want %v", err, !c.auth, c.auth)
			}
			if errors.Is(err, connector.ErrMalformed) != c.malformed {
				t.Errorf("%v: ErrMalformed %v, want %v", err, !c.malformed, c.malformed)
			}
			if strings.Contains(err.Error(), "the-client-secret") {
				t.Errorf("the error shows the secret: %v", err)
			}
			var re *RefusedError
			if c.auth {
				if !errors.As(err, &re) || re.Code != c.code || re.Description != c.desc || re.Status != c.status {
					t.Fatalf("%#v, want code %q desc %q status %d", re, c.code, c.desc, c.status)
				}
				var oe *oauth2.RetrieveError
				if !errors.As(err, &oe) {
					t.Errorf("%v does not carry the oauth2.RetrieveError", err)
				}
			} else if errors.As(err, &re) {
				t.Errorf("%v is a refusal", err)
			}
			var se *httpx.StatusError
			if c.status >= 300 && (!errors.As(err, &se) || se.Code != c.status) {
				t.Errorf("%v does not carry httpx's %d answer", err, c.status)
			}
		})
	}
}

// TestThroughHTTPX: the token request is httpx's: its guard refuses an address it does not allow,
// and the token server never sees the request.
func TestThroughHTTPX(t *testing.T) {
	ts := newTokenServer(t)
	s := boxSource(ts, clock.NewFake(start), httpx.Options{Guard: &httpx.Guard{}, MaxRetries: -1})
	_, err := s.Token(context.Background())
	if err == nil || errors.Is(err, connector.ErrAuth) {
		t.Fatalf("guarded loopback token URL: %v", err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.forms) != 0 {
		t.Fatalf("the request reached the server past the guard")
	}
}

// TestJWT: the JWT bearer grant signs an assertion the server verifies with the service account's
// public key, naming the account (iss), the delegated user (sub), the scopes and the token URL (aud).
func TestJWT(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	ts := newTokenServer(t)
	var claims map[string]any
	var verr error
	ts.answer = func(w http.ResponseWriter, f url.Values) bool {
		claims, verr = verifyAssertion(&key.PublicKey, f)
		if verr != nil {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
			return true
		}
		if claims["sub"] == "outsider@example.org" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."}`)
			return true
		}
		return false
	}
	source := func(sub string) *Source {
		return JWT(jwt.Config{Email: "telltale@project.iam.gserviceaccount.com", PrivateKey: pemKey, PrivateKeyID: "kid-1",
			Subject: sub, Scopes: []string{"https://www.googleapis.com/auth/drive.readonly", "https://www.googleapis.com/auth/admin.reports.audit.readonly"},
			TokenURL: ts.URL + "/oauth2/token"}, Options{HTTP: httpx.New(httpx.Options{MaxRetries: -1}), Clock: clock.NewFake(start)})
	}
	if tok := mustToken(t, source("alice@example.com")); tok != "tok-1" {
		t.Fatalf("token %q", tok)
	}
	if verr != nil {
		t.Fatal(verr)
	}
	for k, want := range map[string]any{
		"iss":   "telltale@project.iam.gserviceaccount.com",
		"sub":   "alice@example.com",
		"prn":   "alice@example.com",
		"scope": "https://www.googleapis.com/auth/drive.readonly https://www.googleapis.com/auth/admin.reports.audit.readonly",
		"aud":   ts.URL + "/oauth2/token",
	} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if g := ts.lastForm().Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		t.Errorf("grant_type %q", g)
	}

	_, err = source("outsider@example.org").Token(context.Background())
	var re *RefusedError
	if !errors.Is(err, connector.ErrAuth) || !errors.As(err, &re) || re.Code != "unauthorized_client" || !strings.Contains(re.Description, "not authorized") {
		t.Fatalf("delegation refused: %v", err)
	}

	bad := JWT(jwt.Config{Email: "x", PrivateKey: []byte("not a key"), TokenURL: ts.URL + "/oauth2/token"},
		Options{HTTP: httpx.New(httpx.Options{})})
	if _, err := bad.Token(context.Background()); !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("unreadable private key: %v, want ErrAuth", err)
	}
}

// verifyAssertion checks an RS256 JWT bearer assertion's signature and returns its claims.
func verifyAssertion(pub *rsa.PublicKey, f url.Values) (map[string]any, error) {
	parts := strings.Split(f.Get("assertion"), ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("assertion has %d parts", len(parts))
	}
	var header map[string]any
	if err := decodeSegment(parts[0], &header); err != nil {
		return nil, err
	}
	if header["alg"] != "RS256" || header["kid"] != "kid-1" {
		return nil, fmt.Errorf("header %v", header)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, err
	}
	return claims, nil
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
