// Package sso signs people in through their organization's identity providers (issue 20, R9.2),
// OpenID Connect or SAML 2.0; the providers come from a JSON file (config sso-providers).
//
// OpenID Connect: each sign-in is the authorization code flow with PKCE, its state a single-use
// row in the store bound to the browser by a cookie secret; the ID token is verified with go-oidc
// (signature from the provider's JWKS, which it refetches when an unknown key id appears, so keys
// can rotate; iss; aud; exp; only asymmetric algorithms, so "none" and HS256 are refused) and then
// here (nonce; iat within a small skew).
//
// SAML 2.0 (saml.go): an AuthnRequest by HTTP-Redirect whose RelayState is the same kind of
// single-use state; the response, posted to the ACS, is checked by crewjam/saml (signature by the
// IdP metadata's certificates, destination, recipient, audience, InResponseTo, validity) and its
// assertion id is kept in the store so that it is accepted once.
//
// Either way the claims or attributes give the user name, email, display name and groups; the
// groups give the role through the provider's mapping. The console drives the flow and auth opens
// the session.
package sso

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/crewjam/saml"

	"github.com/telltale-dev/telltale/internal/auth"
)

// ProviderConfig is one identity provider in the providers file.
type ProviderConfig struct {
	// ID names the provider in URLs (/login/sso/{id}/callback) and on its users: lower-case
	// letters, digits and dashes. Changing it orphans the provider's users.
	ID string `json:"id"`
	// Name is shown on the sign-in page: "Sign in with {Name}".
	Name string `json:"name"`
	// Protocol is "oidc" (OpenID Connect, the default) or "saml" (SAML 2.0, configured in SAML).
	Protocol string `json:"protocol,omitempty"`
	// SAML configures a provider of protocol "saml"; Issuer and the client fields are then unused.
	SAML SAMLConfig `json:"saml,omitzero"`
	// Issuer is the OpenID provider's issuer URL.
	Issuer string `json:"issuer,omitempty"`
	// ClientID and the client secret registered at the provider. The secret is read from
	// ClientSecretFile or the environment variable ClientSecretEnv when ClientSecret is empty,
	// so that the file can be kept without secrets.
	ClientID         string `json:"client_id,omitempty"`
	ClientSecret     string `json:"client_secret,omitempty"`
	ClientSecretFile string `json:"client_secret_file,omitempty"`
	ClientSecretEnv  string `json:"client_secret_env,omitempty"`
	// Scopes asked for besides openid; default profile and email. Add "groups" where the
	// provider needs it for the groups claim (Okta).
	Scopes []string `json:"scopes,omitempty"`
	// Claims names the ID token claims to read.
	Claims Claims `json:"claims"`
	// Groups maps group names (or ids, as Entra sends them) to a role: admin, analyst or
	// read-only. A person in several mapped groups gets the highest of their roles.
	Groups map[string]string `json:"groups"`
	// RedirectURL overrides the callback URL registered at the provider; by default it is the
	// public URL (config public-url) + /login/sso/{id}/callback.
	RedirectURL string `json:"redirect_url,omitempty"`
}

// SAMLConfig is a SAML 2.0 identity provider: its metadata (one of MetadataURL and MetadataFile)
// and this server's entity id at it.
type SAMLConfig struct {
	MetadataURL  string `json:"idp_metadata_url,omitempty"`
	MetadataFile string `json:"idp_metadata_file,omitempty"`
	// EntityID is this server's entity id (the audience of the assertions); default the SP
	// metadata URL, public URL + /login/sso/{id}/metadata.
	EntityID string `json:"entity_id,omitempty"`

	idp *saml.EntityDescriptor // MetadataFile's, read at load
}

// Claims are the names of the claims read from the ID token, or of the SAML attributes (their
// Name or FriendlyName) read from the assertion.
type Claims struct {
	Username string `json:"username,omitempty"` // default preferred_username, then email (SAML: email, then the NameID)
	Email    string `json:"email,omitempty"`    // default email
	Name     string `json:"name,omitempty"`     // default name
	Groups   string `json:"groups,omitempty"`   // default groups
}

type file struct {
	Providers []ProviderConfig `json:"providers"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// Load reads the providers file at path; getenv reads client secrets from the environment.
func Load(path string, getenv func(string) string) ([]ProviderConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sso: providers file: %w", err)
	}
	return Parse(b, getenv)
}

// Parse reads and checks a providers file's JSON.
func Parse(b []byte, getenv func(string) string) ([]ProviderConfig, error) {
	var f file
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("sso: providers file: %w", err)
	}
	seen := map[string]bool{}
	for i := range f.Providers {
		p := &f.Providers[i]
		if err := p.check(getenv); err != nil {
			return nil, fmt.Errorf("sso: providers file: provider %d (%q): %w", i+1, p.ID, err)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("sso: providers file: two providers have the id %q", p.ID)
		}
		seen[p.ID] = true
	}
	return f.Providers, nil
}

func (p *ProviderConfig) check(getenv func(string) string) error {
	if !idPattern.MatchString(p.ID) {
		return errors.New(`"id" must be 1 to 40 lower-case letters, digits and dashes`)
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" {
		p.Name = p.ID
	}
	switch p.Protocol {
	case "", ProtocolOIDC:
		p.Protocol = ProtocolOIDC
		if p.SAML != (SAMLConfig{}) {
			return errors.New(`"saml" is set but "protocol" is not "saml"`)
		}
		if err := p.checkOIDC(getenv); err != nil {
			return err
		}
	case ProtocolSAML:
		if p.Issuer != "" || p.ClientID != "" || p.ClientSecret != "" || p.ClientSecretFile != "" || p.ClientSecretEnv != "" {
			return errors.New(`a SAML provider has no "issuer" or client credentials: its metadata says all (set "saml": {"idp_metadata_url": ...})`)
		}
		if err := p.SAML.check(); err != nil {
			return err
		}
	default:
		return fmt.Errorf(`"protocol" is %q; use "oidc" or "saml"`, p.Protocol)
	}
	if len(p.Groups) == 0 {
		return errors.New(`"groups" maps no group to a role: nobody could sign in`)
	}
	for g, r := range p.Groups {
		role, err := auth.ParseRole(r)
		if err != nil || role == auth.RoleIntegration {
			return fmt.Errorf(`"groups": group %q maps to %q; use admin, analyst or read-only`, g, r)
		}
	}
	if p.RedirectURL != "" {
		if u, err := url.Parse(p.RedirectURL); err != nil || u.Host == "" {
			return fmt.Errorf(`"redirect_url" %q is not an absolute URL`, p.RedirectURL)
		}
	}
	if p.Claims.Email == "" {
		p.Claims.Email = "email"
	}
	if p.Claims.Name == "" {
		p.Claims.Name = "name"
	}
	if p.Claims.Groups == "" {
		p.Claims.Groups = "groups"
	}
	if len(p.Scopes) == 0 && p.Protocol == ProtocolOIDC {
		p.Scopes = []string{"profile", "email"}
	}
	return nil
}

func (c *SAMLConfig) check() error {
	switch {
	case (c.MetadataURL == "") == (c.MetadataFile == ""):
		return errors.New(`"saml" needs one of "idp_metadata_url" (the IdP's metadata URL) and "idp_metadata_file" (its metadata XML saved to a file)`)
	case c.MetadataURL != "":
		if u, err := url.Parse(c.MetadataURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf(`"idp_metadata_url" must be the IdP's https metadata URL, got %q`, c.MetadataURL)
		}
	default:
		b, err := os.ReadFile(c.MetadataFile)
		if err != nil {
			return fmt.Errorf("idp_metadata_file: %w", err)
		}
		if len(b) > maxMetadata {
			return fmt.Errorf("idp_metadata_file %s is larger than %d bytes", c.MetadataFile, maxMetadata)
		}
		if c.idp, err = parseMetadata(b); err != nil {
			return fmt.Errorf("idp_metadata_file %s: %w", c.MetadataFile, err)
		}
	}
	if c.EntityID != "" && strings.TrimSpace(c.EntityID) != c.EntityID {
		return fmt.Errorf(`"entity_id" %q has spaces around it`, c.EntityID)
	}
	return nil
}

func (p *ProviderConfig) checkOIDC(getenv func(string) string) error {
	if u, err := url.Parse(p.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf(`"issuer" must be the provider's https URL (the "iss" of its tokens), got %q`, p.Issuer)
	}
	if p.ClientID == "" {
		return errors.New(`"client_id" is missing`)
	}
	switch {
	case p.ClientSecret != "":
	case p.ClientSecretFile != "":
		b, err := os.ReadFile(p.ClientSecretFile)
		if err != nil {
			return fmt.Errorf("client_secret_file: %w", err)
		}
		p.ClientSecret = strings.TrimSpace(string(b))
	case p.ClientSecretEnv != "":
		if p.ClientSecret = getenv(p.ClientSecretEnv); p.ClientSecret == "" {
			return fmt.Errorf("client_secret_env: the environment variable %s is empty", p.ClientSecretEnv)
		}
	default:
		return errors.New(`set "client_secret", "client_secret_file" or "client_secret_env"`)
	}
	return nil
}

// MapRole gives the role of a person in groups: the highest role any of them maps to, and the
// group that gave it ("" and "" when none maps).
func (p *ProviderConfig) MapRole(groups []string) (auth.Role, string) {
	var best auth.Role
	var from string
	for _, g := range groups {
		r, ok := p.Groups[g]
		if !ok {
			continue
		}
		role := auth.Role(r)
		if best == "" || (role.Satisfies(best) && role != best) || (role == best && g < from) {
			best, from = role, g
		}
	}
	return best, from
}

// MappedGroups lists the groups that map to a role, sorted, for messages.
func (p *ProviderConfig) MappedGroups() []string {
	out := make([]string, 0, len(p.Groups))
	for g := range p.Groups {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}
