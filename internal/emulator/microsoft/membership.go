package microsoft

import "strings"

// Group membership changes (suite.go: AddToGroup, RemoveFromGroup), for tests of scope by groups
// (R2.7): a user joins or leaves a group as an admin would in the Entra admin center;
// /groups/{id}/members and /transitiveMembers answer the new membership at once.

// groupByKey resolves a group's id, display name or mail. Called with e.mu held.
func (e *Emulator) groupByKey(k string) *group {
	for _, g := range e.groups {
		if g.id == k || g.name == k || strings.EqualFold(g.mail, k) {
			return g
		}
	}
	return nil
}
