package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/telltale-dev/telltale/internal/httpx"
)

// Syslog transports.
const (
	SyslogTCP = "tcp" // RFC 6587 octet counting
	SyslogTLS = "tls" // RFC 5425: octet counting over TLS
	SyslogUDP = "udp" // RFC 5426: one message per datagram
)

// SDID is the structured-data element every message carries: [telltale@32473 event_id="..."].
// 32473 is the enterprise number RFC 5612 reserves for documentation; Telltale has none of its own.
const SDID = "telltale@32473"

// SyslogOptions configure a syslog sink.
type SyslogOptions struct {
	Address   string // host:port
	Transport string // tcp, tls or udp
	Hostname  string // HOSTNAME of the messages; default "telltale"
	AppName   string // APP-NAME; default "telltale"
	Facility  int    // default 13 (log audit)
	// CA is a PEM bundle to trust for TLS besides the system's; ServerName overrides the name checked.
	CA         []byte
	ServerName string
	Guard      *httpx.Guard
	Timeout    time.Duration // dial and write, default 30 s
	// MaxUDP bounds a datagram (default 8,192 bytes; longer messages are truncated, as RFC 5426
	// allows, and counted).
	MaxUDP int
}

type syslogSink struct {
	o    SyslogOptions
	raw  net.Conn // the TCP connection under TLS (conn itself otherwise)
	conn net.Conn
	w    *bufio.Writer
	buf  []byte
}

// NewSyslog returns a syslog sink (RFC 5424 messages).
func NewSyslog(o SyslogOptions) Sink {
	if o.Hostname == "" {
		o.Hostname = "telltale"
	}
	if o.AppName == "" {
		o.AppName = "telltale"
	}
	if o.Facility == 0 {
		o.Facility = 13
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxUDP <= 0 {
		o.MaxUDP = 8192
	}
	return &syslogSink{o: o}
}

func (s *syslogSink) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn, s.w, s.raw = nil, nil, nil
	return err
}

// dial connects through the SSRF guard: every resolved address is checked before and at the dial.
func (s *syslogSink) dial(ctx context.Context) error {
	if s.conn != nil {
		if s.o.Transport == SyslogUDP || s.alive() {
			return nil
		}
		s.Close()
	}
	host, port, err := net.SplitHostPort(s.o.Address)
	if err != nil || host == "" || port == "" {
		return permanent("syslog: address %q is not host:port (e.g. siem.example.com:6514)", s.o.Address)
	}
	guard := s.o.Guard
	if guard == nil {
		guard = &httpx.Guard{}
	}
	network := "tcp"
	if s.o.Transport == SyslogUDP {
		network = "udp"
	}
	d := &net.Dialer{Timeout: s.o.Timeout, KeepAlive: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: cannot read dialed address %q", httpx.ErrBlocked, address)
		}
		return guard.CheckAddr(ap.Addr())
	}}
	if err := guard.CheckURLContext(ctx, "http://"+net.JoinHostPort(host, port)); err != nil {
		return permanent("syslog: %v", err)
	}
	c, err := d.DialContext(ctx, network, s.o.Address)
	if err != nil {
		if errors.Is(err, httpx.ErrBlocked) {
			return permanent("syslog: %v", err)
		}
		return transient("syslog: cannot connect to %s over %s: %v: retried with backoff", s.o.Address, s.o.Transport, err)
	}
	s.raw = c
	if s.o.Transport == SyslogTLS {
		cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if s.o.ServerName != "" {
			cfg.ServerName = s.o.ServerName
		}
		if len(s.o.CA) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(s.o.CA) {
				c.Close()
				return permanent("syslog: the CA bundle holds no PEM certificate")
			}
			cfg.RootCAs = pool
		}
		tc := tls.Client(c, cfg)
		hctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			var ce *tls.CertificateVerificationError
			if errors.As(err, &ce) {
				return permanent("syslog: TLS: the server's certificate is not trusted (%v): add its CA to the destination", err)
			}
			return transient("syslog: TLS handshake with %s failed: %v", s.o.Address, err)
		}
		c = tc
	}
	s.conn = c
	s.w = bufio.NewWriterSize(c, 256<<10)
	return nil
}

func (s *syslogSink) Check(ctx context.Context) error {
	defer s.Close()
	return s.dial(ctx)
}

// alive tells whether the receiver still holds the connection open. Syslog over TCP has no
// acknowledgement, so a batch written into a connection the receiver has closed would vanish in
// the socket buffers: before each batch the sender looks at the connection (the receiver never
// sends, so a closed connection reads end of stream) and reconnects when closed.
func (s *syslogSink) alive() bool { return !peerClosed(s.raw) }

// deadlinePeerClosed is the portable check: a read with a 1 ms deadline. It can answer "open"
// for a closed connection when the goroutine is descheduled past the deadline before the read,
// which the unix check (peerClosed) cannot.
func deadlinePeerClosed(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

// Send writes each record as an RFC 5424 message: octet-counted on TCP and TLS, one datagram on
// UDP. TCP has no application-level acknowledgement: a batch counts as delivered once written and
// flushed to the socket without error; a broken connection fails the batch, which is sent again
// on a new connection (the receiver may see some of its messages twice, each with its event_id).
func (s *syslogSink) Send(ctx context.Context, recs []Record) error {
	if err := s.dial(ctx); err != nil {
		return err
	}
	dl := time.Now().Add(s.o.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = s.conn.SetWriteDeadline(dl)
	for _, r := range recs {
		s.buf = s.message(s.buf[:0], r)
		var err error
		if s.o.Transport == SyslogUDP {
			msg := s.buf
			if len(msg) > s.o.MaxUDP {
				msg = msg[:s.o.MaxUDP]
			}
			_, err = s.conn.Write(msg)
		} else {
			_, err = s.w.WriteString(strconv.Itoa(len(s.buf)))
			if err == nil {
				err = s.w.WriteByte(' ')
			}
			if err == nil {
				_, err = s.w.Write(s.buf)
			}
		}
		if err != nil {
			s.Close()
			return transient("syslog: writing to %s: %v: the batch is sent again on a new connection", s.o.Address, err)
		}
	}
	if s.w != nil && s.o.Transport != SyslogUDP {
		if err := s.w.Flush(); err != nil {
			s.Close()
			return transient("syslog: writing to %s: %v: the batch is sent again on a new connection", s.o.Address, err)
		}
	}
	return nil
}

// severity of a record: notice (5) for every file event; the risk is inside the payload.
const syslogSeverity = 5

// message appends the RFC 5424 message of r: PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
// [SD] MSG, with MSGID the record's class and the event id in structured data.
func (s *syslogSink) message(b []byte, r Record) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.o.Facility*8+syslogSeverity), 10)
	b = append(b, ">1 "...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, header(s.o.Hostname, 255)...)
	b = append(b, ' ')
	b = append(b, header(s.o.AppName, 48)...)
	b = append(b, " - "...)
	b = append(b, header(r.Class, 32)...)
	b = append(b, " ["...)
	b = append(b, SDID...)
	b = append(b, ' ')
	b = append(b, r.idName()...)
	b = append(b, `="`...)
	b = strconv.AppendInt(b, r.ID, 10)
	if r.Updated {
		b = append(b, `" updated="true`...)
	}
	b = append(b, `"] `...)
	b = append(b, r.Body...)
	return b
}

// header makes a header field: printable US-ASCII without spaces, at most n characters, "-" when empty.
func header(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	if s == "" {
		return "-"
	}
	return s
}
