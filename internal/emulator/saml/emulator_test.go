package saml_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crewjam/saml/samlsp"

	samlemu "github.com/telltale-dev/telltale/internal/emulator/saml"
)

// TestEmulatorMetadataAndAdmin: the IdP serves metadata a service provider can use (an SSO
// endpoint, a signing certificate), and its admin endpoints answer only the emulator itself.
func TestEmulatorMetadataAndAdmin(t *testing.T) {
	s, err := samlemu.Start(samlemu.Options{Users: []samlemu.User{{Username: "ada", Password: "pw", Email: "ada@corp.example", Groups: []string{"g"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Get(s.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	md, err := samlsp.ParseMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.IDPSSODescriptors) != 1 || len(md.IDPSSODescriptors[0].KeyDescriptors) == 0 || md.IDPSSODescriptors[0].SingleSignOnServices[0].Location != s.URL+"/sso" {
		t.Errorf("metadata %+v", md.IDPSSODescriptors)
	}
	for _, path := range []string{"/users/", "/services/", "/sessions/"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s without the admin token: %d", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("PUT", s.URL+"/users/mallory", strings.NewReader(`{"password": "x", "groups": ["admins"]}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT a user without the admin token: %v %v", resp.StatusCode, err)
	}
	if err := s.AddServiceProvider("x", s.URL+"/nowhere"); err == nil {
		t.Error("a service provider from a URL that serves no metadata was registered")
	}
}
