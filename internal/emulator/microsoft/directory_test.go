package microsoft

import (
	"testing"
)

// pages follows @odata.nextLink from u and returns every value.
func (h *harness) pages(tok, u string) []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for n := 0; u != ""; n++ {
		if n > 1000 {
			h.t.Fatal("paging never ended")
		}
		a := h.getAs(tok, u)
		if a.status != 200 {
			h.t.Fatalf("GET %s: %d %s", u, a.status, a.raw)
		}
		out = append(out, a.values()...)
		u, _ = a.body["@odata.nextLink"].(string)
	}
	return out
}

func TestUsers(t *testing.T) {
	h := newHarness(t, Options{Users: 12, UnlicensedUsers: 2, DisabledUsers: 1})
	tok := h.bearer()
	all := h.pages(tok, "/v1.0/users?$top=5")
	if len(all) != 12 {
		t.Fatalf("%d users", len(all))
	}
	seen := map[string]bool{}
	for _, u := range all {
		if seen[u["id"].(string)] {
			t.Fatalf("user %v twice", u["id"])
		}
		seen[u["id"].(string)] = true
		if _, ok := u["accountEnabled"]; ok {
			t.Fatal("accountEnabled is not a default property of users")
		}
		if u["userPrincipalName"] == nil || u["mail"] == nil || u["displayName"] == nil {
			t.Fatalf("%v", u)
		}
	}
	sel := h.pages(tok, "/v1.0/users?$select=id,userPrincipalName,accountEnabled,assignedLicenses&$top=999")
	var unlicensed, disabled int
	for _, u := range sel {
		if len(u) != 4 {
			t.Fatalf("$select: %v", u)
		}
		if len(u["assignedLicenses"].([]any)) == 0 {
			unlicensed++
		}
		if u["accountEnabled"] == false {
			disabled++
		}
	}
	if unlicensed != 2 || disabled != 1 {
		t.Fatalf("unlicensed %d, disabled %d", unlicensed, disabled)
	}
	if a := h.getAs(tok, "/v1.0/users?$top=1000"); a.status != 400 {
		t.Fatalf("$top=1000: %d", a.status)
	}
	u := h.emu.Users()[3]
	if a := h.getAs(tok, "/v1.0/users/"+u.UPN); a.status != 200 || a.body["id"] != u.ID {
		t.Fatalf("by UPN: %d %s", a.status, a.raw)
	}
	if a := h.getAs(tok, "/v1.0/users/00000000-0000-4000-8000-000000000000"); a.status != 404 || a.errCode() != "Request_ResourceNotFound" {
		t.Fatalf("unknown: %d %s", a.status, a.raw)
	}
}

func TestGroupsAndTransitiveMembers(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	gs := h.pages(tok, "/v1.0/groups?$top=2")
	if len(gs) != 4 {
		t.Fatalf("%d groups", len(gs))
	}
	g := h.emu.Groups()
	direct := h.pages(tok, "/v1.0/groups/"+g[0].ID+"/members")
	trans := h.pages(tok, "/v1.0/groups/"+g[0].ID+"/transitiveMembers?$top=2")
	ids := func(ms []map[string]any) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			out[m["id"].(string)] = m["@odata.type"].(string)
		}
		return out
	}
	d, tr := ids(direct), ids(trans)
	if d[g[1].ID] != "#microsoft.graph.group" || tr[g[1].ID] != "#microsoft.graph.group" {
		t.Fatalf("the nested group: %v / %v", d, tr)
	}
	for _, m := range g[1].Members {
		if tr[m] == "" {
			t.Fatalf("transitiveMembers lacks %s of the nested group", m)
		}
	}
	if len(tr) != len(trans) {
		t.Fatal("a member twice")
	}
	if a := h.getAs(tok, "/v1.0/groups/nope/transitiveMembers"); a.status != 404 {
		t.Fatalf("%d", a.status)
	}
}
