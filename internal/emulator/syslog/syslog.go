// Package syslog is a syslog receiver for tests, benchmarks and demo mode: RFC 5424 messages over
// TCP with RFC 6587 octet-counting framing (optionally TLS, RFC 5425) and over UDP (RFC 5426). It
// parses every message with a strict RFC 5424 parser (parse.go), keeps what it received (bounded),
// counts each event by the event_id parameter of the telltale@32473 structured-data element, and
// counts what it could not parse. ParseCEF parses the CEF payloads.
package syslog

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
)

// Receiver listens for syslog messages.
type Receiver struct {
	tcp  net.Listener
	udp  net.PacketConn
	wg   sync.WaitGroup
	mu   sync.Mutex
	msgs []Message
	keep int
	errs []string
	bits bitset

	count   int64
	repeats int64
	bad     int64
	conns   map[net.Conn]bool
	closed  bool
}

// Listen starts a receiver on loopback: TCP (TLS when cfg is not nil) and UDP on free ports.
func Listen(cfg *tls.Config) (*Receiver, error) {
	r := &Receiver{keep: 10_000, conns: map[net.Conn]bool{}}
	var err error
	if cfg != nil {
		r.tcp, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		r.tcp, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, err
	}
	if r.udp, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		r.tcp.Close()
		return nil, err
	}
	r.wg.Add(2)
	go r.acceptLoop()
	go r.udpLoop()
	return r, nil
}

// TCPAddr and UDPAddr are where the receiver listens.
func (r *Receiver) TCPAddr() string { return r.tcp.Addr().String() }
func (r *Receiver) UDPAddr() string { return r.udp.LocalAddr().String() }

// SetKeep bounds how many messages Messages keeps (counting goes on).
func (r *Receiver) SetKeep(n int) { r.mu.Lock(); r.keep = n; r.mu.Unlock() }

// Close stops listening and closes every connection.
func (r *Receiver) Close() error {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.tcp.Close()
	r.udp.Close()
	r.wg.Wait()
	return nil
}

// DropConnections closes the open TCP connections (a receiver restart, as the sender sees it).
func (r *Receiver) DropConnections() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.Close()
	}
}

// Stats are what the receiver got.
type Stats struct {
	Messages int64 // parsed messages, repeats included
	Distinct int64 // distinct event ids
	Repeats  int64
	Bad      int64 // messages or frames that did not parse
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Messages: r.count, Distinct: r.bits.count, Repeats: r.repeats, Bad: r.bad}
}

// Messages returns the kept messages.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// Errors returns the parse errors seen (at most 100).
func (r *Receiver) Errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// Seen reports whether event id arrived.
func (r *Receiver) Seen(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bits.has(id)
}

func (r *Receiver) record(b []byte) {
	m, err := Parse(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad++
		if len(r.errs) < 100 {
			r.errs = append(r.errs, err.Error())
		}
		return
	}
	r.count++
	if id, err := strconv.ParseInt(m.SD["telltale@32473"]["event_id"], 10, 64); err == nil {
		if r.bits.has(id) {
			r.repeats++
		} else {
			r.bits.add(id)
		}
	}
	if len(r.msgs) < r.keep {
		r.msgs = append(r.msgs, m)
	}
}

func (r *Receiver) fail(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad++
	if len(r.errs) < 100 {
		r.errs = append(r.errs, what)
	}
}

func (r *Receiver) acceptLoop() {
	defer r.wg.Done()
	for {
		c, err := r.tcp.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.conns[c] = true
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { r.mu.Lock(); delete(r.conns, c); r.mu.Unlock(); c.Close() }()
			r.readFrames(c)
		}()
	}
}

// maxFrame bounds one message (RFC 5425 says receivers should accept 8 KiB at least).
const maxFrame = 1 << 20

// readFrames reads RFC 6587 octet-counted frames: MSG-LEN SP SYSLOG-MSG. Anything else ends the
// connection (non-transparent framing is not accepted: a message containing a line break would
// split).
func (r *Receiver) readFrames(c net.Conn) {
	br := bufio.NewReaderSize(c, 256<<10)
	buf := make([]byte, 0, 4096)
	for {
		n := 0
		digits := 0
		for {
			b, err := br.ReadByte()
			if err != nil {
				if digits > 0 || !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					r.fail("tcp: connection ended inside a frame's length")
				}
				return
			}
			if b == ' ' && digits > 0 {
				break
			}
			if b < '0' || b > '9' || (digits == 0 && b == '0') || digits >= 7 {
				r.fail("tcp: not an octet-counted frame (RFC 6587 3.4.1: MSG-LEN SP SYSLOG-MSG)")
				return
			}
			n = n*10 + int(b-'0')
			digits++
		}
		if n > maxFrame {
			r.fail("tcp: frame longer than 1 MiB")
			return
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			r.fail("tcp: connection ended inside a frame")
			return
		}
		r.record(buf)
	}
}

func (r *Receiver) udpLoop() {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := r.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		r.record(buf[:n])
	}
}

// bitset is a growable set of non-negative ids.
type bitset struct {
	words []uint64
	count int64
}

func (b *bitset) has(id int64) bool {
	w := id >> 6
	return id >= 0 && w < int64(len(b.words)) && b.words[w]&(1<<(id&63)) != 0
}

func (b *bitset) add(id int64) {
	if id < 0 {
		return
	}
	w := id >> 6
	for w >= int64(len(b.words)) {
		b.words = append(b.words, make([]uint64, len(b.words)+64)...)
	}
	b.words[w] |= 1 << (id & 63)
	b.count++
}
