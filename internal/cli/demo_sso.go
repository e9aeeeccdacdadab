package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	oidcemu "github.com/telltale-dev/telltale/internal/emulator/oidc"
	samlemu "github.com/telltale-dev/telltale/internal/emulator/saml"
)

// The demo's person at its identity providers: an analyst through the group telltale-analysts.
const (
	demoSSOUser     = "demo.analyst"
	demoSSOPassword = "demo-analyst-pw"
	demoSSOGroup    = "telltale-analysts"
)

// demoIdPs are the demo's identity providers on loopback: an OpenID provider (zitadel/oidc) and
// a SAML IdP (crewjam/saml's samlidp), both knowing the demo analyst.
type demoIdPs struct {
	oidc *oidcemu.Server
	saml *samlemu.Server
	file string // the providers file written for this start
	base string
}

// startDemoIdPs starts both providers and writes the providers file (in dataDir, anew at each
// start: the ports change) for the console at base.
func startDemoIdPs(dataDir, base string) (*demoIdPs, error) {
	d := &demoIdPs{base: base, file: filepath.Join(dataDir, "demo-sso-providers.json")}
	var err error
	d.oidc, err = oidcemu.Start(oidcemu.Options{GroupsClaim: "groups", Users: []oidcemu.User{{Subject: "demo-analyst", Username: demoSSOUser, Password: demoSSOPassword,
		Email: demoSSOUser + "@example.com", Name: "Demo Analyst", Groups: []string{"staff", demoSSOGroup}}}})
	if err != nil {
		return nil, err
	}
	for _, host := range []string{base, strings.Replace(base, "127.0.0.1", "localhost", 1)} {
		d.oidc.AllowRedirect(host + "/login/sso/demo-oidc/callback")
	}
	d.saml, err = samlemu.Start(samlemu.Options{Users: []samlemu.User{{Username: demoSSOUser, Password: demoSSOPassword,
		Email: demoSSOUser + "@example.com", Name: "Demo Analyst", Groups: []string{"staff", demoSSOGroup}}}})
	if err != nil {
		d.oidc.Close()
		return nil, err
	}
	groups := map[string]string{demoSSOGroup: "analyst"}
	file := map[string]any{"providers": []map[string]any{
		{"id": "demo-oidc", "name": "the demo IdP (OpenID Connect)", "issuer": d.oidc.URL, "client_id": d.oidc.ClientID(), "client_secret": d.oidc.ClientSecret(),
			"scopes": []string{"profile", "email", "groups"}, "groups": groups},
		// The SAML IdP knows one ACS URL, so this one is fixed to the address the demo prints.
		{"id": "demo-saml", "name": "the demo IdP (SAML)", "protocol": "saml", "saml": map[string]string{"idp_metadata_url": d.saml.MetadataURL()},
			"redirect_url": base + "/login/sso/demo-saml/acs", "claims": map[string]string{"email": "mail", "name": "cn", "groups": "eduPersonAffiliation"}, "groups": groups},
	}}
	b, _ := json.MarshalIndent(file, "", "  ")
	if err := os.WriteFile(d.file, b, 0o600); err != nil {
		d.Close()
		return nil, fmt.Errorf("demo: providers file: %w", err)
	}
	return d, nil
}

// registerSP gives the SAML IdP the console's SP metadata once the console serves it.
func (d *demoIdPs) registerSP(ctx context.Context) error {
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if err = d.saml.AddServiceProvider("telltale", d.base+"/login/sso/demo-saml/metadata"); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

// Close stops both providers.
func (d *demoIdPs) Close() {
	d.oidc.Close()
	d.saml.Close()
}
