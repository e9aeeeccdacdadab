package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/drive/v3"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/telltale-dev/telltale/internal/clock"
)

// exchange is one recorded HTTP exchange with the emulator.
type exchange struct {
	method, path, query string
	status              int
	header              http.Header
	body                []byte
}

// recorder is a RoundTripper that keeps every exchange; every test's answers are validated
// against the discovery documents when the test ends (see spec_test.go).
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
	r.got = append(r.got, exchange{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, status: resp.StatusCode, header: resp.Header, body: b})
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
	hc  *http.Client
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
	h := &harness{t: t, emu: emu, srv: srv, clk: clk, rec: rec, hc: &http.Client{Transport: rec}}
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
		for _, x := range rec.all() {
			if err := check(t, x); err != nil {
				t.Errorf("the emulator's answer does not match Google's schema: %v", err)
			}
		}
	})
	return h
}

func (h *harness) tokenURL() string { return h.srv.URL + "/token" }

// client is an HTTP client whose tokens come from the emulator's service account key, impersonating
// subject with scopes (the JWT bearer grant with domain-wide delegation, as connectors use it).
func (h *harness) client(subject string, scopes ...string) *http.Client {
	return h.clientWithKey(h.emu.ServiceAccountKey(h.tokenURL()), subject, scopes...)
}

func (h *harness) clientWithKey(key []byte, subject string, scopes ...string) *http.Client {
	h.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{ScopeDriveReadonly, ScopeDirectoryUserRO, ScopeDirectoryGroupRO, ScopeDirectoryMemberRO}
	}
	cfg, err := googleoauth.JWTConfigFromJSON(key, scopes...)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.Subject = subject
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, h.hc)
	return cfg.Client(ctx)
}

func (h *harness) drive(subject string, scopes ...string) *drive.Service {
	h.t.Helper()
	s, err := drive.NewService(context.Background(), option.WithEndpoint(h.srv.URL+"/drive/v3/"), option.WithHTTPClient(h.client(subject, scopes...)))
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) admin(subject string) *admin.Service {
	h.t.Helper()
	s, err := admin.NewService(context.Background(), option.WithEndpoint(h.srv.URL), option.WithHTTPClient(h.client(subject)))
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) adminEmail() string { return h.emu.Users()[0].Email }

// active returns the active users but the admin.
func (h *harness) active() []User {
	var out []User
	for _, u := range h.emu.Users()[1:] {
		if !u.Suspended && !u.Archived {
			out = append(out, u)
		}
	}
	return out
}

// lastBody is the raw body of the last recorded answer to a path ending in suffix.
func (h *harness) lastBody(suffix string) map[string]any {
	h.t.Helper()
	all := h.rec.all()
	for i := len(all) - 1; i >= 0; i-- {
		if strings.HasSuffix(all[i].path, suffix) {
			var m map[string]any
			if err := json.Unmarshal(all[i].body, &m); err != nil {
				h.t.Fatalf("%s: %v", all[i].path, err)
			}
			return m
		}
	}
	h.t.Fatalf("no answer to %s recorded", suffix)
	return nil
}

// apiErr asserts err is a Google API error with code and reason.
func apiErr(t *testing.T, err error, code int, reason string) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		t.Fatalf("want a %d %s googleapi.Error, got %v", code, reason, err)
	}
	if ge.Code != code || (reason != "" && (len(ge.Errors) == 0 || ge.Errors[0].Reason != reason)) {
		t.Fatalf("want %d %s, got %d %+v", code, reason, ge.Code, ge.Errors)
	}
	return ge
}

// changes reads a user's (or a drive's) changes from tok to the end.
func changesFrom(t *testing.T, s *drive.Service, tok, driveID string) ([]*drive.Change, string) {
	t.Helper()
	var out []*drive.Change
	for guard := 0; guard < 1000; guard++ {
		call := s.Changes.List(tok).PageSize(1000).Fields("*")
		if driveID != "" {
			call = call.DriveId(driveID).SupportsAllDrives(true).IncludeItemsFromAllDrives(true)
		}
		cl, err := call.Do()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cl.Changes...)
		if cl.NewStartPageToken != "" {
			return out, cl.NewStartPageToken
		}
		tok = cl.NextPageToken
	}
	t.Fatal("changes never ended")
	return nil, ""
}

func fileIDs(ch []*drive.Change) []string {
	var out []string
	for _, c := range ch {
		s := c.FileId
		if c.Removed {
			s += "(removed)"
		}
		out = append(out, s)
	}
	return out
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ = fmt.Sprint

func clockAt() *clock.Fake { return clock.NewFake(t0) }

// gmail is a Gmail client acting as subject (gmail.readonly unless scopes are given); Gmail takes
// the host root as its endpoint.
func (h *harness) gmail(subject string, scopes ...string) *gmail.Service {
	h.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{ScopeGmailReadonly}
	}
	s, err := gmail.NewService(context.Background(), option.WithEndpoint(h.srv.URL+"/"), option.WithHTTPClient(h.client(subject, scopes...)))
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}
