package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a table; a host with several answers gives them in turn (DNS rebinding).
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	asked   map[string]int
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	as, ok := r.answers[host]
	if !ok {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	if r.asked == nil {
		r.asked = map[string]int{}
	}
	a := as[min(r.asked[host], len(as)-1)]
	r.asked[host]++
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

func TestGuardCheckAddr(t *testing.T) {
	tests := []struct {
		addr     string
		guard    Guard
		wantRule string // "" means allowed
	}{
		{"127.0.0.1", Guard{}, "loopback"},
		{"127.8.9.10", Guard{}, "loopback"},
		{"::1", Guard{}, "loopback"},
		{"::ffff:127.0.0.1", Guard{}, "loopback"},
		{"10.1.2.3", Guard{}, "private network"},
		{"172.16.0.1", Guard{}, "private network"},
		{"172.31.255.254", Guard{}, "private network"},
		{"192.168.1.1", Guard{}, "private network"},
		{"100.64.0.1", Guard{}, "carrier-grade NAT"},
		{"fc00::1", Guard{}, "unique local"},
		{"fd12:3456::1", Guard{}, "unique local"},
		{"169.254.169.254", Guard{}, "link-local"},
		{"fe80::1", Guard{}, "link-local"},
		{"fe80::1%eth0", Guard{}, "link-local"},
		{"0.0.0.0", Guard{}, "unspecified"},
		{"::", Guard{}, "unspecified"},
		{"224.0.0.1", Guard{}, "multicast"},
		{"ff02::1", Guard{}, "multicast"},
		{"255.255.255.255", Guard{}, "broadcast"},
		{"64:ff9b::a9fe:a9fe", Guard{}, "NAT64"},
		{"2002:7f00:1::1", Guard{}, "6to4"},
		// Public addresses pass (nothing is dialed here).
		{"192.0.2.1", Guard{}, ""},
		{"172.32.0.1", Guard{}, ""},
		{"2606:4700::1111", Guard{}, ""},
		// The switches.
		{"127.0.0.1", Guard{AllowLoopback: true}, ""},
		{"::1", Guard{AllowLoopback: true}, ""},
		{"10.1.2.3", Guard{AllowLoopback: true}, "private network"},
		{"10.1.2.3", Guard{AllowPrivate: true}, ""},
		{"fd00::1", Guard{AllowPrivate: true}, ""},
		{"127.0.0.1", Guard{AllowPrivate: true}, "loopback"},
		{"169.254.169.254", Guard{AllowPrivate: true, AllowLoopback: true}, "link-local"},
		{"169.254.169.254", Guard{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}, ""},
		{"10.9.9.9", Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}, ""},
		{"10.8.9.9", Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}, "private network"},
	}
	if err := (&Guard{}).CheckAddr(netip.Addr{}); !errors.Is(err, ErrBlocked) {
		t.Errorf("the zero address passed: %v", err)
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %+v", tt.addr, tt.guard), func(t *testing.T) {
			err := tt.guard.CheckAddr(netip.MustParseAddr(tt.addr))
			switch {
			case tt.wantRule == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantRule != "" && !errors.Is(err, ErrBlocked):
				t.Errorf("err = %v, want refusal naming %q", err, tt.wantRule)
			case tt.wantRule != "" && !strings.Contains(err.Error(), tt.wantRule):
				t.Errorf("error %q does not name the rule %q", err, tt.wantRule)
			}
		})
	}
}

func TestGuardCheckURL(t *testing.T) {
	res := &fakeResolver{answers: map[string][]string{
		"evil.test":     {"127.0.0.1"},
		"metadata.test": {"169.254.169.254"},
		"public.test":   {"192.0.2.1"},
	}}
	tests := []struct {
		url      string
		guard    Guard
		wantRule string
	}{
		{"https://public.test/2.0", Guard{}, ""},
		{"https://192.0.2.1:8443/x?token=abc", Guard{}, ""},
		{"ftp://public.test/", Guard{}, "scheme"},
		{"file:///etc/passwd", Guard{}, "scheme"},
		{"gopher://public.test/", Guard{}, "scheme"},
		{"https://admin:hunter2@public.test/", Guard{}, "user info"},
		{"https:///path", Guard{}, "no host"},
		{"https://evil.test/", Guard{}, "loopback"},
		{"https://metadata.test/latest/meta-data", Guard{AllowPrivate: true}, "link-local"},
		{"http://localhost:8080/", Guard{}, "loopback"}, // the system resolver's localhost
		{"http://127.0.0.1:8080/", Guard{}, "loopback"},
		{"http://[::1]:8080/", Guard{}, "loopback"},
		{"http://10.0.0.1/", Guard{}, "private network"},
		{"http://[fd00::1]/", Guard{}, "unique local"},
		{"http://0.0.0.0/", Guard{}, "unspecified"},
		{"http://evil.test:9000/", Guard{AllowLoopback: true}, ""},
		{"https://nowhere.test/", Guard{}, "cannot resolve"},
		{"https://bad host/", Guard{}, "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			g := tt.guard
			if !strings.HasPrefix(tt.url, "http://localhost") {
				g.Resolver = res // localhost goes to the system resolver
			}
			err := g.CheckURL(tt.url)
			switch {
			case tt.wantRule == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantRule != "" && !errors.Is(err, ErrBlocked):
				t.Errorf("err = %v, want refusal naming %q", err, tt.wantRule)
			case tt.wantRule != "" && !strings.Contains(err.Error(), tt.wantRule):
				t.Errorf("error %q does not name the rule %q", err, tt.wantRule)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestGuardedTransport sends real requests to a loopback test server through the guarded transport.
func TestGuardedTransport(t *testing.T) {
	srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		w.Write([]byte("reached"))
	})
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	only127001 := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	res := &fakeResolver{answers: map[string][]string{
		"rebind.test":   {"192.0.2.1", "127.0.0.1"}, // public (documentation range) for the check, loopback after
		"evil.test":     {"127.0.0.1"},
		"internal.test": {"10.0.0.5"},
	}}
	tests := []struct {
		name     string
		guard    Guard
		url      string
		wantRule string
	}{
		{"loopback refused", Guard{}, srv.URL, "loopback"},
		{"loopback allowed", Guard{AllowLoopback: true}, srv.URL, ""},
		{"allowed by prefix", Guard{Allow: only127001}, srv.URL, ""},
		{"hostname resolving to loopback", Guard{}, "http://evil.test:" + port + "/", "loopback"},
		{"system localhost", Guard{}, "http://localhost:" + port + "/", "loopback"},
		{"redirect to other loopback address", Guard{Allow: only127001}, srv.URL + "/?to=" + url.QueryEscape("http://127.0.0.2:"+port+"/"), "loopback"},
		{"redirect to private host", Guard{Allow: only127001}, srv.URL + "/?to=" + url.QueryEscape("http://internal.test/"), "private network"},
		{"redirect to file scheme", Guard{Allow: only127001}, srv.URL + "/?to=" + url.QueryEscape("file:///etc/passwd"), "scheme"},
		{"redirect to allowed address", Guard{Allow: only127001}, srv.URL + "/?to=" + url.QueryEscape(srv.URL+"/"), ""},
		{"DNS rebinding", Guard{}, "http://rebind.test:" + port + "/", "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.guard
			if !strings.Contains(tt.url, "localhost") {
				g.Resolver = res
			}
			if tt.name == "DNS rebinding" {
				// The friendly check sees the public answer and passes ...
				if err := g.CheckURL(tt.url); err != nil {
					t.Fatalf("CheckURL: %v", err)
				}
				// Every later lookup answers loopback, so the dial below can only reach this machine.
				if res.asked["rebind.test"] != 1 {
					t.Fatalf("rebind.test looked up %d times before Do, want 1", res.asked["rebind.test"])
				}
			}
			ft := newFakeTime()
			o := ft.options()
			o.Guard = &g
			before := srv.hits.Load()
			c := New(o)
			_, body, err := c.Do(context.Background(), "k", get(t, tt.url), 0)
			if tt.wantRule == "" {
				if err != nil || string(body) != "reached" {
					t.Fatalf("Do = %q, %v; want reached", body, err)
				}
				return
			}
			// ... but the dial is refused.
			if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), tt.wantRule) {
				t.Fatalf("err = %v, want a guard refusal naming %q", err, tt.wantRule)
			}
			if got := c.Stats()["k"].Requests; got != 1 {
				t.Errorf("%d attempts, want 1 (a refusal is not retried)", got)
			}
			if strings.Contains(tt.name, "redirect") {
				if n := srv.hits.Load() - before; n != 1 {
					t.Errorf("server saw %d requests, want only the redirecting one", n)
				}
			} else if n := srv.hits.Load() - before; n != 0 {
				t.Errorf("server saw %d requests, want none", n)
			}
		})
	}
}

// With a caller's own Transport the guard still checks each URL before sending.
func TestGuardWithCustomTransport(t *testing.T) {
	srv := newScript(t, ok("reached"))
	ft := newFakeTime()
	o := ft.options()
	o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	o.Guard = &Guard{}
	_, _, err := New(o).Do(context.Background(), "k", get(t, srv.URL), 0)
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v, want ErrBlocked", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
	o.Guard = &Guard{AllowLoopback: true}
	if _, body, err := New(o).Do(context.Background(), "k", get(t, srv.URL), 0); err != nil || string(body) != "reached" {
		t.Fatalf("Do = %q, %v; want reached", body, err)
	}
}

func TestGuardedTransportIgnoresProxy(t *testing.T) {
	if (&Guard{}).Transport().Proxy != nil {
		t.Error("the guarded transport uses a proxy, which would hide the dialed address")
	}
}

// TestLocalhostNamesAreLoopback: localhost and names under .localhost are loopback (RFC 6761)
// without asking any resolver, so a resolver or hosts file that says otherwise cannot open the guard,
// and checking such a URL needs no network.
func TestLocalhostNamesAreLoopback(t *testing.T) {
	res := &fakeResolver{answers: map[string][]string{"localhost": {"192.0.2.1"}, "api.localhost": {"192.0.2.1"}, "LOCALHOST.": {"192.0.2.1"}}}
	for _, u := range []string{"http://localhost:8080/", "https://api.localhost/2.0", "http://LOCALHOST./"} {
		g := Guard{Resolver: res}
		if err := g.CheckURL(u); !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want a loopback refusal", u, err)
		}
		g.AllowLoopback = true
		if err := g.CheckURL(u); err != nil {
			t.Errorf("%s with loopback allowed: %v", u, err)
		}
	}
	if len(res.asked) != 0 {
		t.Errorf("the resolver was asked about %v", res.asked)
	}
}
