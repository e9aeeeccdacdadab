//go:build unix

package forward

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed tells whether the other end of c has closed it (or reset it), without waiting: one
// pass of non-blocking reads on the socket itself. Whatever the peer sent is read and dropped (a
// syslog receiver sends nothing the sender reads; under TLS the sender never reads the stream),
// so a close queued behind it is still seen. Unlike a read with a short
// deadline, it cannot be fooled by the goroutine being descheduled past the deadline before the
// read is tried (the runtime then answers "timeout" without asking the socket, and a closed
// connection looks open): that is how a batch was once written into a dead connection and lost.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return deadlinePeerClosed(c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var buf [4096]byte
	err = rc.Read(func(fd uintptr) bool {
		for range 64 { // at most 256 KiB drained per check; more means the peer is alive and talkative
			n, err := syscall.Read(int(fd), buf[:])
			switch {
			case n > 0:
				continue
			case err == nil: // n == 0: end of stream
				closed = true
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN):
			default: // ECONNRESET and the like
				closed = true
			}
			return true
		}
		return true
	})
	return closed || err != nil
}
