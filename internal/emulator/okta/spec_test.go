package okta

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/testutil/openapi"
	"github.com/telltale-dev/telltale/internal/testutil/openapi/oktaspec"
)

// The test here validates every answer the emulator gives, and every request the walk sends,
// against Okta's management OpenAPI (../shared/vendor/okta/management-openapi.yaml) with the
// strict validator of internal/testutil/openapi (the checker the Box emulator uses): undeclared
// properties are errors, every status must be declared. The Okta integration's own requests are
// validated the same way in internal/integration (TestOkta).

type exchange struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

const (
	token = "00abcdefghijklmnopqrstuvwxyz0123456789ABCD"
	alice = "00u1alice00000000001"
	bob   = "00u1bob0000000000001"
	risk  = "00g1highrisk00000001"
)

// Emulated returns an emulator with two users and a high-risk group.
func Emulated() *Server {
	return New(token, []User{{ID: alice, Login: "alice@corp.example", First: "Alice", Last: "Ng"}, {ID: bob, Login: "bob@corp.example", First: "Bob", Last: "Ray"}},
		[]Group{{ID: risk, Name: "High risk", Description: "Departing and high-risk users"}})
}

func walk(t *testing.T, spec *openapi.Doc) []exchange {
	t.Helper()
	emu := Emulated()
	var mu sync.Mutex
	var got []exchange
	emu.Check = func(r *http.Request, status int, h http.Header, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, exchange{r.Method, r.URL.Path, status, h, body})
	}
	srv := httptest.NewServer(spec.Requests(emu, func(r *http.Request, err error) { t.Errorf("request %s %s: %v", r.Method, r.URL, err) }))
	defer srv.Close()
	call := func(method, path, tok string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Accept", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "SSWS "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	call("GET", "/api/v1/users/"+alice, token)
	call("GET", "/api/v1/users/"+url.PathEscape("alice@corp.example"), token)
	call("GET", "/api/v1/users/bob", token) // login shortname
	call("GET", "/api/v1/users/"+url.PathEscape("nobody@corp.example"), token)
	call("GET", "/api/v1/groups/"+risk, token)
	call("GET", "/api/v1/groups/00g0000000000000none", token)
	call("PUT", "/api/v1/groups/"+risk+"/users/"+alice, token)
	call("PUT", "/api/v1/groups/"+risk+"/users/"+alice, token) // again: still 204
	call("PUT", "/api/v1/groups/"+risk+"/users/00u0000000000000none", token)
	call("DELETE", "/api/v1/groups/"+risk+"/users/"+alice, token)
	call("GET", "/api/v1/users/"+alice, "wrong-token")
	call("PUT", "/api/v1/groups/"+risk+"/users/"+alice, "wrong-token")
	emu.Fail(Fault{RateLimit: time.Minute}, Fault{Status: 403}, Fault{Status: 500})
	call("PUT", "/api/v1/groups/"+risk+"/users/"+bob, token)
	call("GET", "/api/v1/users/"+bob, token)
	call("GET", "/api/v1/groups/"+risk, token)
	if m := emu.Members(risk); len(m) != 0 {
		t.Errorf("members after add and remove: %v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

func TestResponsesMatchSpec(t *testing.T) {
	spec := oktaspec.Load(t)
	all := walk(t, spec)
	statuses := map[int]int{}
	for _, x := range all {
		statuses[x.status]++
		if err := spec.ValidateResponse(x.method, x.path, x.status, x.header, x.body); err != nil {
			t.Error(err)
		}
		if x.status == http.StatusUnauthorized {
			if err := spec.ValidateSchema("#/components/schemas/Error", x.body); err != nil {
				t.Errorf("401 body: %v", err)
			}
		}
	}
	for _, want := range []int{200, 204, 401, 403, 404, 429, 500} {
		if statuses[want] == 0 {
			t.Errorf("the walk never produced a %d answer: %v", want, statuses)
		}
	}
	for _, e := range spec.Unused() {
		t.Errorf("the exception %v no longer applies to any answer: remove it (%s)", e, e.Reason)
	}

	// Strict enough that a renamed or mistyped field fails.
	find := func(method, prefix string, status int) exchange {
		for _, x := range all {
			if x.method == method && strings.HasPrefix(x.path, prefix) && x.status == status {
				return x
			}
		}
		t.Fatalf("no %s %s answered %d", method, prefix, status)
		return exchange{}
	}
	user := find("GET", "/api/v1/users/", 200)
	group := find("GET", "/api/v1/groups/", 200)
	notFound := find("GET", "/api/v1/users/", 404)
	limited := find("PUT", "/api/v1/groups/", 429)
	if reset := limited.header.Get("X-Rate-Limit-Reset"); reset == "" {
		t.Error("a 429 without X-Rate-Limit-Reset")
	}
	for _, c := range []struct {
		name     string
		x        exchange
		from, to string
	}{
		{"user id renamed", user, `"id":`, `"userId":`},
		{"user status outside the enum", user, `"status":"ACTIVE"`, `"status":"ENABLED"`},
		{"user created not a date-time", user, `"created":"2025-03-01T09:00:00.000Z"`, `"created":"yesterday"`},
		{"user profile login a number", user, `"login":"alice@corp.example"`, `"login":7`},
		{"group type outside the enum", group, `"type":"OKTA_GROUP"`, `"type":"GROUP"`},
		{"group objectClass a string", group, `"objectClass":["okta:user_group"]`, `"objectClass":"okta:user_group"`},
		{"errorSummary renamed", notFound, `"errorSummary":`, `"errorSumary":`},
		{"errorCauses an object", limited, `"errorCauses":[]`, `"errorCauses":{}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !bytes.Contains(c.x.body, []byte(c.from)) {
				t.Fatalf("%s not in %s", c.from, c.x.body)
			}
			broken := bytes.Replace(c.x.body, []byte(c.from), []byte(c.to), 1)
			if err := spec.ValidateResponse(c.x.method, c.x.path, c.x.status, c.x.header, broken); err == nil {
				t.Errorf("the spec accepted %s", broken)
			}
		})
	}
	var u map[string]any
	json.Unmarshal(user.body, &u)
	if u["profile"].(map[string]any)["login"] == nil {
		t.Error("the user has no login")
	}
}
