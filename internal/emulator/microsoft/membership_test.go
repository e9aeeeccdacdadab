package microsoft

import (
	"slices"
	"testing"
)

func TestGroupMembershipChanges(t *testing.T) {
	e := New(Options{Seed: 3, Users: 6, Groups: 2})
	g := e.Groups()[1]
	var out User
	for _, u := range e.Users() {
		if !slices.Contains(g.Members, u.ID) {
			out = u
			break
		}
	}
	if err := e.AddToGroup(g.Name, out.UPN); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(e.Groups()[1].Members, out.ID) {
		t.Errorf("%s not added to %s", out.UPN, g.Name)
	}
	if err := e.RemoveFromGroup(g.ID, out.ID); err != nil || slices.Contains(e.Groups()[1].Members, out.ID) {
		t.Errorf("remove: %v", err)
	}
	if err := e.RemoveFromGroup(g.Name, out.UPN); err == nil {
		t.Errorf("removing a non-member: no error")
	}
	if err := e.AddToGroup("No Such Group", out.UPN); err == nil {
		t.Errorf("adding to an unknown group: no error")
	}
}
