package forward

import (
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// eventually polls f for up to 2 s (a close crosses loopback in microseconds, but asynchronously).
func eventually(f func() bool) bool {
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if f() {
			return true
		}
	}
	return false
}

// TestPeerClosed: the liveness check before each syslog batch sees an open, a closed, a reset
// and a talkative connection for what they are.
func TestPeerClosed(t *testing.T) {
	c, s := pair(t)
	if peerClosed(c) {
		t.Fatal("an open idle connection was taken for closed")
	}
	if _, err := s.Write(make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if peerClosed(c) || peerClosed(c) {
		t.Fatal("an open connection whose peer sent bytes was taken for closed")
	}
	s.Close()
	if !eventually(func() bool { return peerClosed(c) }) {
		t.Fatal("a closed connection was taken for open")
	}

	c, s = pair(t)
	s.Write([]byte("bye"))
	s.SetLinger(0) // close with a reset
	s.Close()
	if !eventually(func() bool { return peerClosed(c) }) {
		t.Fatal("a reset connection was taken for open")
	}
}

// TestPeerClosedUnderLoad: with one processor and busy goroutines, the checking goroutine is
// often descheduled for longer than a short read deadline; a closed connection must still be seen
// as closed every time. (The former check, a read with a 1 ms deadline, answered "open" here:
// that is how a batch was written into a dead connection and lost, once in CI.)
func TestPeerClosedUnderLoad(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	c, s := pair(t)
	s.Close()
	if !eventually(func() bool { return peerClosed(c) }) {
		t.Fatal("a closed connection was taken for open")
	}
	var stop atomic.Bool
	defer stop.Store(true)
	for range 4 {
		go func() {
			for !stop.Load() {
				for i := 0; i < 1e6; i++ {
				}
			}
		}()
	}
	missed, checks := 0, 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); checks++ {
		if !peerClosed(c) {
			missed++
		}
	}
	if missed > 0 {
		t.Fatalf("a closed connection was taken for open %d times in %d checks under load", missed, checks)
	}
	t.Logf("%d checks", checks)
}
