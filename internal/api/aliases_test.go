package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestPersonAliases (R8.3): one person across services. An admin adds the person's Microsoft UPN
// and Box login as aliases (audited); the person's page, asked by any of the addresses, shows the
// person with their aliases, the last activity per service and address, and recent events under
// every address; bad and conflicting aliases are refused with the reason and change nothing; the
// people list folds aliases into their person and says the status where a directory gave one.
func TestPersonAliases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.app.Store.CreateConnection(ctx, store.Connection{Name: "m365", Service: "onedrive", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	mk := func(i int, actor string, o event.Observer) *event.FileEvent {
		return &event.FileEvent{Timestamp: t0.Add(time.Duration(i) * time.Minute),
			Event: event.Meta{Action: event.ActionDownloaded, Observer: o, ConnectionID: c.ID, VendorIDs: []string{"al" + string(rune('a'+i))}},
			User:  event.User{Email: actor}, File: event.File{ID: "f" + string(rune('a'+i)), Name: "plan.xlsx"}}
	}
	evs := []*event.FileEvent{mk(0, "alice@corp.example", event.ObserverGoogleDrive), mk(1, "ASmith@corp.onmicrosoft.example", event.ObserverOneDrive),
		mk(2, "Alice@Corp.example", event.ObserverBox), mk(3, "bob@corp.example", event.ObserverBox)}
	if _, err := f.app.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Store.UpsertPerson(ctx, store.Person{Email: "bob@corp.example", Status: "blocked"}); err != nil {
		t.Fatal(err)
	}
	sec, err := f.app.Store.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "laptops", Prefix: "tds_x", Hash: []byte("h"), ExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Store.CreateDevice(ctx, store.Device{PublicKey: []byte("k"), SecretID: sec.ID, HostName: "asmith-laptop", Person: "asmith@corp.onmicrosoft.example", EnrolledAt: t0}); err != nil {
		t.Fatal(err)
	}

	st, out := f.do(t, f.admin, "POST", "/api/v1/people/alice@corp.example/aliases", client.AliasInput{Alias: " ASmith@corp.onmicrosoft.example "})
	var as client.PersonAliases
	if st != 200 || json.Unmarshal(out, &as) != nil || len(as.Items) != 1 || as.Items[0].Alias != "asmith@corp.onmicrosoft.example" || as.Items[0].AddedBy == "" {
		t.Fatalf("add alias: %d %s", st, out)
	}
	for _, c := range []struct {
		email, alias string
		status       int
		want         string
	}{
		{"alice@corp.example", "ALICE@corp.example", 400, "differ only in case"},
		{"alice@corp.example", "not an address", 400, "an alias is an address"},
		{"bob@corp.example", "asmith@corp.onmicrosoft.example", 409, "already an alias of alice@corp.example"},
		{"asmith@corp.onmicrosoft.example", "x@corp.example", 409, "add the alias to alice@corp.example"},
	} {
		st, out := f.do(t, f.admin, "POST", "/api/v1/people/"+c.email+"/aliases", client.AliasInput{Alias: c.alias})
		if st != c.status || !strings.Contains(string(out), c.want) {
			t.Errorf("add %q to %s: %d %s, want %d %q", c.alias, c.email, st, out, c.status, c.want)
		}
	}
	if st, _ := f.do(t, f.userToken(t, auth.RoleAnalyst), "POST", "/api/v1/people/bob@corp.example/aliases", client.AliasInput{Alias: "b@corp.example"}); st != http.StatusForbidden {
		t.Errorf("an analyst added an alias: %d", st)
	}

	// Asked by the alias, the page shows the person.
	st, out = f.do(t, f.admin, "GET", "/api/v1/people/asmith@corp.onmicrosoft.example", nil)
	var p client.Person
	if st != 200 || json.Unmarshal(out, &p) != nil {
		t.Fatalf("person: %d %s", st, out)
	}
	if len(p.Devices) != 1 || p.Devices[0].HostName != "asmith-laptop" {
		t.Errorf("devices under any address: %+v", p.Devices)
	}
	if p.Email != "alice@corp.example" || len(p.Aliases) != 1 || len(p.RecentEvents) != 3 {
		t.Errorf("person by alias: %s, aliases %+v, %d events (want 3: every address, any case)", p.Email, p.Aliases, len(p.RecentEvents))
	}
	// actor: in a search means the person under every address (search.ExpandActors), by the
	// primary address or an alias; NOT actor: excludes every one of them; the canonical query the
	// answer carries names the addresses it ran with.
	search := func(q string) (n int, canon string) {
		t.Helper()
		st, out := f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Query: q})
		var res client.SearchResult
		if st != 200 || json.Unmarshal(out, &res) != nil {
			t.Fatalf("search %s: %d %s", q, st, out)
		}
		return len(res.Items), res.Query
	}
	for q, want := range map[string]int{"actor:alice@corp.example": 3, "user:ASMITH@corp.onmicrosoft.example": 3, "NOT actor:asmith@corp.onmicrosoft.example": 1,
		"actor:alice@corp.example service:onedrive": 1, "actor:bob@corp.example": 1} {
		if n, canon := search(q); n != want {
			t.Errorf("search %s: %d events (ran %q), want %d", q, n, canon, want)
		}
	}
	if _, canon := search("actor:alice@corp.example"); canon != "actor:alice@corp.example OR actor:asmith@corp.onmicrosoft.example" {
		t.Errorf("the search ran %q", canon)
	}
	var srcs []string
	for _, s := range p.Sources {
		srcs = append(srcs, s.Service+" "+s.Address)
	}
	if want := "box alice@corp.example,onedrive asmith@corp.onmicrosoft.example,google_drive alice@corp.example"; strings.Join(srcs, ",") != want {
		t.Errorf("sources: %v, want %s", srcs, want)
	}

	st, out = f.do(t, f.admin, "GET", "/api/v1/people?limit=1", nil)
	var l client.PeopleList
	if st != 200 || json.Unmarshal(out, &l) != nil || len(l.Items) != 1 || l.Items[0].Email != "alice@corp.example" || l.Next == "" ||
		strings.Join(l.Items[0].Aliases, ",") != "asmith@corp.onmicrosoft.example" {
		t.Fatalf("people page 1: %d %s", st, out)
	}
	st, out = f.do(t, f.admin, "GET", "/api/v1/people?after="+l.Next, nil)
	l = client.PeopleList{}
	if st != 200 || json.Unmarshal(out, &l) != nil || len(l.Items) != 1 || l.Items[0].Email != "bob@corp.example" || l.Items[0].Status != "blocked" || l.Next != "" {
		t.Fatalf("people page 2: %d %s", st, out)
	}
	// What a directory says of a person it does not monitor is on the person's page, with the
	// connection and the vendor's words, and sets the status.
	if err := f.app.Store.ReplacePersonStates(ctx, c.ID, []store.PersonState{{Email: "bob@corp.example", Status: store.PersonInactive, Reason: "sign-in disabled"}}); err != nil {
		t.Fatal(err)
	}
	st, out = f.do(t, f.admin, "GET", "/api/v1/people/bob@corp.example", nil)
	var bob client.Person
	if st != 200 || json.Unmarshal(out, &bob) != nil || bob.Status != "inactive" || len(bob.Directories) != 1 || bob.Directories[0].Connection != "m365" ||
		bob.Directories[0].Service != "onedrive" || bob.Directories[0].Reason != "sign-in disabled" || bob.Directories[0].SeenAt.IsZero() {
		t.Errorf("bob: %d %s", st, out)
	}
	if st, _ := f.do(t, f.admin, "GET", "/api/v1/people?limit=5000", nil); st != 400 {
		t.Errorf("limit 5000: %d", st)
	}

	if st, out := f.do(t, f.admin, "DELETE", "/api/v1/people/bob@corp.example/aliases/asmith@corp.onmicrosoft.example", nil); st != 404 || !strings.Contains(string(out), "is not an alias of bob@corp.example") {
		t.Errorf("remove another's alias: %d %s", st, out)
	}
	if st, out := f.do(t, f.admin, "DELETE", "/api/v1/people/alice@corp.example/aliases/asmith@corp.onmicrosoft.example", nil); st != 204 {
		t.Errorf("remove: %d %s", st, out)
	}
	if n, canon := search("actor:alice@corp.example"); n != 2 || canon != "actor:alice@corp.example" {
		t.Errorf("after the alias went: %d events, ran %q (want 2, the address alone)", n, canon)
	}
	es, err := f.app.Store.ListAudit(ctx, store.AuditFilter{Action: "person.alias."})
	if err != nil || len(es) != 8 || es[0].Action != "person.alias.remove" || es[0].Outcome != "ok" || es[0].Target != "person/alice@corp.example" ||
		!strings.Contains(string(es[0].Details), "asmith@corp.onmicrosoft.example") || es[7].Outcome != "ok" || es[6].Outcome != "400 Bad Request" || es[2].Outcome != "403 Forbidden" {
		for _, e := range es {
			t.Logf("%s %s %s %s", e.Action, e.Target, e.Outcome, e.Details)
		}
		t.Errorf("audit: %d entries, %v", len(es), err)
	}
}
