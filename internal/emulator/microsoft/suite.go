package microsoft

import (
	"fmt"
	"strings"
)

// Controls for the connector conformance suite (internal/connector/connectortest): group
// membership changes, a Graph rate limit set while running, locked OneDrives, and a count of
// requests answered 429 and sent again before their Retry-After (Stats.EarlyRetries; as the
// Google emulator counts them: a different request sent meanwhile by another worker is no retry).

// AddToGroup makes a user (id or userPrincipalName) a direct member of the group (id, display
// name or mail).
func (e *Emulator) AddToGroup(group, upn string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, u := e.groupByKey(group), e.userByKey(upn)
	if g == nil || u == nil {
		return fmt.Errorf("%w: group %q or user %s", ErrNotFound, group, upn)
	}
	if !contains(g.members, u.id) {
		g.members = append(g.members, u.id)
	}
	return nil
}

// RemoveFromGroup removes a user (id or userPrincipalName) from the group (id, display name or
// mail), or from a group nested in it that holds the user directly.
func (e *Emulator) RemoveFromGroup(name, upn string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, u := e.groupByKey(name), e.userByKey(upn)
	if g == nil || u == nil {
		return fmt.Errorf("%w: group %q or user %s", ErrNotFound, name, upn)
	}
	for _, x := range append([]*group{g}, e.nested(g)...) {
		for i, m := range x.members {
			if m == u.id {
				x.members = append(x.members[:i:i], x.members[i+1:]...)
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %s is not in group %q", ErrNotFound, upn, name)
}

// nested is every group nested in g, at any depth.
func (e *Emulator) nested(g *group) []*group {
	var out []*group
	seen := map[*group]bool{g: true}
	var walk func(*group)
	walk = func(x *group) {
		for _, m := range x.members {
			if y := e.groupsBy[m]; y != nil && !seen[y] {
				seen[y] = true
				out = append(out, y)
				walk(y)
			}
		}
	}
	walk(g)
	return out
}

// SetRateLimit sets Graph's limit per app per tenant (requests per minute, < 0 off) and burst.
func (e *Emulator) SetRateLimit(perMinute, burst int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.o.RateLimitPerMinute, e.o.RateBurst = perMinute, burst
	e.bucket = bucket{}
}

// SetDriveLocked locks (true) or unlocks the OneDrive of a user: requests under /drives/{id}
// answer 423 resourceLocked ("The resource that is being accessed is locked", as SharePoint
// answers for a site an administrator locked; /users/{id}/drive still names the drive).
func (e *Emulator) SetDriveLocked(upn string, locked bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByKey(upn)
	if u == nil || u.drive == nil {
		return fmt.Errorf("%w: the OneDrive of %s", ErrNotFound, upn)
	}
	if e.locked == nil {
		e.locked = map[string]bool{}
	}
	e.locked[u.drive.id] = locked
	return nil
}

// lockedDrive is the answer to a request under a locked drive. Called with e.mu held.
func (e *Emulator) lockedDrive(path string) *graphError {
	seg := strings.Split(strings.TrimPrefix(path, "/v1.0/"), "/")
	if len(seg) >= 3 && seg[0] == "drives" && e.locked[seg[1]] {
		return gerr(423, "resourceLocked", "The resource that is being accessed is locked.")
	}
	if len(seg) >= 4 && seg[0] == "users" && seg[2] == "drive" {
		if u := e.userByKey(seg[1]); u != nil && u.drive != nil && e.locked[u.drive.id] {
			return gerr(423, "resourceLocked", "The resource that is being accessed is locked.")
		}
	}
	return nil
}
