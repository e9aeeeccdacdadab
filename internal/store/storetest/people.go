package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testPersonAliases: one person across services (issue 18, R8.3). An alias belongs to one person,
// is never a primary itself, and resolves to its person whatever its case.
func testPersonAliases(t *testing.T, s store.Store) {
	noErr(t, s.AddPersonAlias(ctx, "Alice@Corp.example", "ASmith@corp.onmicrosoft.example", "admin"))
	noErr(t, s.AddPersonAlias(ctx, "alice@corp.example", "alice.box@corp.example", "admin"))
	noErr(t, s.AddPersonAlias(ctx, "alice@corp.example", "asmith@corp.onmicrosoft.example", "admin")) // again: a no-op
	for _, c := range []struct{ email, alias, want string }{
		{"alice@corp.example", "ALICE@corp.example", "own address"},
		{"bob@corp.example", "asmith@corp.onmicrosoft.example", "already an alias of alice@corp.example"},
		{"asmith@corp.onmicrosoft.example", "x@corp.example", "is an alias of alice@corp.example"},
		{"carol@corp.example", "alice@corp.example", "has 2 alias(es) of its own"},
	} {
		if err := s.AddPersonAlias(ctx, c.email, c.alias, "admin"); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("add %s to %s: %v, want a conflict saying %q", c.alias, c.email, err, c.want)
		}
	}
	as := ok(s.PersonAliases(ctx, []string{"ALICE@corp.example", "bob@corp.example"}))(t)
	if len(as) != 2 || as[0].Alias != "alice.box@corp.example" || as[1].Alias != "asmith@corp.onmicrosoft.example" || as[0].Email != "alice@corp.example" ||
		as[0].CreatedBy != "admin" || as[0].CreatedAt.IsZero() {
		t.Fatalf("aliases: %+v", as)
	}
	for addr, want := range map[string]string{"ASMITH@corp.onmicrosoft.example": "alice@corp.example", "alice@corp.example": "alice@corp.example", "Bob@corp.example": "bob@corp.example"} {
		if got := ok(s.ResolvePerson(ctx, addr))(t); got != want {
			t.Errorf("resolve %s: %s, want %s", addr, got, want)
		}
	}
	if got := ok(s.ResolvePeople(ctx, []string{"ASMITH@corp.onmicrosoft.example", "alice.box@corp.example", "bob@corp.example", "asmith@corp.onmicrosoft.example"}))(t); len(got) != 2 ||
		got["asmith@corp.onmicrosoft.example"] != "alice@corp.example" || got["alice.box@corp.example"] != "alice@corp.example" {
		t.Errorf("resolve people: %v", got)
	}
	if _, err := s.ResolvePeople(ctx, make([]string, store.MaxResolve+1)); err == nil {
		t.Errorf("%d addresses at once were not refused", store.MaxResolve+1)
	}
	if err := s.RemovePersonAlias(ctx, "bob@corp.example", "alice.box@corp.example"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing another person's alias: %v", err)
	}
	for i := range store.MaxPersonAliases {
		noErr(t, s.AddPersonAlias(ctx, "many@corp.example", fmt.Sprintf("m%d@corp.example", i), "admin"))
	}
	if err := s.AddPersonAlias(ctx, "many@corp.example", "one-more@corp.example", "admin"); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "the most a person may have") {
		t.Errorf("alias %d: %v", store.MaxPersonAliases+1, err)
	}
	noErr(t, s.RemovePersonAlias(ctx, "alice@corp.example", "Alice.Box@corp.example"))
	if as := ok(s.PersonAliases(ctx, []string{"alice@corp.example"}))(t); len(as) != 1 {
		t.Errorf("after remove: %+v", as)
	}
}

// testKnownPeople: the people list joins the people table, the aliases' people and the events'
// actors, folds aliases and case into one person, and pages.
func testKnownPeople(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	var evs []*event.FileEvent
	for i, actor := range []string{"dave@corp.example", "Dave@Corp.example", "asmith@corp.onmicrosoft.example", "erin@corp.example", "", "dave@corp.example"} {
		e := Event(c.ID, fmt.Sprint("kp", i), t0.Add(time.Duration(i)*time.Minute))
		e.User.Email = actor
		evs = append(evs, e)
	}
	ok(s.InsertEvents(ctx, evs, false))(t)
	ok(s.UpsertPerson(ctx, store.Person{Email: "bob@corp.example", Status: "blocked", Name: "Bob"}))(t)
	ok(s.UpsertPerson(ctx, store.Person{Email: "erin@corp.example", Status: "inactive"}))(t)
	noErr(t, s.AddPersonAlias(ctx, "alice@corp.example", "asmith@corp.onmicrosoft.example", "admin"))

	var got []string
	status := map[string]string{}
	pages := 0
	for after := ""; ; {
		ps, next := ok2(s.ListKnownPeople(ctx, after, 2))(t)
		pages++
		for _, p := range ps {
			got = append(got, p.Email)
			if p.InTable {
				status[p.Email] = p.Person.Status
			}
		}
		if next == "" {
			break
		}
		if next <= after || pages > 10 {
			t.Fatalf("paging does not advance: %q after %q", next, after)
		}
		after = next
	}
	if want := "alice@corp.example bob@corp.example dave@corp.example erin@corp.example"; strings.Join(got, " ") != want {
		t.Errorf("people: %v, want %s", got, want)
	}
	if status["bob@corp.example"] != "blocked" || status["erin@corp.example"] != "inactive" || status["dave@corp.example"] != "" {
		t.Errorf("status where known: %v", status)
	}
	all, next := ok2(s.ListKnownPeople(ctx, "", 100))(t)
	if len(all) != 4 || next != "" {
		t.Errorf("one page: %+v next %q", all, next)
	}
}

// testPersonStates (R8.3): what directories say of people they do not monitor sets their status:
// blocked over inactive, an in-scope drive of any connection over both, a person no directory
// names any more back to active; each discovery replaces its connection's states only.
func testPersonStates(t *testing.T, s store.Store) {
	c1 := ok(s.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"}))(t)
	c2 := ok(s.CreateConnection(ctx, store.Connection{Name: "gws", Service: "google_drive", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"}))(t)
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c2.ID, VendorID: "g-carol", Kind: "user", Owner: "carol@corp.example", InScope: true, SeenAt: time.Now()}))(t)
	ok(s.UpsertPerson(ctx, store.Person{Email: "dave@corp.example", Name: "Dave", Department: "Sales"}))(t)
	status := func(email string) string {
		t.Helper()
		p, err := s.GetPersonByEmail(ctx, email)
		if err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		return p.Status
	}
	if err := s.ReplacePersonStates(ctx, c1.ID, []store.PersonState{
		{Email: "Bob@Corp.example", Status: store.PersonInactive, Reason: "Box status inactive"},
		{Email: "carol@corp.example", Status: store.PersonBlocked, Reason: "Box status cannot_delete_edit"},
		{Email: "dave@corp.example", Status: store.PersonBlocked, Reason: "Box status cannot_delete_edit_upload"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplacePersonStates(ctx, c2.ID, []store.PersonState{{Email: "bob@corp.example", Status: store.PersonBlocked, Reason: "suspended in Google Workspace"}}); err != nil {
		t.Fatal(err)
	}
	for e, want := range map[string]string{"bob@corp.example": "blocked", "carol@corp.example": "active", "dave@corp.example": "blocked"} {
		if got := status(e); got != want {
			t.Errorf("%s is %q, want %q", e, got, want)
		}
	}
	if p := ok(s.GetPersonByEmail(ctx, "dave@corp.example"))(t); p.Name != "Dave" || p.Department != "Sales" {
		t.Errorf("the status change lost the person's other fields: %+v", p)
	}
	sts := ok(s.PersonStates(ctx, []string{"BOB@corp.example"}))(t)
	if len(sts) != 2 || sts[0].ConnectionID != c1.ID || sts[0].Reason != "Box status inactive" || sts[1].Status != "blocked" || sts[0].UpdatedAt.IsZero() {
		t.Errorf("bob's states: %+v", sts)
	}
	// Google no longer suspends bob: Box's inactive remains. Box then names nobody: all active.
	if err := s.ReplacePersonStates(ctx, c2.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got := status("bob@corp.example"); got != "inactive" {
		t.Errorf("bob is %q once Google no longer suspends him, want inactive (Box)", got)
	}
	if err := s.ReplacePersonStates(ctx, c1.ID, nil); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"bob@corp.example", "dave@corp.example"} {
		if got := status(e); got != "active" {
			t.Errorf("%s is %q once no directory names them, want active", e, got)
		}
	}
	if n := len(ok(s.PersonStates(ctx, []string{"bob@corp.example", "dave@corp.example"}))(t)); n != 0 {
		t.Errorf("%d states left", n)
	}
	// Drive owners get people rows as active; existing rows (a blocked person) are left alone.
	if err := s.EnsurePeople(ctx, []string{"Erin@Corp.example", "erin@corp.example", "dave@corp.example", ""}); err != nil {
		t.Fatal(err)
	}
	if got := status("erin@corp.example"); got != "active" {
		t.Errorf("erin is %q, want active", got)
	}
	if err := s.ReplacePersonStates(ctx, c1.ID, []store.PersonState{{Email: "dave@corp.example", Status: store.PersonBlocked}}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsurePeople(ctx, []string{"dave@corp.example"}); err != nil {
		t.Fatal(err)
	}
	if got := status("dave@corp.example"); got != "blocked" {
		t.Errorf("EnsurePeople made blocked dave %q", got)
	}
	if err := s.ReplacePersonStates(ctx, c1.ID, nil); err != nil {
		t.Fatal(err)
	}
	// More than a discovery may name is refused and changes nothing.
	many := make([]store.PersonState, store.MaxPersonStates+1)
	for i := range many {
		many[i] = store.PersonState{Email: fmt.Sprintf("p%d@corp.example", i), Status: store.PersonBlocked}
	}
	if err := s.ReplacePersonStates(ctx, c1.ID, many); err == nil {
		t.Error("too many states were taken")
	}
	if _, err := s.GetPersonByEmail(ctx, "p1@corp.example"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused replacement left a person: %v", err)
	}
}
