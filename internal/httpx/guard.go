package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is wrapped by every refusal of the SSRF guard.
var ErrBlocked = errors.New("httpx: address refused by the SSRF guard")

// Resolver looks up a host's addresses; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard keeps requests to admin-typed URLs away from the machine itself, internal networks and cloud metadata.
// Its zero value refuses all of them. The guarded transport checks the address actually dialed (after DNS, on
// every dial, so also after redirects), which DNS rebinding cannot get around.
type Guard struct {
	AllowLoopback bool           // allow 127.0.0.0/8 and ::1 (tests, a vendor emulator on the same host)
	AllowPrivate  bool           // allow 10/8, 172.16/12, 192.168/16, 100.64/10 and fc00::/7
	Allow         []netip.Prefix // allow these ranges whatever the rules say (the only way to reach link-local)
	Resolver      Resolver       // nil: net.DefaultResolver; tests inject one
}

type rangeKind int

const (
	kindLoopback rangeKind = iota
	kindPrivate
	kindNever
)

type blockedRange struct {
	prefix netip.Prefix
	name   string
	kind   rangeKind
}

var blockedRanges = []blockedRange{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback", kindLoopback},
	{netip.MustParsePrefix("::1/128"), "loopback", kindLoopback},
	{netip.MustParsePrefix("10.0.0.0/8"), "private network", kindPrivate},
	{netip.MustParsePrefix("172.16.0.0/12"), "private network", kindPrivate},
	{netip.MustParsePrefix("192.168.0.0/16"), "private network", kindPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (carrier-grade NAT)", kindPrivate},
	{netip.MustParsePrefix("fc00::/7"), "unique local (private) network", kindPrivate},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (where cloud metadata services live)", kindNever},
	{netip.MustParsePrefix("fe80::/10"), "link-local", kindNever},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (\"this host\")", kindNever},
	{netip.MustParsePrefix("::/128"), "unspecified (\"this host\")", kindNever},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast", kindNever},
	{netip.MustParsePrefix("ff00::/8"), "multicast", kindNever},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (and broadcast)", kindNever},
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// CheckAddr tells whether the guard lets a connection go to ip; the error names the rule and how to change it.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: no valid address to check", ErrBlocked)
	}
	ip = ip.WithZone("").Unmap()
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return nil
		}
	}
	if ip.Is6() {
		// IPv4 addresses embedded in NAT64 and 6to4 addresses reach the IPv4 host they name.
		b := ip.As16()
		switch {
		case nat64Prefix.Contains(ip):
			if err := g.CheckAddr(netip.AddrFrom4([4]byte(b[12:16]))); err != nil {
				return fmt.Errorf("%w (embedded in NAT64 address %s)", err, ip)
			}
		case sixToFour.Contains(ip):
			if err := g.CheckAddr(netip.AddrFrom4([4]byte(b[2:6]))); err != nil {
				return fmt.Errorf("%w (embedded in 6to4 address %s)", err, ip)
			}
		}
	}
	for _, r := range blockedRanges {
		if !r.prefix.Contains(ip) {
			continue
		}
		switch {
		case r.kind == kindLoopback && g.AllowLoopback, r.kind == kindPrivate && g.AllowPrivate:
			return nil
		case r.kind == kindLoopback:
			return fmt.Errorf("%w: %s is a %s address (%s): the URL must name a host outside this machine; loopback is allowed only for tests and local emulators", ErrBlocked, ip, r.name, r.prefix)
		case r.kind == kindPrivate:
			return fmt.Errorf("%w: %s is in a %s (%s): the URL must name a public host", ErrBlocked, ip, r.name, r.prefix)
		default:
			return fmt.Errorf("%w: %s is a %s address (%s), which is never reached unless its range is listed in the guard's Allow", ErrBlocked, ip, r.name, r.prefix)
		}
	}
	return nil
}

// CheckURL is CheckURLContext with a 10-second limit on the DNS lookup.
func (g *Guard) CheckURL(raw string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return g.CheckURLContext(ctx, raw)
}

// CheckURLContext checks an admin-typed URL before it is saved or used: scheme http or https, no user info, a
// host, and every address the host resolves to allowed by the guard. It is an early, friendly check; the guarded
// transport checks again on every dial.
func (g *Guard) CheckURLContext(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w: the URL is not valid (%v): write it as https://host/path", ErrBlocked, err)
	}
	if err := checkURLShape(u); err != nil {
		return err
	}
	host := u.Hostname()
	addrs, err := g.resolve(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("%w: cannot resolve host %q of %s: %v: check the host name", ErrBlocked, host, redactURL(u), err)
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			return fmt.Errorf("%s: host %q resolves to a refused address: %w", redactURL(u), host, err)
		}
	}
	return nil
}

// checkURLShape refuses what no outbound URL may be: another scheme, user info, no host.
func checkURLShape(u *url.URL) error {
	switch u.Scheme {
	case "http", "https":
	default:
		return fmt.Errorf("%w: scheme %q is not allowed: the URL must start with https:// (or http://)", ErrBlocked, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s carries user info (user:password@): put credentials in the connection's secret fields, not in the URL", ErrBlocked, redactURL(u))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: the URL has no host: write it as https://host/path", ErrBlocked)
	}
	return nil
}

func (g *Guard) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if isLocalhostName(host) {
		// RFC 6761 6.3: localhost names are loopback, whatever a resolver (or a hosts file) says;
		// answering here also keeps the check free of network lookups.
		switch network {
		case "ip4":
			return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
		case "ip6":
			return []netip.Addr{netip.IPv6Loopback()}, nil
		}
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}, nil
	}
	var r Resolver = net.DefaultResolver
	if g.Resolver != nil {
		r = g.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("no addresses for %q", host)
	}
	return addrs, nil
}

// isLocalhostName reports "localhost" and names under ".localhost" (any case, with or without the final dot).
func isLocalhostName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// Transport returns a clone of http.DefaultTransport that resolves each host itself, refuses the dial when any
// address is refused by the guard, dials the checked address (so a second DNS answer cannot differ), checks the
// socket's address once more before connecting, and never uses an HTTP proxy (a proxy would hide the target).
func (g *Guard) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	d := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot read dialed address %q", ErrBlocked, address)
			}
			return g.CheckAddr(ap.Addr())
		},
	}
	t.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		host, portStr, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port in %q: %w", address, err)
		}
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		addrs, err := g.resolve(ctx, ipNet, host)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		for _, a := range addrs {
			if err := g.CheckAddr(a); err != nil {
				return nil, fmt.Errorf("host %q: %w", host, err)
			}
		}
		var firstErr error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
			if err == nil {
				return c, nil
			}
			if firstErr == nil {
				firstErr = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, firstErr
	}
	return t
}
