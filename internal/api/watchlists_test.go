package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestWatchlistsOverHTTP: the built-in watchlists are listed; an admin creates a custom one (a
// taken or built-in name is refused); an analyst adds, updates, lists and removes members; a
// departure date is refused on another type; a CSV with one bad row changes nothing and names the
// row; a good CSV with replace makes its rows the only members; every change is audited.
func TestWatchlistsOverHTTP(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, f.admin, "GET", "/api/v1/watchlists", nil)
	ls := decodeAs[client.WatchlistList](t, code, body, 200)
	if len(ls.Items) != 8 || ls.Items[0].Type != "departing_employee" || ls.Items[0].Name != "departing_employee" {
		t.Fatalf("built-in watchlists %+v", ls.Items)
	}
	dep, contractor := ls.Items[0], ls.Items[2]
	analyst := f.namedToken(t, "ann", auth.RoleAnalyst)
	if code, _ := f.do(t, analyst, "POST", "/api/v1/watchlists", client.WatchlistInput{Name: "Project X"}); code != 403 {
		t.Errorf("analyst creates a watchlist: %d, want 403", code)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/watchlists", client.WatchlistInput{Name: "Project X", Description: "merger"})
	px := decodeAs[client.Watchlist](t, code, body, 201)
	if px.Type != "custom" || px.Name != "Project X" || px.CreatedBy != "admin" {
		t.Errorf("created %+v", px)
	}
	for _, name := range []string{"project x", "Flight_Risk", ""} {
		if code, body := f.do(t, f.admin, "POST", "/api/v1/watchlists", client.WatchlistInput{Name: name}); code/100 != 4 || problem(t, body).Errors[0].Field != "name" {
			t.Errorf("name %q: %d %s", name, code, body)
		}
	}

	members := "/api/v1/watchlists/" + dep.ID + "/members"
	code, body = f.do(t, analyst, "POST", members, client.WatchlistMembersInput{Members: []client.WatchlistMember{
		{Email: "Bob@Corp.Example", DepartureDate: "2026-12-31", Notes: "resigned"}, {Email: "carol@corp.example"}}})
	if ch := decodeAs[client.WatchlistChange](t, code, body, 201); ch.Added != 2 {
		t.Errorf("added %+v", ch)
	}
	// Adding a member again replaces their departure date and notes (here: none).
	code, body = f.do(t, analyst, "POST", members, client.WatchlistMembersInput{Members: []client.WatchlistMember{{Email: "bob@corp.example", DepartureDate: "2027-01-15"}}})
	if ch := decodeAs[client.WatchlistChange](t, code, body, 201); ch.Added != 0 || ch.Updated != 1 {
		t.Errorf("updated %+v", ch)
	}
	for _, c := range []struct {
		path  string
		in    client.WatchlistMember
		field string
	}{
		{members, client.WatchlistMember{Email: "not-an-address"}, "members[0].email"},
		{members, client.WatchlistMember{Email: "x@corp.example", DepartureDate: "soon"}, "members[0].departure_date"},
		{"/api/v1/watchlists/" + contractor.ID + "/members", client.WatchlistMember{Email: "x@corp.example", DepartureDate: "2026-12-31"}, "members[0].departure_date"},
	} {
		code, body := f.do(t, analyst, "POST", c.path, client.WatchlistMembersInput{Members: []client.WatchlistMember{c.in}})
		if p := problem(t, body); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != c.field {
			t.Errorf("%+v: %d %s, want 400 on %s", c.in, code, body, c.field)
		}
	}
	if code, _ := f.do(t, f.userToken(t, auth.RoleReadOnly), "POST", members, client.WatchlistMembersInput{Members: []client.WatchlistMember{{Email: "x@corp.example"}}}); code != 403 {
		t.Errorf("read-only adds a member: %d", code)
	}
	code, body = f.do(t, f.admin, "GET", members+"?limit=1", nil)
	page := decodeAs[client.WatchlistMembers](t, code, body, 200)
	if len(page.Items) != 1 || page.Items[0].Email != "bob@corp.example" || page.Items[0].DepartureDate != "2027-01-15" || page.Items[0].Notes != "" ||
		page.Items[0].AddedBy != "ann" || page.Next != "bob@corp.example" {
		t.Fatalf("first page %+v", page)
	}
	code, body = f.do(t, f.admin, "GET", members+"?limit=1&after="+page.Next, nil)
	if p2 := decodeAs[client.WatchlistMembers](t, code, body, 200); len(p2.Items) != 1 || p2.Items[0].Email != "carol@corp.example" {
		t.Fatalf("second page %+v", p2)
	}

	// A CSV with a bad row changes nothing and names the row.
	before := listEmails(t, f, members)
	code, body = f.do(t, analyst, "POST", "/api/v1/watchlists/"+dep.ID+"/members.csv?replace=true", "Email,Departure Date\ndan@corp.example,2026-12-01\neve@corp.example,next week\n")
	p := problem(t, body)
	if code != 422 || len(p.Errors) != 1 || p.Errors[0].Row != 3 || !strings.Contains(p.Errors[0].Message, "departure date") {
		t.Fatalf("bad CSV: %d %s", code, body)
	}
	code, body = f.do(t, analyst, "POST", "/api/v1/watchlists/"+dep.ID+"/members.csv", "Email\n\"dan@corp.example\n")
	if p := problem(t, body); code != 422 || !strings.Contains(p.Detail, "line 2") {
		t.Fatalf("broken CSV: %d %s", code, body)
	}
	if after := listEmails(t, f, members); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("a refused file changed the members: %v -> %v", before, after)
	}
	code, body = f.do(t, analyst, "POST", "/api/v1/watchlists/"+dep.ID+"/members.csv?replace=true", "Email,Departure Date,Notes\ndan@corp.example,2026-12-01,\nbob@corp.example,,again\n")
	if ch := decodeAs[client.WatchlistChange](t, code, body, 200); ch.Added != 1 || ch.Updated != 1 || ch.Removed != 1 {
		t.Errorf("replace %+v", ch)
	}
	if got := strings.Join(listEmails(t, f, members), ","); got != "bob@corp.example,dan@corp.example" {
		t.Errorf("after replace: %s", got)
	}
	code, body = f.do(t, analyst, "POST", members+"/remove", client.WatchlistRemoveInput{Emails: []string{"DAN@corp.example", "zed@corp.example"}})
	if ch := decodeAs[client.WatchlistChange](t, code, body, 200); ch.Removed != 1 {
		t.Errorf("removed %+v", ch)
	}
	// Each person's history shows the changes made by hand, as it shows HR sources': who, when,
	// what; newest first; a change that changed nothing (zed was never on the list) has no line.
	for email, want := range map[string]string{
		"bob@corp.example":   "updated  ann, updated 2027-01-15 ann, added 2026-12-31 ann",
		"carol@corp.example": "removed  ann, added  ann",
		"dan@corp.example":   "removed 2026-12-01 ann, added 2026-12-01 ann",
		"zed@corp.example":   "",
	} {
		code, body := f.do(t, f.admin, "GET", "/api/v1/people/"+email, nil)
		var lines []string
		for _, h := range decodeAs[client.Person](t, code, body, 200).History {
			lines = append(lines, h.Action+" "+h.DepartureDate+" "+h.Actor)
			if h.Source != "" || h.At.IsZero() || h.Watchlist != "departing_employee" {
				t.Errorf("%s: history line %+v", email, h)
			}
		}
		if got := strings.Join(lines, ", "); got != want {
			t.Errorf("%s: history %q, want %q", email, got, want)
		}
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/watchlists/"+dep.ID, nil)
	if w := decodeAs[client.Watchlist](t, code, body, 200); w.Members != 1 {
		t.Errorf("count %+v", w)
	}
	if code, _ := f.do(t, f.admin, "GET", "/api/v1/watchlists/999", nil); code != 404 {
		t.Errorf("missing watchlist: %d", code)
	}

	es, err := f.app.Store.ListAudit(context.Background(), store.AuditFilter{Action: "watchlist.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range es {
		seen[e.Action+" "+e.Outcome]++
	}
	for _, want := range []string{"watchlist.create ok", "watchlist.members.add ok", "watchlist.members.remove ok", "watchlist.members.upload ok"} {
		if seen[want] == 0 {
			t.Errorf("audit lacks %q: %v", want, seen)
		}
	}
	var d map[string]any
	for _, e := range es {
		if e.Action == "watchlist.members.remove" && e.Outcome == "ok" {
			json.Unmarshal(e.Details, &d)
		}
	}
	if d["removed"] != float64(1) || d["watchlist"] != "departing_employee" {
		t.Errorf("remove audit details %v", d)
	}
}

func listEmails(t *testing.T, f *fixture, path string) []string {
	t.Helper()
	code, body := f.do(t, f.admin, "GET", path+"?limit=1000", nil)
	var out []string
	for _, m := range decodeAs[client.WatchlistMembers](t, code, body, 200).Items {
		out = append(out, m.Email)
	}
	return out
}
