package sso

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/telltale-dev/telltale/internal/store"
)

// maxMetadata bounds an identity provider's SAML metadata document.
const maxMetadata = 1 << 20

// MaxSAMLResponse bounds the form posted to the assertion consumer service.
const MaxSAMLResponse = 512 << 10

// ProtocolOIDC and ProtocolSAML are the values of ProviderConfig.Protocol.
const (
	ProtocolOIDC = "oidc"
	ProtocolSAML = "saml"
)

// metadata returns the IdP's SAML metadata: the file's, read at load, or the URL's, fetched once
// it answers (through the Manager's client, so through the SSRF guard) and kept.
func (m *Manager) metadata(ctx context.Context, p *provider) (*saml.EntityDescriptor, error) {
	if p.cfg.SAML.idp != nil {
		return p.cfg.SAML.idp, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idp != nil {
		return p.idp, nil
	}
	unavailable := func(format string, a ...any) error {
		return fail(KindUnavailable, fmt.Sprintf("%s cannot be reached or did not answer with SAML metadata; try again later, or sign in with a local account if you have one.", p.cfg.Name),
			format, a...)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", p.cfg.SAML.MetadataURL, nil)
	if err != nil {
		return nil, unavailable("metadata request: %v", err)
	}
	resp, err := m.o.HTTPClient.Do(req)
	if err != nil {
		return nil, unavailable("fetching the metadata at %s: %v", p.cfg.SAML.MetadataURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	switch {
	case err != nil:
		return nil, unavailable("reading the metadata at %s: %v", p.cfg.SAML.MetadataURL, err)
	case resp.StatusCode != http.StatusOK:
		return nil, unavailable("the metadata at %s answered %s", p.cfg.SAML.MetadataURL, resp.Status)
	case len(b) > maxMetadata:
		return nil, unavailable("the metadata at %s is larger than %d bytes", p.cfg.SAML.MetadataURL, maxMetadata)
	}
	md, err := parseMetadata(b)
	if err != nil {
		return nil, unavailable("the metadata at %s: %v", p.cfg.SAML.MetadataURL, err)
	}
	p.idp = md
	return md, nil
}

// parseMetadata reads IdP metadata and insists that it can sign in someone: an SSO endpoint
// with the HTTP-Redirect binding and a signing certificate.
func parseMetadata(b []byte) (*saml.EntityDescriptor, error) {
	md, err := samlsp.ParseMetadata(b)
	if err != nil {
		return nil, fmt.Errorf("not SAML metadata: %w", err)
	}
	if len(md.IDPSSODescriptors) == 0 {
		return nil, errors.New("the metadata describes no identity provider (no IDPSSODescriptor)")
	}
	sp := saml.ServiceProvider{IDPMetadata: md}
	if sp.GetSSOBindingLocation(saml.HTTPRedirectBinding) == "" {
		return nil, errors.New("the identity provider offers no SingleSignOnService with the HTTP-Redirect binding")
	}
	certs := 0
	for _, d := range md.IDPSSODescriptors {
		for _, k := range d.KeyDescriptors {
			if k.Use == "" || k.Use == "signing" {
				certs += len(k.KeyInfo.X509Data.X509Certificates)
			}
		}
	}
	if certs == 0 {
		return nil, errors.New("the metadata has no signing certificate, so no assertion could be verified")
	}
	return md, nil
}

// SPURLs are a SAML provider's URLs on this server, derived from its assertion consumer service
// URL (RedirectURL): the metadata URL, which is also the entity id unless the file sets one.
func (m *Manager) SPURLs(id, acs string) (entityID, metadataURL string) {
	metadataURL = strings.TrimSuffix(acs, "/acs") + "/metadata"
	entityID = metadataURL
	if p, ok := m.byID[id]; ok && p.cfg.SAML.EntityID != "" {
		entityID = p.cfg.SAML.EntityID
	}
	return entityID, metadataURL
}

// serviceProvider is crewjam/saml's service provider for p at the ACS URL acs.
func (m *Manager) serviceProvider(p *provider, md *saml.EntityDescriptor, acs string) (*saml.ServiceProvider, error) {
	entityID, metaURL := m.SPURLs(p.cfg.ID, acs)
	au, err := url.Parse(acs)
	if err != nil {
		return nil, fmt.Errorf("sso: the ACS URL %q: %w", acs, err)
	}
	mu, _ := url.Parse(metaURL)
	return &saml.ServiceProvider{
		EntityID: entityID, AcsURL: *au, MetadataURL: *mu, IDPMetadata: md,
		AuthnNameIDFormat:                saml.UnspecifiedNameIDFormat,
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		HTTPClient:                       m.o.HTTPClient,
		// Each assertion is accepted once, across restarts: its id stays in the store until it
		// would have expired anyway.
		ReplayCache:          replayCache{m: m, provider: p.cfg.ID},
		RejectSHA1Signatures: true,
	}, nil
}

// SPMetadata is the XML metadata of this server as the service provider of SAML provider id, for
// the admin to give the identity provider.
func (m *Manager) SPMetadata(id, acs string) ([]byte, error) {
	p, err := m.provider(id)
	if err != nil {
		return nil, err
	}
	if p.cfg.Protocol != ProtocolSAML {
		return nil, fail(KindRefused, "That identity provider uses OpenID Connect, which has no SAML metadata.", "SP metadata asked of OIDC provider %q", id)
	}
	sp, err := m.serviceProvider(p, &saml.EntityDescriptor{}, acs)
	if err != nil {
		return nil, err
	}
	b, err := xmlMarshal(sp.Metadata())
	if err != nil {
		return nil, fmt.Errorf("sso: SP metadata: %w", err)
	}
	return b, nil
}

// startSAML sends the browser to the IdP with an AuthnRequest (HTTP-Redirect binding); the
// RelayState is a single-use state row holding the request id, bound to the browser.
func (m *Manager) startSAML(ctx context.Context, p *provider, acs, next string) (authURL, browser string, err error) {
	md, err := m.metadata(ctx, p)
	if err != nil {
		return "", "", err
	}
	sp, err := m.serviceProvider(p, md, acs)
	if err != nil {
		return "", "", err
	}
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return "", "", fmt.Errorf("sso: SAML request: %w", err)
	}
	// RelayState stays within the 80 bytes the bindings allow: 43 characters.
	relay, browser := random(), random()
	st := store.SSOState{Hash: hash(relay), Provider: p.cfg.ID, Browser: hash(browser), Nonce: req.ID, Next: next,
		ExpiresAt: m.o.Clock.Now().Add(stateTTL)}
	if err := m.o.Store.CreateSSOState(ctx, st); err != nil {
		return "", "", fmt.Errorf("sso: start: %w", err)
	}
	u, err := req.Redirect(relay, sp)
	if err != nil {
		return "", "", fmt.Errorf("sso: SAML request: %w", err)
	}
	return u.String(), browser, nil
}

// FinishSAML completes a sign-in at the assertion consumer service of provider id: r is the
// IdP's POST (its form parsed here), acs this endpoint's URL, browser the cookie secret. The
// response must answer the request this browser started, carry an assertion signed by a
// certificate of the IdP's metadata, be for this service provider (audience)
// at this URL (destination, recipient), be within its validity time, and carry an assertion
// never accepted before. Every failure is an *Error.
func (m *Manager) FinishSAML(ctx context.Context, id, acs string, r *http.Request, browser string) (Identity, string, error) {
	p, err := m.provider(id)
	if err != nil {
		return Identity{}, "", err
	}
	if p.cfg.Protocol != ProtocolSAML {
		return Identity{}, "", fail(KindRefused, "That identity provider does not use SAML.", "SAML response posted to OIDC provider %q", id)
	}
	if err := r.ParseForm(); err != nil {
		return Identity{}, "", fail(KindRefused, fmt.Sprintf("The answer from %s could not be read: start again.", p.cfg.Name), "SAML form: %v", err)
	}
	expired := fmt.Sprintf("This sign-in with %s expired, was already used or was started in another browser: start again from the sign-in page.", p.cfg.Name)
	relay := r.PostForm.Get("RelayState")
	if relay == "" {
		// An IdP-initiated sign-in (from the IdP's app dashboard) has no request to answer: it is
		// refused, since nothing ties it to this browser.
		return Identity{}, "", fail(KindState, expired+" Signing in from the identity provider's dashboard is not supported: use the sign-in page.", "SAML response without RelayState (IdP-initiated or replayed)")
	}
	st, err := m.o.Store.TakeSSOState(ctx, hash(relay), m.o.Clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, "", fail(KindState, expired, "unknown, used or expired RelayState")
	}
	if err != nil {
		return Identity{}, "", fmt.Errorf("sso: finish: %w", err)
	}
	if st.Provider != id {
		return Identity{}, "", fail(KindState, expired, "state of provider %q came back to %q", st.Provider, id)
	}
	if browser == "" || subtle.ConstantTimeCompare(hash(browser), st.Browser) != 1 {
		return Identity{}, "", fail(KindState, expired, "state not bound to this browser (cookie missing or different)")
	}
	md, err := m.metadata(ctx, p)
	if err != nil {
		return Identity{}, st.Next, err
	}
	sp, err := m.serviceProvider(p, md, acs)
	if err != nil {
		return Identity{}, st.Next, err
	}
	a, err := sp.ParseResponse(r, []string{st.Nonce})
	if err != nil {
		reason := err.Error()
		var ire *saml.InvalidResponseError
		if errors.As(err, &ire) && ire.PrivateErr != nil {
			reason = ire.PrivateErr.Error()
		}
		msg := fmt.Sprintf("The SAML response from %s failed a check, so nobody was signed in; an admin can find the reason in the server log and the audit log.", p.cfg.Name)
		var bad saml.ErrBadStatus
		if errors.As(err, &bad) {
			msg = fmt.Sprintf("%s refused the sign-in (%s): start again.", p.cfg.Name, bad.Status)
		}
		if errors.Is(err, saml.ErrAssertionReplayed) {
			reason = "SAML assertion replayed: " + reason
		}
		return Identity{}, st.Next, fail(KindRefused, msg, "SAML response refused: %s", reason)
	}
	// Signed assertions are required, not only a signed response: an assertion is what vouches
	// for the person, and every IdP of note signs it (Okta, Entra ID, Google and ADFS by default).
	// crewjam/saml has checked every signature present, so a Signature in the one assertion is a
	// valid one.
	if !assertionSigned(r.PostForm.Get("SAMLResponse")) {
		return Identity{}, st.Next, fail(KindRefused, fmt.Sprintf("The SAML response from %s has an unsigned assertion, so nobody was signed in: an admin must turn on assertion signing at the identity provider.", p.cfg.Name),
			"SAML response refused: the assertion is not signed (only the response is); signed assertions are required")
	}
	x := Identity{Provider: id, Email: first(attr(a, p.cfg.Claims.Email)), Name: first(attr(a, p.cfg.Claims.Name)), Groups: attr(a, p.cfg.Claims.Groups)}
	if a.Subject != nil && a.Subject.NameID != nil {
		x.Subject = strings.TrimSpace(a.Subject.NameID.Value)
	}
	if x.Subject == "" {
		return Identity{}, st.Next, fail(KindRefused, fmt.Sprintf("The SAML response from %s names nobody (no NameID).", p.cfg.Name), "SAML assertion without NameID")
	}
	if p.cfg.Claims.Username != "" {
		x.Username = first(attr(a, p.cfg.Claims.Username))
	} else {
		x.Username = firstNonEmpty(x.Email, x.Subject)
	}
	return x, st.Next, nil
}

// assertionSigned says whether the response's assertion carries its own signature.
func assertionSigned(b64 string) bool {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return false
	}
	doc := etree.NewDocument()
	if doc.ReadFromBytes(raw) != nil || doc.Root() == nil {
		return false
	}
	for _, a := range doc.Root().ChildElements() {
		if a.Tag != "Assertion" || a.NamespaceURI() != "urn:oasis:names:tc:SAML:2.0:assertion" {
			continue
		}
		for _, c := range a.ChildElements() {
			if c.Tag == "Signature" && c.NamespaceURI() == "http://www.w3.org/2000/09/xmldsig#" {
				return true
			}
		}
	}
	return false
}

// attr returns the values of the assertion's attribute called name (its Name or FriendlyName).
func attr(a *saml.Assertion, name string) []string {
	if name == "" {
		return nil
	}
	var out []string
	for _, s := range a.AttributeStatements {
		for _, at := range s.Attributes {
			if at.Name != name && at.FriendlyName != name {
				continue
			}
			for _, v := range at.Values {
				if s := strings.TrimSpace(v.Value); s != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func first(a []string) string {
	if len(a) == 0 {
		return ""
	}
	return a[0]
}

// replayCache keeps the ids of accepted assertions in the store (saml.AssertionReplayCache).
type replayCache struct {
	m        *Manager
	provider string
}

func (c replayCache) Consume(id string, expiresAt time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.m.o.Store.ConsumeSSOAssertion(ctx, c.provider+":"+id, expiresAt, c.m.o.Clock.Now())
	if errors.Is(err, store.ErrConflict) {
		return saml.ErrAssertionReplayed
	}
	return err
}

func xmlMarshal(v any) ([]byte, error) {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}
