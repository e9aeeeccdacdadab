// Package saml is a SAML 2.0 identity provider for tests and the demo, built on crewjam/saml's
// samlidp (metadata, the HTTP-Redirect SSO endpoint, signed responses and assertions posted back
// with the HTTP-POST binding): the protocol is the library's, not hand-written XML. The emulator
// adds what tests need around it: users with passwords, groups and emails, service providers
// registered from their metadata URL, a sign-in page a browser can fill, and a hook that
// rewrites the SAML response on its way to the browser (for the bad-input tests: samlidp makes
// only correct responses, so a test tampers with one and re-signs it with Sign when it must look
// genuine).
package saml

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/samlidp"
	dsig "github.com/russellhaering/goxmldsig"
)

// User is a person at the identity provider.
type User struct {
	Username string // typed on the sign-in page
	Password string
	Email    string // the NameID, and the "mail" attribute
	Name     string // the "cn" attribute
	Groups   []string
}

// Options configure an emulator.
type Options struct {
	Users []User
}

// Server is a running SAML identity provider on loopback.
type Server struct {
	URL string // http://127.0.0.1:port; the metadata is at URL + "/metadata"

	http   *httptest.Server
	idp    *samlidp.Server
	key    *rsa.PrivateKey
	cert   *x509.Certificate
	admin  string // the token of the IdP's admin endpoints
	client *http.Client

	mu   sync.Mutex
	hook func(response *etree.Document)
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><title>Emulated SAML IdP sign-in</title></head><body>
<h1>Emulated SAML identity provider</h1>
{{if .Toast}}<p id="idp-error">{{.Toast}}</p>{{end}}
<form method="post" action="{{.URL}}">
<label>User name <input id="idp-username" name="user" autocomplete="username"></label>
<label>Password <input id="idp-password" name="password" type="password"></label>
<input type="hidden" name="SAMLRequest" value="{{.SAMLRequest}}">
<input type="hidden" name="RelayState" value="{{.RelayState}}">
<button id="idp-submit" type="submit">Sign in</button>
</form></body></html>`))

// Start runs an identity provider on 127.0.0.1 and a random port.
func Start(o Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String(), client: &http.Client{Timeout: 10 * time.Second}}
	if s.key, s.cert, err = selfSigned(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("saml emulator: %w", err)
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	s.admin = base64.RawURLEncoding.EncodeToString(b)
	u, _ := url.Parse(s.URL)
	s.idp, err = samlidp.New(samlidp.Options{URL: *u, Key: s.key, Certificate: s.cert, Store: &samlidp.MemoryStore{},
		LoginFormTemplate: loginTmpl, Logger: quiet{},
		// The admin endpoints (users, services) answer the emulator's own calls only.
		AdminMiddleware: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+s.admin {
					http.Error(w, "forbidden", http.StatusForbidden)
					return
				}
				next.ServeHTTP(w, r)
			})
		}})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("saml emulator: %w", err)
	}
	s.http = &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.responseHook(s.idp), ReadHeaderTimeout: 10 * time.Second}}
	s.http.Start()
	for _, u := range o.Users {
		if err := s.SetUser(u); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops the provider.
func (s *Server) Close() { s.http.Close() }

// MetadataURL is where the IdP's metadata is served.
func (s *Server) MetadataURL() string { return s.URL + "/metadata" }

func (s *Server) call(method, path string, body []byte) error {
	req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("saml emulator: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("saml emulator: %s %s: %s %s", method, path, resp.Status, msg)
	}
	return nil
}

// SetUser adds or replaces a user (by user name): change Groups to move someone between groups.
func (s *Server) SetUser(u User) error {
	b, _ := json.Marshal(map[string]any{"password": u.Password, "email": u.Email, "common_name": u.Name, "groups": u.Groups})
	return s.call("PUT", "/users/"+url.PathEscape(u.Username), b)
}

// AddServiceProvider registers a service provider from its metadata URL (Telltale's
// /login/sso/{id}/metadata), as an admin uploads it to a real IdP.
func (s *Server) AddServiceProvider(name, metadataURL string) error {
	resp, err := s.client.Get(metadataURL)
	if err != nil {
		return fmt.Errorf("saml emulator: SP metadata: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("saml emulator: SP metadata at %s: %s %v", metadataURL, resp.Status, err)
	}
	return s.call("PUT", "/services/"+url.PathEscape(name), b)
}

// Sign replaces el's enveloped signature (if any) by one made with the IdP's own key, as a
// genuine one: for tests that tamper with a response and must get past the signature check.
func (s *Server) Sign(el *etree.Element) (*etree.Element, error) {
	el = el.Copy()
	for _, c := range el.ChildElements() {
		if c.Tag == "Signature" {
			el.RemoveChild(c)
		}
	}
	ctx, err := dsig.NewSigningContext(s.key, [][]byte{s.cert.Raw})
	if err != nil {
		return nil, err
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		return nil, err
	}
	// The library appends the signature; SAML's schema wants it right after the Issuer. (goxmldsig
	// appends to Child directly, so the children are reordered by hand, not with etree's calls.)
	sig := signed.Child[len(signed.Child)-1]
	rest := signed.Child[:len(signed.Child)-1]
	at := 0
	for i, c := range rest {
		if e, ok := c.(*etree.Element); ok && e.Tag == "Issuer" {
			at = i + 1
		}
	}
	signed.Child = append(append(append([]etree.Token(nil), rest[:at]...), sig), rest[at:]...)
	return signed.Copy(), nil // a copy renumbers the children for etree
}

// SetResponseHook makes the IdP hand the browser f's version of each SAML response (f edits the
// document in place) instead of the genuine one; nil turns the hook off.
func (s *Server) SetResponseHook(f func(response *etree.Document)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = f
}

var samlResponseField = regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)

// responseHook rewrites the SAMLResponse of the auto-posting form the IdP answers with.
func (s *Server) responseHook(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		hook := s.hook
		s.mu.Unlock()
		if hook == nil || (r.URL.Path != "/sso" && r.URL.Path != "/login") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if m := samlResponseField.FindSubmatchIndex(body); m != nil {
			raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(string(body[m[2]:m[3]])))
			doc := etree.NewDocument()
			if err == nil && doc.ReadFromBytes(raw) == nil {
				hook(doc)
				out, _ := doc.WriteToBytes()
				enc := html.EscapeString(base64.StdEncoding.EncodeToString(out))
				body = append(append(append([]byte(nil), body[:m[2]]...), enc...), body[m[3]:]...)
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

func selfSigned() (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Telltale emulated SAML IdP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// quiet drops samlidp's log lines (it logs user names and failed passwords).
type quiet struct{}

func (quiet) Printf(string, ...interface{})     {}
func (quiet) Print(...interface{})              {}
func (quiet) Println(...interface{})            {}
func (quiet) Fatal(v ...interface{})            { panic(fmt.Sprint(v...)) }
func (quiet) Fatalf(f string, v ...interface{}) { panic(fmt.Sprintf(f, v...)) }
func (quiet) Fatalln(v ...interface{})          { panic(fmt.Sprint(v...)) }
func (quiet) Panic(v ...interface{})            { panic(fmt.Sprint(v...)) }
func (quiet) Panicf(f string, v ...interface{}) { panic(fmt.Sprintf(f, v...)) }
func (quiet) Panicln(v ...interface{})          { panic(fmt.Sprint(v...)) }
