package microsoft

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// token is an access token: for one resource, with the roles consented when it was issued.
type token struct {
	resource string
	roles    map[string]bool
	expires  time.Time
}

// The token endpoint's refusals, as Entra ID answers them. The codes, errors and first sentences
// are Microsoft's (the AADSTS error code reference, learn.microsoft.com/entra/identity-platform/
// reference-error-codes, and the answers quoted in vendor NOTES, Corrections 6):
//   - 7000215 invalid_client (401): a wrong client secret;
//   - 700016 unauthorized_client (400): the application is not in the tenant;
//   - 90002 invalid_request (400): no such tenant;
//   - 1002012 invalid_scope (400): a client-credentials scope without "/.default";
//   - 500011 invalid_resource (400): a ".default" scope of a resource the tenant does not have;
//   - 7000216 invalid_client (401): neither client_secret nor client_assertion;
//   - 900144 invalid_request (400): a required parameter missing;
//   - 70003 unsupported_grant_type (400).
//
// Every body carries error, error_description (with the Trace ID, Correlation ID and Timestamp
// lines Entra ID appends), error_codes, timestamp, trace_id, correlation_id and error_uri, the
// shape of the reference's sample error response.
const (
	codeBadSecret       = 7000215
	codeAppNotInTenant  = 700016
	codeNoTenant        = 90002
	codeScopeNotDefault = 1002012
	codeNoResource      = 500011
	codeNoCredential    = 7000216
	codeMissingParam    = 900144
	codeBadGrant        = 70003
)

func (e *Emulator) aadError(w http.ResponseWriter, status int, errCode string, code int, desc string) {
	e.mu.Lock()
	e.stats.TokenErrors++
	trace, corr := e.serveGUID(), e.serveGUID()
	e.mu.Unlock()
	now := e.clk.Now().UTC()
	ts := now.Format("2006-01-02 15:04:05Z")
	full := fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code, desc, trace, corr, ts)
	writeJSONAs(w, status, ctToken, map[string]any{
		"error": errCode, "error_description": full, "error_codes": []int{code}, "timestamp": ts,
		"trace_id": trace, "correlation_id": corr, "error_uri": fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code),
	})
}

// knownTenant reports whether t names the tenant: its id or one of its domains.
func (e *Emulator) knownTenant(t string) bool {
	t = strings.ToLower(t)
	return t == strings.ToLower(e.o.TenantID) || t == strings.ToLower(e.o.Domain) || t == strings.ToLower(e.o.InitialDomain)
}

// tokenEndpoint is POST /{tenant}/oauth2/v2.0/token: the client credentials grant with a client
// secret in the form (golang.org/x/oauth2/clientcredentials with AuthStyleInParams; HTTP Basic
// is accepted too, as Entra ID does).
func (e *Emulator) tokenEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	e.mu.Lock()
	e.stats.Requests++
	e.stats.TokenRequests++
	e.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		e.aadError(w, 400, "invalid_request", codeMissingParam, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if !e.knownTenant(tenant) {
		e.aadError(w, 400, "invalid_request", codeNoTenant, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
		return
	}
	gt := f.Get("grant_type")
	if gt == "" {
		e.aadError(w, 400, "invalid_request", codeMissingParam, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if gt != "client_credentials" {
		e.aadError(w, 400, "unsupported_grant_type", codeBadGrant, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok && id == "" {
		id, secret = bid, bsecret
	}
	if id == "" {
		e.aadError(w, 400, "invalid_request", codeMissingParam, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	scope := f.Get("scope")
	if scope == "" {
		e.aadError(w, 400, "invalid_request", codeMissingParam, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if !strings.EqualFold(id, e.o.ClientID) {
		e.aadError(w, 400, "unauthorized_client", codeAppNotInTenant, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", id, e.o.TenantName))
		return
	}
	if secret == "" && f.Get("client_assertion") == "" {
		e.aadError(w, 401, "invalid_client", codeNoCredential, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if secret != e.o.ClientSecret {
		e.aadError(w, 401, "invalid_client", codeBadSecret, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", e.o.ClientID))
		return
	}
	scopes := strings.Fields(scope)
	if len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default") {
		e.aadError(w, 400, "invalid_scope", codeScopeNotDefault, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	res := strings.TrimSuffix(scopes[0], "/.default")
	if res != ResourceGraph && res != ResourceManage {
		e.aadError(w, 400, "invalid_resource", codeNoResource, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", res, e.o.TenantName))
		return
	}
	e.mu.Lock()
	t := &token{resource: res, roles: map[string]bool{}, expires: e.clk.Now().Add(e.o.TokenTTL)}
	for role := range e.consent {
		t.roles[role] = true
	}
	var b [32]byte
	rand.Read(b[:])
	// Entra ID's access tokens are JWTs; clients must treat them as opaque (Microsoft: "access
	// tokens are opaque to clients"), so this one is opaque.
	s := "eyJ0eXAiOiJKV1QiLCJlbXUiOjF9.emu-" + base64.RawURLEncoding.EncodeToString(b[:])
	if len(e.tokens) > 5000 {
		now := e.clk.Now()
		for k, old := range e.tokens {
			if !now.Before(old.expires) {
				delete(e.tokens, k)
			}
		}
	}
	e.tokens[s] = t
	e.mu.Unlock()
	ttl := int64(e.o.TokenTTL / time.Second)
	writeJSONAs(w, 200, ctToken, map[string]any{"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": s})
}
