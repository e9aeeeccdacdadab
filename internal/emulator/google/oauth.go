package google

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"time"
)

// token is an access token: bound to the impersonated user and the scopes granted.
type token struct {
	subject *user // nil: the service account itself (no delegation)
	scopes  map[string]bool
	expires time.Time
}

// The token endpoint's error texts, as Google answers them:
//   - a wrong key: 400 invalid_grant "Invalid JWT Signature." (googleapis/google-cloud-python#10004,
//     googleapis/google-api-nodejs-client#2808, and many more);
//   - an unknown (deleted or disabled) service account: 400 invalid_grant "Invalid grant: account not
//     found" (googleapis/google-cloud-php#3622: "arises when the service account is disabled or
//     deleted");
//   - delegation not granted for a scope: 401 unauthorized_client "Client is unauthorized to
//     retrieve access tokens using this method, or client not authorized for any of the scopes
//     requested." (vendor NOTES, Corrections 10; the shorter older text in yasyf/vc#133);
//   - an unknown, suspended or archived subject: 400 invalid_grant "Invalid email or User ID";
//   - a stale or far-future assertion: 400 invalid_grant "Invalid JWT: Token must be a short-lived
//     token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT
//     claim." (erebusnz/gapi-google-analytics-php-interface#147 quotes its beginning).
const (
	descBadSignature   = "Invalid JWT Signature."
	descNoAccount      = "Invalid grant: account not found"
	descUnauthorized   = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
	descBadSubject     = "Invalid email or User ID"
	descShortLived     = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	grantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

func oauthFail(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

// tokenEndpoint is POST /token: the JWT bearer grant (RFC 7523) of a service account, with
// domain-wide delegation when the assertion has sub (or prn).
func (e *Emulator) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.stats.Requests++
	e.stats.TokenRequests++
	e.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		oauthFail(w, 400, "invalid_request", "Invalid request body")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != grantTypeJWTBearer {
		if gt == "" {
			oauthFail(w, 400, "invalid_request", "Required parameter is missing: grant_type")
		} else {
			oauthFail(w, 400, "unsupported_grant_type", "Invalid grant_type: "+gt)
		}
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		oauthFail(w, 400, "invalid_grant", "Invalid JWT: Failed audience check.")
		return
	}
	var hdr struct{ Alg, Kid string }
	var claims struct {
		Iss, Scope, Aud, Sub, Prn string
		Iat, Exp                  int64
	}
	if decodeSeg(parts[0], &hdr) != nil || decodeSeg(parts[1], &claims) != nil {
		oauthFail(w, 400, "invalid_grant", descBadSignature)
		return
	}
	if claims.Iss != e.o.ClientEmail {
		oauthFail(w, 400, "invalid_grant", descNoAccount)
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || hdr.Alg != "RS256" || rsa.VerifyPKCS1v15(&e.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		oauthFail(w, 400, "invalid_grant", descBadSignature)
		return
	}
	if want := "http://" + r.Host + r.URL.Path; claims.Aud != want && claims.Aud != "https://oauth2.googleapis.com/token" {
		oauthFail(w, 400, "invalid_grant", "Invalid JWT: Failed audience check. The expected audience is "+want+".")
		return
	}
	// iat and exp are the client's wall clock, not the emulator's (which may be a test's fake
	// clock): only their distance is checked, as Google's 60-minute rule says.
	if claims.Exp <= claims.Iat || claims.Exp-claims.Iat > 3600+60 {
		oauthFail(w, 400, "invalid_grant", descShortLived)
		return
	}
	scopes := map[string]bool{}
	for _, s := range strings.Fields(claims.Scope) {
		scopes[s] = true
	}
	if len(scopes) == 0 {
		oauthFail(w, 400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
		return
	}
	sub := claims.Sub
	if sub == "" {
		sub = claims.Prn
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := &token{scopes: scopes, expires: e.clk.Now().Add(e.o.TokenTTL)}
	if sub != "" {
		for s := range scopes {
			if !e.delegated[s] {
				oauthFail(w, 401, "unauthorized_client", descUnauthorized)
				return
			}
		}
		u := e.byEmail[strings.ToLower(sub)]
		if u == nil || u.suspended || u.archived {
			oauthFail(w, 400, "invalid_grant", descBadSubject)
			return
		}
		t.subject = u
	}
	var b [32]byte
	rand.Read(b[:])
	s := "ya29.emu-" + base64.RawURLEncoding.EncodeToString(b[:])
	if len(e.tokens) > 5000 {
		now := e.clk.Now()
		for k, old := range e.tokens {
			if !now.Before(old.expires) {
				delete(e.tokens, k)
			}
		}
	}
	e.tokens[s] = t
	writeJSON(w, 200, map[string]any{"access_token": s, "expires_in": int64(e.o.TokenTTL / time.Second), "token_type": "Bearer"})
}

func decodeSeg(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// ServiceAccountKey returns the JSON key of the emulator's service account (the file an admin
// downloads from the Cloud console), its token_uri tokenURL (the emulator's URL + "/token").
// golang.org/x/oauth2/google.JWTConfigFromJSON accepts it.
func (e *Emulator) ServiceAccountKey(tokenURL string) []byte {
	return ServiceAccountKeyJSON(e.key, e.o.ClientEmail, e.o.ClientID, e.o.KeyID, tokenURL)
}

// NewServiceAccountKey returns a key JSON for email with a freshly generated RSA key: for the
// emulator's own account it is a wrong key, for another address an unknown client.
func NewServiceAccountKey(email, clientID, tokenURL string) []byte {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return ServiceAccountKeyJSON(k, email, clientID, "other-key", tokenURL)
}

// projectOf is the project id of a service account's email (name@project.iam.gserviceaccount.com).
func projectOf(email string) string {
	if at := strings.Index(email, "@"); at >= 0 {
		return strings.Split(email[at+1:], ".")[0]
	}
	return "telltale-emu"
}

// projectID is the service account's project id (its key's project_id).
func (e *Emulator) projectID() string { return projectOf(e.o.ClientEmail) }

// ServiceAccountKeyJSON encodes a service account key file.
func ServiceAccountKeyJSON(k *rsa.PrivateKey, email, clientID, keyID, tokenURL string) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	project := projectOf(email)
	b, _ := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": keyID,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": clientID,
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURL,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return b
}
