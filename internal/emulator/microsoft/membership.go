package microsoft

import (
	"fmt"
	"slices"
	"strings"
)

// Group membership changes, for tests of scope by groups (R2.7): a user joins or leaves a group
// as an admin would in the Entra admin center; /groups/{id}/members and /transitiveMembers answer
// the new membership at once.

// groupByKey resolves a group's id, display name or mail. Called with e.mu held.
func (e *Emulator) groupByKey(k string) *group {
	for _, g := range e.groups {
		if g.id == k || g.name == k || strings.EqualFold(g.mail, k) {
			return g
		}
	}
	return nil
}

// AddToGroup makes the user (id or userPrincipalName) a direct member of the group (id, display
// name or mail).
func (e *Emulator) AddToGroup(group, user string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, u := e.groupByKey(group), e.userByKey(user)
	switch {
	case g == nil:
		return fmt.Errorf("%w: group %s", ErrNotFound, group)
	case u == nil:
		return fmt.Errorf("%w: user %s", ErrNotFound, user)
	}
	if !slices.Contains(g.members, u.id) {
		g.members = append(g.members, u.id)
	}
	return nil
}

// RemoveFromGroup removes a direct member (a user's id or userPrincipalName) from the group.
func (e *Emulator) RemoveFromGroup(group, user string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, u := e.groupByKey(group), e.userByKey(user)
	switch {
	case g == nil:
		return fmt.Errorf("%w: group %s", ErrNotFound, group)
	case u == nil:
		return fmt.Errorf("%w: user %s", ErrNotFound, user)
	}
	i := slices.Index(g.members, u.id)
	if i < 0 {
		return fmt.Errorf("%w: %s is not a direct member of %s", ErrNotFound, user, group)
	}
	g.members = slices.Delete(g.members, i, i+1)
	return nil
}
