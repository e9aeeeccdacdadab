package forward_test

import (
	"encoding/pem"
	"net/http/httptest"
)

// certPEM is the test server's certificate as PEM (its own CA: httptest's certificate is self-signed
// for example.com and 127.0.0.1).
func certPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}
