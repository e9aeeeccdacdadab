package console_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/config"
	samlemu "github.com/telltale-dev/telltale/internal/emulator/saml"
)

// samlApp is a test node whose provider "corp" is a SAML IdP emulator (crewjam/saml's samlidp)
// on loopback, the groups tt-admins, tt-analysts and tt-readers mapped, read from the attribute
// eduPersonAffiliation; the IdP knows the node from its SP metadata URL.
type samlApp struct {
	*testApp
	Srv *httptest.Server
	IdP *samlemu.Server
}

func newSAMLApp(t *testing.T, extra ...string) *samlApp {
	t.Helper()
	idp, err := samlemu.Start(samlemu.Options{Users: []samlemu.User{
		{Username: "ada", Password: "ada-pw", Email: "ada@corp.example", Name: "Ada Lovelace", Groups: []string{"staff", "tt-analysts"}},
		{Username: "bob", Password: "bob-pw", Email: "bob@corp.example", Name: "Bob", Groups: []string{"staff"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	providers := fmt.Sprintf(`{"providers": [{"id": "corp", "name": "Corp SAML", "protocol": "saml", "saml": {"idp_metadata_url": %q},
  "claims": {"email": "mail", "name": "cn", "groups": "eduPersonAffiliation"},
  "groups": {"tt-admins": "admin", "tt-analysts": "analyst", "tt-readers": "read-only"}}%s]}`, idp.MetadataURL(), strings.Join(extra, ""))
	file := filepath.Join(t.TempDir(), "sso.json")
	if err := os.WriteFile(file, []byte(providers), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := newTestApp(t, false, func(c *config.Config) { c.SSOProviders = file })
	srv := ta.httpServer(t)
	if err := idp.AddServiceProvider("telltale", srv.URL+"/login/sso/corp/metadata"); err != nil {
		t.Fatal(err)
	}
	return &samlApp{testApp: ta, Srv: srv, IdP: idp}
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formField  = regexp.MustCompile(`name="(SAMLResponse|RelayState|SAMLRequest)" value="([^"]*)"`)
)

func formOf(page string) (string, url.Values) {
	v := url.Values{}
	for _, m := range formField.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	action := ""
	if m := formAction.FindStringSubmatch(page); m != nil {
		action = html.UnescapeString(m[1])
	}
	return action, v
}

// toACS starts a sign-in through "corp", signs in on the IdP's page and returns the ACS URL and
// the form the IdP's page would post there (not yet posted).
func (s *samlApp) toACS(b *httpBrowser, next, user, pw string) (string, url.Values) {
	b.t.Helper()
	return s.toACSOf(b, "corp", next, user, pw)
}

// toACSOf is toACS through the SAML provider id.
func (s *samlApp) toACSOf(b *httpBrowser, id, next, user, pw string) (string, url.Values) {
	b.t.Helper()
	resp, page := b.get("/login/sso/" + id + "?next=" + url.QueryEscape(next))
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("start: %d %s", resp.StatusCode, page)
	}
	_, page = b.fetch("GET", resolve(resp), nil) // the IdP's SSO endpoint: its sign-in page
	action, form := formOf(page)
	if form.Get("SAMLRequest") == "" {
		b.t.Fatalf("the IdP showed no sign-in form: %s", page)
	}
	form.Set("user", user)
	form.Set("password", pw)
	resp, page = b.fetch("POST", action, form)
	acs, out := formOf(page)
	if resp.StatusCode != http.StatusOK || out.Get("SAMLResponse") == "" {
		b.t.Fatalf("IdP sign-in: %d %s", resp.StatusCode, page)
	}
	return acs, out
}

func (s *samlApp) signIn(b *httpBrowser, next, user, pw string) (*http.Response, string) {
	b.t.Helper()
	acs, form := s.toACS(b, next, user, pw)
	return b.fetch("POST", acs, form)
}

func (s *samlApp) sessionCookie(b *httpBrowser) string {
	u, _ := url.Parse(s.Srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "telltale_session" {
			return c.Value
		}
	}
	return ""
}

// TestSAMLSignInRolesFromGroups: the same role mapping, JIT users and audit as OpenID Connect,
// through a SAML IdP: the SP metadata is served, the first sign-in creates the user with the
// mapped role, a group change changes the role, a person in no mapped group is refused with the
// mapping named.
func TestSAMLSignInRolesFromGroups(t *testing.T) {
	t.Parallel()
	s := newSAMLApp(t)
	ctx := context.Background()
	// The SP metadata names the ACS URL and the entity id the IdP puts in the audience.
	b := newBrowser(t, s.Srv.URL)
	resp, md := b.get("/login/sso/corp/metadata")
	if resp.StatusCode != http.StatusOK || !strings.Contains(md, `entityID="`+s.Srv.URL+`/login/sso/corp/metadata"`) || !strings.Contains(md, s.Srv.URL+"/login/sso/corp/acs") {
		t.Fatalf("SP metadata: %d\n%s", resp.StatusCode, md)
	}

	resp, page := s.signIn(b, "/alerts", "ada", "ada-pw")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts" {
		t.Fatalf("ACS: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if _, page := b.get("/alerts"); !strings.Contains(page, "ada@corp.example") || !strings.Contains(page, "(analyst)") {
		t.Fatalf("the alerts page does not show ada as analyst:\n%s", page)
	}
	u, err := s.App.Store.GetUserBySubject(ctx, "corp", "ada@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "ada@corp.example" || u.Name != "Ada Lovelace" || u.Role != "analyst" || u.RoleSource != "group:tt-analysts" || u.PasswordHash != "" {
		t.Errorf("JIT user %+v", u)
	}
	if a := (&ssoApp{testApp: s.testApp}).audit(t, "session.create"); a[0]["provider"] != "corp" || a[0]["role"] != "analyst" || a[0]["_outcome"] != "ok" {
		t.Errorf("sign-in audit %v", a[0])
	}

	// Promoted at the IdP: admin at the next sign-in, audited.
	if err := s.IdP.SetUser(samlemu.User{Username: "ada", Password: "ada-pw", Email: "ada@corp.example", Groups: []string{"tt-admins"}}); err != nil {
		t.Fatal(err)
	}
	if resp, page := s.signIn(newBrowser(t, s.Srv.URL), "/", "ada", "ada-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d %s", resp.StatusCode, page)
	}
	if u, _ = s.App.Store.GetUserBySubject(ctx, "corp", "ada@corp.example"); u.Role != "admin" || u.RoleSource != "group:tt-admins" {
		t.Errorf("after promotion %+v", u)
	}
	if ch := (&ssoApp{testApp: s.testApp}).audit(t, "user.role.change"); len(ch) != 1 || ch[0]["from"] != "analyst" || ch[0]["to"] != "admin" || ch[0]["provider"] != "corp" {
		t.Errorf("role change audit %v", ch)
	}

	// The return URL stays on this site.
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example"} {
		if resp, _ := s.signIn(newBrowser(t, s.Srv.URL), next, "ada", "ada-pw"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("next %q: %d to %q", next, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// In no mapped group: refused with the mapping named.
	resp, page = s.signIn(newBrowser(t, s.Srv.URL), "/", "bob", "bob-pw")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Corp SAML says you are in the groups &#34;staff&#34;") || !strings.Contains(page, "tt-analysts") {
		t.Fatalf("unmapped: %d\n%s", resp.StatusCode, page)
	}
}

// wrapEvil copies a genuine assertion (its signature too) and makes it name alice, in the
// admins' group.
func wrapEvil(genuine *etree.Element) *etree.Element {
	evil := genuine.Copy()
	evil.FindElement(".//NameID").SetText("alice@corp.example")
	for _, v := range evil.FindElements(".//AttributeValue") {
		switch v.Text() {
		case "tt-analysts":
			v.SetText("tt-admins")
		case "ada@corp.example":
			v.SetText("alice@corp.example")
		}
	}
	return evil
}

// TestSAMLBadResponsesSignNobodyIn: responses the IdP hands out tampered with (re-signed with
// its own key where they must look genuine) sign nobody in, and say why in the audit log.
func TestSAMLBadResponsesSignNobodyIn(t *testing.T) {
	t.Parallel()
	s := newSAMLApp(t)
	audit := func() map[string]any { return (&ssoApp{testApp: s.testApp}).audit(t, "session.create")[0] }
	resign := func(t *testing.T, el *etree.Element) *etree.Element {
		signed, err := s.IdP.Sign(el)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	// replace puts el where old was.
	replace := func(old, el *etree.Element) {
		p := old.Parent()
		i := old.Index()
		p.RemoveChildAt(i)
		p.InsertChildAt(i, el)
	}
	// tamper edits the genuine assertion, re-signs it and the response with the IdP's key.
	tamper := func(edit func(a *etree.Element)) func(doc *etree.Document) {
		return func(doc *etree.Document) {
			a := doc.Root().SelectElement("Assertion")
			edit(a)
			replace(a, resign(t, a.Copy()))
			doc.SetRoot(resign(t, doc.Root().Copy()))
		}
	}
	past := time.Now().Add(-10 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")
	cases := []struct {
		name, reason string
		hook         func(doc *etree.Document)
	}{
		{"unsigned", "signature", func(doc *etree.Document) {
			for _, el := range []*etree.Element{doc.Root(), doc.Root().SelectElement("Assertion")} {
				el.RemoveChild(el.SelectElement("Signature"))
			}
		}},
		{"assertion unsigned, response signed", "assertion is not signed", func(doc *etree.Document) {
			a := doc.Root().SelectElement("Assertion")
			a.RemoveChild(a.SelectElement("Signature"))
			doc.SetRoot(resign(t, doc.Root().Copy()))
		}},
		// Signature wrapping (XSW): the genuine signed assertion stays in the document, where a
		// careless verifier finds its signature valid, while an evil copy naming another person
		// with an admin group is the one a careless reader reads.
		{"signature wrapping: signed assertion inside the evil one's signature", "signature", func(doc *etree.Document) {
			root := doc.Root()
			root.RemoveChild(root.SelectElement("Signature"))
			genuine := root.SelectElement("Assertion")
			evil := wrapEvil(genuine)
			evil.CreateAttr("ID", "id-evil")
			obj := evil.SelectElement("Signature").CreateElement("ds:Object")
			obj.AddChild(genuine.Copy())
			replace(genuine, evil)
		}},
		{"signature wrapping: evil assertion before the signed one", "exactly one assertion", func(doc *etree.Document) {
			root := doc.Root()
			root.RemoveChild(root.SelectElement("Signature"))
			genuine := root.SelectElement("Assertion")
			evil := wrapEvil(genuine)
			evil.RemoveChild(evil.SelectElement("Signature"))
			root.InsertChildAt(genuine.Index(), evil)
		}},
		{"signature wrapping: response signature kept, evil assertion added", "signature", func(doc *etree.Document) {
			root := doc.Root()
			evil := wrapEvil(root.SelectElement("Assertion"))
			evil.RemoveChild(evil.SelectElement("Signature"))
			evil.CreateAttr("ID", "id-evil")
			root.AddChild(evil)
		}},
		{"another audience", "audience", tamper(func(a *etree.Element) {
			a.FindElement(".//AudienceRestriction/Audience").SetText("https://other-sp.example/metadata")
		})},
		{"expired", "expired", tamper(func(a *etree.Element) {
			a.FindElement(".//Conditions").CreateAttr("NotOnOrAfter", past)
			a.FindElement(".//SubjectConfirmationData").CreateAttr("NotOnOrAfter", past)
		})},
		{"another recipient", "recipient", tamper(func(a *etree.Element) {
			a.FindElement(".//SubjectConfirmationData").CreateAttr("Recipient", "https://other-sp.example/acs")
		})},
	}
	for _, tc := range cases {
		s.IdP.SetResponseHook(tc.hook)
		b := newBrowser(t, s.Srv.URL)
		resp, page := s.signIn(b, "/", "ada", "ada-pw")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "so nobody was signed in") || s.sessionCookie(b) != "" {
			t.Errorf("%s: %d, session %q\n%s", tc.name, resp.StatusCode, s.sessionCookie(b), page)
		}
		if r := audit(); r["provider"] != "corp" || !strings.Contains(strings.ToLower(fmt.Sprint(r["reason"])), tc.reason) {
			t.Errorf("%s: audit %v", tc.name, r)
		}
	}
	if _, err := s.App.Store.GetUserBySubject(context.Background(), "corp", "ada@corp.example"); err == nil {
		t.Error("a bad response created the user")
	}
	if _, err := s.App.Store.GetUserBySubject(context.Background(), "corp", "alice@corp.example"); err == nil {
		t.Error("the wrapped assertion signed in its evil subject")
	}

	// Replayed: a genuine assertion accepted once, re-wrapped for a later sign-in of the same
	// browser (right request id, re-signed), is refused for its assertion id alone.
	s.IdP.SetResponseHook(nil)
	var first *etree.Element
	s.IdP.SetResponseHook(func(doc *etree.Document) { first = doc.Root().SelectElement("Assertion").Copy() })
	b := newBrowser(t, s.Srv.URL)
	if resp, page := s.signIn(b, "/", "ada", "ada-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("genuine response: %d %s", resp.StatusCode, page)
	}
	s.IdP.SetResponseHook(func(doc *etree.Document) {
		root := doc.Root()
		reqID := root.SelectAttrValue("InResponseTo", "")
		old := first.Copy()
		old.FindElement(".//SubjectConfirmationData").CreateAttr("InResponseTo", reqID)
		replace(root.SelectElement("Assertion"), resign(t, old))
		doc.SetRoot(resign(t, root.Copy()))
	})
	b = newBrowser(t, s.Srv.URL)
	if resp, page := s.signIn(b, "/", "ada", "ada-pw"); resp.StatusCode != http.StatusUnauthorized || s.sessionCookie(b) != "" {
		t.Errorf("replayed assertion: %d\n%s", resp.StatusCode, page)
	}
	if r := audit(); !strings.Contains(fmt.Sprint(r["reason"]), "replayed") {
		t.Errorf("replay audit %v", r)
	}

	// The same response posted twice: its RelayState is spent.
	s.IdP.SetResponseHook(nil)
	b = newBrowser(t, s.Srv.URL)
	acs, form := s.toACS(b, "/", "ada", "ada-pw")
	if resp, _ := b.fetch("POST", acs, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first post: %d", resp.StatusCode)
	}
	if resp, page := b.fetch("POST", acs, form); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "already used") {
		t.Errorf("second post: %d %s", resp.StatusCode, page)
	}
	// Without RelayState (IdP-initiated, or stripped): refused.
	form.Del("RelayState")
	if resp, page := b.fetch("POST", acs, form); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "dashboard is not supported") {
		t.Errorf("no RelayState: %d %s", resp.StatusCode, page)
	}
}

// TestSAMLMetadataFromFile: an IdP whose metadata is a saved file (Google Workspace offers no
// metadata URL) signs people in as one with a metadata URL does.
func TestSAMLMetadataFromFile(t *testing.T) {
	t.Parallel()
	idp, err := samlemu.Start(samlemu.Options{Users: []samlemu.User{{Username: "ada", Password: "ada-pw", Email: "ada@corp.example", Groups: []string{"tt-analysts"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	resp, err := http.Get(idp.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	dir := t.TempDir()
	mdFile, file := filepath.Join(dir, "idp.xml"), filepath.Join(dir, "sso.json")
	if err := os.WriteFile(mdFile, md, 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, []byte(fmt.Sprintf(`{"providers": [{"id": "gws", "name": "Workspace", "protocol": "saml", "saml": {"idp_metadata_file": %q},
  "claims": {"email": "mail", "groups": "eduPersonAffiliation"}, "groups": {"tt-analysts": "analyst"}}]}`, mdFile)), 0o600)
	ta := newTestApp(t, false, func(c *config.Config) { c.SSOProviders = file })
	s := &samlApp{testApp: ta, Srv: ta.httpServer(t), IdP: idp}
	if err := idp.AddServiceProvider("telltale", s.Srv.URL+"/login/sso/gws/metadata"); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s.Srv.URL)
	acs, form := s.toACSOf(b, "gws", "/alerts", "ada", "ada-pw")
	if resp, page := b.fetch("POST", acs, form); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts" {
		t.Fatalf("ACS: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if u, err := s.App.Store.GetUserBySubject(context.Background(), "gws", "ada@corp.example"); err != nil || u.Role != "analyst" {
		t.Errorf("user %+v %v", u, err)
	}
}

// TestSAMLProviderDownOrGarbage: an IdP whose metadata URL is down or answers garbage gives a
// clear message on the sign-in page, and local sign-in still works.
func TestSAMLProviderDownOrGarbage(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + ln.Addr().String() + "/metadata"
	ln.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>garbage{") }))
	t.Cleanup(garbage.Close)
	s := newSAMLApp(t,
		fmt.Sprintf(`, {"id": "down", "name": "Down SAML", "protocol": "saml", "saml": {"idp_metadata_url": %q}, "groups": {"a": "admin"}}`, down),
		fmt.Sprintf(`, {"id": "junk", "name": "Junk SAML", "protocol": "saml", "saml": {"idp_metadata_url": %q}, "groups": {"a": "admin"}}`, garbage.URL))
	b := newBrowser(t, s.Srv.URL)
	for _, id := range []string{"down", "junk"} {
		resp, page := b.get("/login/sso/" + id)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "cannot be reached or did not answer with SAML metadata") || !strings.Contains(page, `name="password"`) {
			t.Errorf("%s: %d\n%s", id, resp.StatusCode, page)
		}
	}
	// Garbage posted to the ACS signs nobody in.
	if resp, _ := b.fetch("POST", s.Srv.URL+"/login/sso/corp/acs", url.Values{"SAMLResponse": {"garbage"}, "RelayState": {"x"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("garbage at the ACS: %d", resp.StatusCode)
	}
	b.login("alice", adminPassword) // break-glass
	if s.sessionCookie(b) == "" {
		t.Error("local sign-in failed while the SAML IdPs are down")
	}
}

// TestSAMLReplayRefusedAfterRestart: the ids of accepted assertions are in the database, not in
// the process: a node started anew on the same database refuses an assertion the first accepted.
func TestSAMLReplayRefusedAfterRestart(t *testing.T) {
	t.Parallel()
	idp, err := samlemu.Start(samlemu.Options{Users: []samlemu.User{{Username: "ada", Password: "ada-pw", Email: "ada@corp.example", Groups: []string{"tt-analysts"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	file := filepath.Join(t.TempDir(), "sso.json")
	os.WriteFile(file, []byte(fmt.Sprintf(`{"providers": [{"id": "corp", "name": "Corp SAML", "protocol": "saml", "saml": {"idp_metadata_url": %q},
  "claims": {"email": "mail", "groups": "eduPersonAffiliation"}, "groups": {"tt-analysts": "analyst"}}]}`, idp.MetadataURL())), 0o600)
	// Both nodes answer as the same public URL, so the IdP knows one service provider.
	dir, key := t.TempDir(), make([]byte, 32)
	rand.Read(key)
	ta := newTestApp(t, false, func(c *config.Config) {
		c.SSOProviders, c.DataDir, c.SecretKey, c.PublicURL = file, dir, base64.StdEncoding.EncodeToString(key), "http://telltale.test"
	})
	first := &samlApp{testApp: ta, Srv: ta.httpServer(t), IdP: idp}
	if err := idp.AddServiceProvider("telltale", first.Srv.URL+"/login/sso/corp/metadata"); err != nil {
		t.Fatal(err)
	}
	// signIn posts the IdP's form to the node's real address (the form names the public URL).
	signIn := func(s *samlApp) (*http.Response, string) {
		b := newBrowser(t, s.Srv.URL)
		acs, form := s.toACS(b, "/", "ada", "ada-pw")
		return b.fetch("POST", strings.Replace(acs, "http://telltale.test", s.Srv.URL, 1), form)
	}
	var genuine *etree.Element
	idp.SetResponseHook(func(doc *etree.Document) { genuine = doc.Root().SelectElement("Assertion").Copy() })
	if resp, page := signIn(first); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first node: %d %s", resp.StatusCode, page)
	}

	// The first node stops (its cleanup closing it again does nothing); the second opens the same
	// database.
	first.Srv.Close()
	first.App.Close()
	cfg := config.Default()
	cfg.SSOProviders, cfg.DataDir, cfg.SecretKey, cfg.PublicURL = file, dir, base64.StdEncoding.EncodeToString(key), "http://telltale.test"
	cfg.BootstrapToken, cfg.AllowLoopback = bootstrapToken, true
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	second := &samlApp{testApp: &testApp{App: a}, IdP: idp}
	second.Srv = second.httpServer(t)
	idp.SetResponseHook(func(doc *etree.Document) {
		root := doc.Root()
		old := genuine.Copy()
		old.FindElement(".//SubjectConfirmationData").CreateAttr("InResponseTo", root.SelectAttrValue("InResponseTo", ""))
		signed, _ := idp.Sign(old)
		a := root.SelectElement("Assertion")
		i := a.Index()
		root.RemoveChildAt(i)
		root.InsertChildAt(i, signed)
		signedRoot, _ := idp.Sign(root.Copy())
		doc.SetRoot(signedRoot)
	})
	if resp, page := signIn(second); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "failed a check") {
		t.Fatalf("replay on the second node: %d\n%s", resp.StatusCode, page)
	}
	if r := (&ssoApp{testApp: second.testApp}).audit(t, "session.create")[0]; !strings.Contains(fmt.Sprint(r["reason"]), "replayed") {
		t.Errorf("replay audit %v", r)
	}
	// A fresh assertion still signs in there.
	idp.SetResponseHook(nil)
	if resp, page := signIn(second); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("fresh assertion on the second node: %d %s", resp.StatusCode, page)
	}
}
