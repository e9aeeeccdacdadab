package google

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// What an administrator of the simulated domain does outside the APIs (the Admin console): add a
// user, change a group's members, turn Drive off for a user, change the rate limit. The
// conformance suite drives collection through these.

// AddUser adds an active user with an empty My Drive and returns it. name is "Given Family"; the
// address is given.family@<Domain>, made unique.
func (e *Emulator) AddUser(name string) User {
	e.mu.Lock()
	defer e.mu.Unlock()
	given, family, _ := strings.Cut(strings.TrimSpace(name), " ")
	local := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), " ", "."))
	email := local + "@" + e.o.Domain
	for n := 2; e.byEmail[email] != nil; n++ {
		email = fmt.Sprintf("%s%d@%s", local, n, e.o.Domain)
	}
	now := e.clk.Now()
	u := &user{id: e.userID(), email: email, given: given, family: family, created: now}
	e.users = append(e.users, u)
	e.byEmail[u.email] = u
	e.byID[u.id] = u
	root := &file{id: e.driveID(), name: "My Drive", mime: MimeFolder, owner: u, created: now, modified: now, root: true, lastMod: u, version: 1}
	u.root = root.id
	e.files[root.id] = root
	return User{ID: u.id, Email: u.email, Name: u.name(), RootFolderID: u.root}
}

// AddToGroup adds a user or group (by email) to a group (by email, id or name).
func (e *Emulator) AddToGroup(group, member string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.findGroup(group)
	if g == nil {
		return fmt.Errorf("%w: group %s", ErrNotFound, group)
	}
	member = strings.ToLower(member)
	for _, m := range g.members {
		if m == member {
			return nil
		}
	}
	g.members = append(g.members, member)
	return nil
}

// RemoveFromGroup removes a member (by email) from a group (by email, id or name).
func (e *Emulator) RemoveFromGroup(group, member string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.findGroup(group)
	if g == nil {
		return fmt.Errorf("%w: group %s", ErrNotFound, group)
	}
	member = strings.ToLower(member)
	for i, m := range g.members {
		if m == member {
			g.members = append(g.members[:i:i], g.members[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not a member of %s", ErrNotFound, member, group)
}

// findGroup finds a group by email, id or name. Called with e.mu held.
func (e *Emulator) findGroup(key string) *group {
	if g := e.groupsBy[strings.ToLower(key)]; g != nil {
		return g
	}
	if g := e.groupsBy[key]; g != nil {
		return g
	}
	for _, g := range e.groups {
		if g.name == key {
			return g
		}
	}
	return nil
}

// SetDriveDisabled turns Drive off (true) or on for a user, as the Admin console's Drive service
// status per organizational unit does: the Drive API then answers the user 403 domainPolicy "The
// domain administrators have disabled Drive apps." (the Drive API's handle-errors page), while
// the user stays active in the Directory.
func (e *Emulator) SetDriveDisabled(email string, disabled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.driveOff == nil {
		e.driveOff = map[string]bool{}
	}
	e.driveOff[strings.ToLower(email)] = disabled
}

// SetMailDisabled turns the Gmail service off (or on again) for a user, as an administrator does
// for an organizational unit: the user's Gmail API calls answer 400 failedPrecondition "Mail
// service not enabled" (the answer Gmail's users report for a user without Gmail; modelled: its
// exact body is not documented).
func (e *Emulator) SetMailDisabled(email string, disabled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mailOff == nil {
		e.mailOff = map[string]bool{}
	}
	e.mailOff[strings.ToLower(email)] = disabled
}

// errDriveOff is the Drive API's answer to a user whose Drive is turned off.
var errDriveOff = gerr(http.StatusForbidden, "domainPolicy", "The domain administrators have disabled Drive apps.")

// SetRateLimit changes the per-user limit (requests per minute; < 0 off) and burst (<= 0: keep)
// and empties the buckets.
func (e *Emulator) SetRateLimit(perMinute, burst int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.o.RateLimitPerMinute = perMinute
	if burst > 0 {
		e.o.RateBurst = burst
	}
	e.buckets = map[string]*bucket{}
}

// FileCounts counts the files a crawl finds (not folders, not trashed or deleted) of each user's My
// Drive, by the owner's email, and of each shared drive, by its id.
func (e *Emulator) FileCounts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for _, f := range e.files {
		if f.mime == MimeFolder || f.trashed || f.deleted || f.root {
			continue
		}
		switch {
		case f.drive != "":
			out[f.drive]++
		case f.owner != nil:
			out[f.owner.email]++
		}
	}
	return out
}

// minBackoff is the least wait before retrying a request after its k-th throttle in a row that
// Google's guidance allows: exponential backoff from 1 second (1, 2, 4, ... seconds plus a random
// fraction), at most 32 seconds (the usual maximum_backoff).
func minBackoff(k int) time.Duration {
	if k < 1 {
		k = 1
	}
	if k > 6 {
		return 32 * time.Second
	}
	return time.Duration(1<<(k-1)) * time.Second
}

// APIs the Cloud project can enable (DisableAPI), by the path prefix they serve and the service
// name and title Google's error names.
var cloudAPIs = map[string]struct{ prefix, service, title string }{
	"drive": {"/drive/v3/", "drive.googleapis.com", "Google Drive API"},
	"admin": {"/admin/", "admin.googleapis.com", "Admin SDK API"},
	"gmail": {"/gmail/v1/", "gmail.googleapis.com", "Gmail API"},
}

// DisableAPI turns an API off (true) or on in the service account's Cloud project: "drive",
// "admin" (the Directory and Reports APIs) or "gmail". Its calls then answer 403
// accessNotConfigured as Google does.
func (e *Emulator) DisableAPI(api string, disabled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.apisOff == nil {
		e.apisOff = map[string]bool{}
	}
	e.apisOff[api] = disabled
}

// apiOff is the error of a call to an API the project has not enabled, or nil. Called with e.mu
// held. The message and reason are Google's (403, reason accessNotConfigured, domain usageLimits,
// status PERMISSION_DENIED, "<API> has not been used in project N before or it is disabled.
// Enable it by visiting https://console.developers.google.com/apis/api/<service>/overview?project=N
// then retry. ..."); the project number is modelled.
func (e *Emulator) apiOff(path string) *apiError {
	for name, api := range cloudAPIs {
		if e.apisOff[name] && strings.HasPrefix(path, api.prefix) {
			const project = "104857600001"
			return &apiError{code: http.StatusForbidden, reason: "accessNotConfigured", domain: "usageLimits", status: "PERMISSION_DENIED",
				message: fmt.Sprintf("%s has not been used in project %s before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/%s/overview?project=%s then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
					api.title, project, api.service, project)}
		}
	}
	return nil
}
