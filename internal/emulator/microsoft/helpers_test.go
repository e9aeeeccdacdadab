package microsoft

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/telltale-dev/telltale/internal/clock"
)

// exchange is one recorded HTTP exchange with the emulator.
type exchange struct {
	method, path, query string
	reqHeader           http.Header
	status              int
	header              http.Header
	body                []byte
}

// recorder is a RoundTripper that keeps every exchange; every test's answers are validated
// against Graph's CSDL and Entra ID's token answers when the test ends (see spec_test.go).
type recorder struct {
	mu  sync.Mutex
	got []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	r.mu.Lock()
	r.got = append(r.got, exchange{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, reqHeader: req.Header.Clone(), status: resp.StatusCode, header: resp.Header, body: b})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) all() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.got...)
}

type harness struct {
	t   *testing.T
	emu *Emulator
	srv *httptest.Server
	clk *clock.Fake
	rec *recorder
	hc  *http.Client // records, follows no redirects
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	if o.Clock == nil {
		o.Clock = clk
	}
	if o.Users == 0 {
		o.Users = 10
	}
	if o.FilesPerUser == 0 {
		o.FilesPerUser = 6
	}
	if o.RateLimitPerMinute == 0 {
		o.RateLimitPerMinute = -1
	}
	emu := New(o)
	srv := httptest.NewServer(emu.Handler())
	rec := &recorder{}
	h := &harness{t: t, emu: emu, srv: srv, clk: clk, rec: rec,
		hc: &http.Client{Transport: rec, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
		for _, x := range rec.all() {
			if err := check(t, x); err != nil {
				t.Errorf("the emulator's answer does not match the vendor's schema: %v", err)
			}
		}
	})
	return h
}

func (h *harness) tokenURL(tenant string) string {
	return h.srv.URL + "/" + tenant + "/oauth2/v2.0/token"
}

// client is a Graph client as connectors build it: clientcredentials with AuthStyleInParams.
func (h *harness) client() *http.Client {
	cfg := clientcredentials.Config{ClientID: h.emu.ClientID(), ClientSecret: h.emu.ClientSecret(), TokenURL: h.tokenURL(h.emu.TenantID()),
		Scopes: []string{ScopeGraph}, AuthStyle: oauth2.AuthStyleInParams}
	c := cfg.Client(context.WithValue(context.Background(), oauth2.HTTPClient, h.hc))
	c.CheckRedirect = h.hc.CheckRedirect
	return c
}

// token asks the token endpoint with form values over the defaults (the emulator's app, Graph).
func (h *harness) token(tenant string, set map[string]string) (int, map[string]any) {
	h.t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {h.emu.ClientID()}, "client_secret": {h.emu.ClientSecret()}, "scope": {ScopeGraph}}
	for k, v := range set {
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
	}
	resp, err := h.hc.PostForm(h.tokenURL(tenant), f)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, m
}

// bearer returns a fresh Graph access token.
func (h *harness) bearer() string {
	h.t.Helper()
	st, m := h.token(h.emu.TenantID(), nil)
	if st != 200 {
		h.t.Fatalf("token: %d %v", st, m)
	}
	return m["access_token"].(string)
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// get sends GET url (absolute, or a path under the server) with client c.
func (h *harness) get(c *http.Client, u string, hdr ...string) answer {
	h.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = h.srv.URL + u
	}
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			h.t.Fatalf("GET %s: %v", u, err)
		}
	}
	return a
}

// getAs sends GET with a raw bearer token.
func (h *harness) getAs(tok, u string) answer {
	return h.get(h.hc, u, "Authorization", "Bearer "+tok)
}

// errCode is the Graph error code of an answer.
func (a answer) errCode() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (a answer) errMessage() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (a answer) values() []map[string]any {
	var out []map[string]any
	for _, v := range a.body["value"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

// licensed returns an enabled, licensed user but the admin.
func (h *harness) licensed() User {
	for _, u := range h.emu.Users()[1:] {
		if u.Enabled && u.Licensed {
			return u
		}
	}
	h.t.Fatal("no licensed user")
	return User{}
}
