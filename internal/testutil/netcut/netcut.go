// Package netcut is a TCP proxy on loopback whose link can be cut, for tests of what a node does
// when the network to its database goes away: Cut stops every byte both ways on every connection
// (as a partition does: nothing is reset, nothing arrives) and holds new connections unanswered;
// Heal lets everything through again, held bytes first, as TCP delivers after a partition heals.
package netcut

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards connections to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	healed *sync.Cond
	conns  map[net.Conn]bool
	closed bool
}

// Start listens on a loopback port and forwards each connection to target until the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.healed = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's address (host:port) to dial instead of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut stops all traffic until Heal.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
}

// Heal lets traffic through again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.healed.Broadcast()
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed, p.cut = true, false
	p.healed.Broadcast()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
}

// pass blocks while the link is cut; false once the proxy is closed.
func (p *Proxy) pass() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.cut && !p.closed {
		p.healed.Wait()
	}
	return !p.closed
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			if !p.track(in) || !p.pass() { // a new connection during a cut hangs unanswered
				in.Close()
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				return
			}
			if !p.track(out) {
				in.Close()
				return
			}
			go p.copy(out, in)
			p.copy(in, out)
		}()
	}
}

// copy moves bytes from src to dst, holding each read while the link is cut.
func (p *Proxy) copy(dst, src net.Conn) {
	defer p.forget(dst)
	defer p.forget(src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a closed connection: closing both ends passes it on
		}
	}
}
