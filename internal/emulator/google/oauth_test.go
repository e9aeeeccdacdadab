package google

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	"google.golang.org/api/drive/v3"
)

// tokenErr fetches a token with key for subject and returns the refusal.
func (h *harness) tokenErr(key []byte, subject string, scopes ...string) *oauth2.RetrieveError {
	h.t.Helper()
	cfg, err := googleoauth.JWTConfigFromJSON(key, scopes...)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.Subject = subject
	_, err = cfg.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, h.hc)).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		h.t.Fatalf("want a token refusal, got %v", err)
	}
	return re
}

func TestOAuth(t *testing.T) {
	h := newHarness(t, Options{Users: 12, SuspendedUsers: 2, ArchivedUsers: 1})
	users := h.emu.Users()
	a, b := h.active()[0], h.active()[1]
	key := h.emu.ServiceAccountKey(h.tokenURL())

	t.Run("a good grant acts as its subject", func(t *testing.T) {
		la, err := h.drive(a.Email).Files.List().Fields("files(id,owners)").Do()
		if err != nil {
			t.Fatal(err)
		}
		lb, err := h.drive(b.Email).Files.List().Fields("files(id,owners)").Do()
		if err != nil {
			t.Fatal(err)
		}
		if len(la.Files) == 0 || len(lb.Files) == 0 {
			t.Fatal("a user sees no files")
		}
		owned := func(fs []*drive.File, email string) int {
			n := 0
			for _, f := range fs {
				if len(f.Owners) > 0 && f.Owners[0].EmailAddress == email {
					n++
				}
			}
			return n
		}
		if owned(la.Files, a.Email) == 0 || owned(la.Files, b.Email) == len(la.Files) || owned(lb.Files, b.Email) == 0 {
			t.Errorf("the token does not act as its subject: %d of %d files owned by %s", owned(la.Files, a.Email), len(la.Files), a.Email)
		}
	})
	cases := []struct {
		name     string
		key      []byte
		subject  string
		scopes   []string
		status   int
		code     string
		desc     string
		delegate []string
	}{
		{"wrong key", NewServiceAccountKey("telltale-emu@telltale-emu.iam.gserviceaccount.com", "104857600000000000001", h.tokenURL()), a.Email, nil, 400, "invalid_grant", "Invalid JWT Signature.", nil},
		{"unknown client", NewServiceAccountKey("someone@other.iam.gserviceaccount.com", "1", h.tokenURL()), a.Email, nil, 400, "invalid_grant", "account not found", nil},
		{"undelegated scope", key, a.Email, []string{ScopeDriveReadonly, ScopeGmailReadonly}, 401, "unauthorized_client", "not authorized for any of the scopes requested", []string{ScopeDriveReadonly}},
		{"unknown subject", key, "nobody@example.com", nil, 400, "invalid_grant", "Invalid email or User ID", nil},
	}
	for _, u := range users {
		if u.Suspended {
			cases = append(cases, struct {
				name     string
				key      []byte
				subject  string
				scopes   []string
				status   int
				code     string
				desc     string
				delegate []string
			}{"suspended subject", key, u.Email, nil, 400, "invalid_grant", "Invalid email or User ID", nil})
		}
		if u.Archived {
			cases = append(cases, struct {
				name     string
				key      []byte
				subject  string
				scopes   []string
				status   int
				code     string
				desc     string
				delegate []string
			}{"archived subject", key, u.Email, nil, 400, "invalid_grant", "Invalid email or User ID", nil})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.emu.SetDelegation(c.delegate)
			defer h.emu.SetDelegation(nil)
			scopes := c.scopes
			if scopes == nil {
				scopes = []string{ScopeDriveReadonly}
			}
			re := h.tokenErr(c.key, c.subject, scopes...)
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			json.Unmarshal(re.Body, &body) // x/oauth2/jwt leaves RetrieveError.ErrorCode empty
			if re.Response.StatusCode != c.status || body.Error != c.code || !strings.Contains(body.ErrorDescription, c.desc) {
				t.Errorf("got %d %s, want %d %s %q", re.Response.StatusCode, re.Body, c.status, c.code, c.desc)
			}
		})
	}
	t.Run("a token expires on the emulator's clock", func(t *testing.T) {
		s := h.drive(a.Email)
		if _, err := s.Files.List().Do(); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(59 * time.Minute)
		if _, err := s.Files.List().Do(); err != nil {
			t.Fatalf("the token expired early: %v", err)
		}
		h.clk.Advance(time.Minute)
		_, err := s.Files.List().Do() // x/oauth2 still holds the token (its expiry is on the wall clock)
		ge := apiErr(t, err, 401, "authError")
		if !strings.Contains(string(ge.Body), `"location":"Authorization"`) {
			t.Errorf("the 401 does not name the Authorization header: %s", ge.Body)
		}
		if _, err := h.drive(a.Email).Files.List().Do(); err != nil {
			t.Errorf("a new token does not work: %v", err)
		}
	})
	t.Run("a token without a Drive scope is refused Drive calls", func(t *testing.T) {
		_, err := h.drive(h.adminEmail(), ScopeDirectoryUserRO).Files.List().Do()
		apiErr(t, err, 403, "insufficientPermissions")
	})
	if st := h.emu.Stats(); st.TokenRequests == 0 || st.ByUser[a.Email].Requests == 0 {
		t.Errorf("stats do not count tokens and requests per user: %+v", st)
	}
}
