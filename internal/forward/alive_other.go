//go:build !unix

package forward

import "net"

func peerClosed(c net.Conn) bool { return deadlinePeerClosed(c) }
