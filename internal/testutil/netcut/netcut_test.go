package netcut

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestCutAndHeal: bytes pass, stop while cut (on an open connection and for a new one), and
// arrive once healed; Close ends every connection.
func TestCutAndHeal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c) // echo
		}
	}()
	p := Start(t, ln.Addr().String())
	echo := func(c net.Conn, msg string, wait time.Duration) (string, error) {
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, len(msg))
		n, err := io.ReadFull(c, buf)
		return string(buf[:n]), err
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := echo(c, "one", time.Second); got != "one" || err != nil {
		t.Fatalf("before the cut: %q %v", got, err)
	}
	p.Cut()
	if got, err := echo(c, "two", 200*time.Millisecond); got != "" || err == nil {
		t.Fatalf("during the cut: %q %v, want nothing", got, err)
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := echo(c2, "new", 200*time.Millisecond); got != "" || err == nil {
		t.Fatalf("a new connection during the cut: %q %v, want nothing", got, err)
	}
	p.Heal()
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "two" {
		t.Fatalf("after healing: %q %v, want the held bytes", buf, err)
	}
	c2.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadFull(c2, buf); err != nil || string(buf) != "new" {
		t.Fatalf("the held connection after healing: %q %v", buf, err)
	}
	p.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Error("a connection is open after Close")
	}
}
