package graphkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// graphGetter is a Getter over plain HTTP against the Microsoft emulator, with an app token;
// requests counts the GETs.
func graphGetter(t *testing.T, emu *memu.Emulator) (Getter, *int) {
	t.Helper()
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.PostForm(srv.URL+"/"+emu.TenantID()+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {emu.ClientID()}, "client_secret": {emu.ClientSecret()}, "scope": {memu.ScopeGraph}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("no token: %s", resp.Status)
	}
	n := 0
	return func(ctx context.Context, p string, out any) error {
		n++
		u := p
		if strings.HasPrefix(p, "/") {
			u = srv.URL + "/v1.0" + p
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			var b []byte
			b, _ = json.Marshal(map[string]any{})
			return ParseError(&httpx.StatusError{Code: resp.StatusCode, Body: b}, resp)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}, &n
}

// TestDirectory: the users list over several pages, disabled users skipped and counted, a users
// scope by address in any case, a groups scope through transitive members (a nested group's
// members included) with a missing group named, and Seen given every user read.
func TestDirectory(t *testing.T) {
	emu := memu.New(memu.Options{Seed: 4, Users: 12, UnlicensedUsers: 2, DisabledUsers: 2, Groups: 3, FilesPerUser: 1})
	t.Cleanup(emu.Close)
	get, requests := graphGetter(t, emu)
	seen := map[string]bool{}
	d := Directory{Get: get, PageSize: 3, Fields: "id,userPrincipalName,mail,displayName,accountEnabled,assignedLicenses",
		Denied: func(err error, need, what string) error { return fmt.Errorf("%s (%s): %w", what, need, err) },
		Seen:   func(u User) { seen[u.ID] = true }}
	ctx := context.Background()
	collect := func(scope connector.Scope) ([]string, connector.Discovery) {
		t.Helper()
		var got []string
		res, err := d.Users(ctx, scope, func(us []User) error {
			for _, u := range us {
				if u.Disabled() {
					t.Errorf("disabled user %s handed over", u.UPN())
				}
				got = append(got, u.UPN())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		return got, res
	}
	var enabled, all []string
	unlicensed := 0
	for _, u := range emu.Users() {
		all = append(all, u.ID)
		if u.Enabled {
			enabled = append(enabled, strings.ToLower(u.UPN))
		}
		if !u.Licensed {
			unlicensed++
		}
	}
	sort.Strings(enabled)
	*requests = 0
	got, res := collect(connector.Scope{Kind: "all"})
	if !slices.Equal(got, enabled) || res.SkippedInactive != 2 {
		t.Errorf("all: %v (skipped %d), want %v and 2 skipped", got, res.SkippedInactive, enabled)
	}
	if *requests < 4 {
		t.Errorf("%d requests for 12 users by 3: not paged", *requests)
	}
	for _, id := range all {
		if !seen[id] {
			t.Errorf("user %s not seen", id)
		}
	}
	var lic, disabled []memu.User
	for _, u := range emu.Users() {
		if u.Enabled && u.Licensed {
			lic = append(lic, u)
		}
		if !u.Enabled {
			disabled = append(disabled, u)
		}
	}
	got, res = collect(connector.Scope{Kind: "users", Users: []string{strings.ToUpper(lic[1].UPN), " " + lic[2].UPN, disabled[0].UPN, "nobody@example.com"}})
	if w := []string{strings.ToLower(lic[1].UPN), strings.ToLower(lic[2].UPN)}; !slices.Equal(got, w) && !slices.Equal(got, []string{w[1], w[0]}) || res.SkippedInactive != 1 {
		t.Errorf("users scope: %v (skipped %d), want %v and 1 skipped", got, res.SkippedInactive, w)
	}
	groups := emu.Groups()
	members := map[string]bool{}
	var walk func(id string)
	walk = func(id string) {
		for _, g := range groups {
			if g.ID == id {
				for _, m := range g.Members {
					walk(m)
				}
				return
			}
		}
		members[id] = true
	}
	walk(groups[0].ID)
	var want []string
	for _, u := range emu.Users() {
		if members[u.ID] && u.Enabled {
			want = append(want, strings.ToLower(u.UPN))
		}
	}
	sort.Strings(want)
	got, res = collect(connector.Scope{Kind: "groups", Groups: []string{groups[0].Name, "No such team"}})
	if !slices.Equal(got, want) || !slices.Equal(res.MissingGroups, []string{"No such team"}) {
		t.Errorf("groups scope: %v missing %v, want %v missing [No such team]", got, res.MissingGroups, want)
	}
	nested := false
	for _, m := range groups[1].Members {
		if !slices.Contains(groups[0].Members, m) {
			nested = true
		}
	}
	if !nested {
		t.Errorf("setup: the nested group adds nobody")
	}
	// A user's license is read when selected.
	n := 0
	d.EachPage(ctx, "listing users", func(us []User) (bool, error) {
		for _, u := range us {
			if u.Unlicensed() {
				n++
			}
		}
		return true, nil
	})
	if n != unlicensed {
		t.Errorf("%d unlicensed users read, want %d", n, unlicensed)
	}
}
