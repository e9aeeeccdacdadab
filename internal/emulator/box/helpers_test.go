package box

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
)

// exchange is one recorded HTTP exchange with the emulator.
type exchange struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

// recorder is a RoundTripper that keeps every exchange (the spec test validates them).
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
	r.got = append(r.got, exchange{method: req.Method, path: req.URL.Path, status: resp.StatusCode, header: resp.Header, body: b})
	r.mu.Unlock()
	return resp, nil
}

type harness struct {
	t    *testing.T
	emu  *Emulator
	srv  *httptest.Server
	clk  *clock.Fake
	rec  *recorder
	hc   *http.Client
	tok  string // enterprise token
	opts Options
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	if o.Clock == nil {
		o.Clock = clk
	}
	if o.Users == 0 {
		o.Users = 8
	}
	if o.FilesPerUser == 0 {
		o.FilesPerUser = 5
	}
	if o.RateLimitPerMinute == 0 {
		o.RateLimitPerMinute = -1
	}
	emu := New(o)
	srv := httptest.NewServer(emu.Handler())
	rec := &recorder{}
	h := &harness{t: t, emu: emu, srv: srv, clk: clk, rec: rec, opts: o,
		hc: &http.Client{Transport: rec, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
		// Every answer any test got must match Box's spec (see spec_test.go).
		rec.mu.Lock()
		defer rec.mu.Unlock()
		spec := boxSpec(t)
		for _, x := range rec.got {
			if err := check(spec, x); err != nil {
				t.Errorf("the emulator's answer does not match Box's spec: %v", err)
			}
		}
	})
	if !o.DenyApp {
		h.tok = h.token("enterprise", "900001")
	}
	return h
}

func (h *harness) token(subjectType, subjectID string) string {
	h.t.Helper()
	status, body := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"emu-client-id"},
		"client_secret": {"emu-client-secret"}, "box_subject_type": {subjectType}, "box_subject_id": {subjectID}})
	if status != 200 {
		h.t.Fatalf("token for %s %s: %d %s", subjectType, subjectID, status, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(body, &tr)
	return tr.AccessToken
}

func (h *harness) postForm(path string, f url.Values) (int, []byte) {
	h.t.Helper()
	resp, err := h.hc.PostForm(h.srv.URL+path, f)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// do sends a request with the enterprise token (tok "" = h.tok; "-" = none) and an optional as-user.
func (h *harness) do(method, path, tok, asUser string, body io.Reader) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if tok == "" {
		tok = h.tok
	}
	if tok != "-" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if asUser != "" {
		req.Header.Set("As-User", asUser)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// get decodes a JSON answer into a generic map and returns the status.
func (h *harness) get(path, asUser string) (int, map[string]any, http.Header) {
	h.t.Helper()
	resp := h.do("GET", path, "", asUser, nil)
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			h.t.Fatalf("GET %s: %d not JSON: %q", path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, m, resp.Header
}

func (h *harness) mustGet(path, asUser string) map[string]any {
	h.t.Helper()
	st, m, _ := h.get(path, asUser)
	if st != 200 {
		h.t.Fatalf("GET %s as %q: %d %v", path, asUser, st, m)
	}
	return m
}

func entries(m map[string]any) []map[string]any {
	var out []map[string]any
	for _, e := range m["entries"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// activeUsers returns the active managed users other than the admin.
func (h *harness) activeUsers() []User {
	var out []User
	for _, u := range h.emu.Users()[1:] {
		if u.Status == "active" {
			out = append(out, u)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
