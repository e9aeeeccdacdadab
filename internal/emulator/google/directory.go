package google

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Directory API (admin/directory/v1). Shapes from admin/directory/v1/admin-api.json of
// google.golang.org/api; every call needs an impersonated administrator.

const rfc3339ms = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(rfc3339ms) }

func etag(parts ...any) string {
	h := sha1.Sum([]byte(fmt.Sprint(parts...)))
	return `"` + base64.RawURLEncoding.EncodeToString(h[:]) + `"`
}

// pageToken encodes an offset in a listing (opaque to clients, as Google's are).
func pageToken(kind string, off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(off)))
}

func readPageToken(kind, tok string) (int, bool) {
	if tok == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(b), kind+":")
	n, err := strconv.Atoi(rest)
	return n, ok && err == nil && n >= 0
}

// pageSize reads a size parameter: def when absent, an error outside [1, max] when strict (the
// discovery document declares the maximum), clamped to max otherwise (only the guides say it).
func pageSize(q map[string][]string, name string, def, max int, strict bool) (int, *apiError) {
	v := ""
	if l := q[name]; len(l) > 0 {
		v = l[0]
	}
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || (strict && n > max) {
		return 0, invalidParam(name, v, 1, max)
	}
	return min(n, max), nil
}

func (e *Emulator) requireAdmin(c *call) *apiError {
	if c.user == nil || !c.user.admin {
		return errNotAdmin
	}
	return nil
}

func (e *Emulator) userJSON(u *user) map[string]any {
	m := map[string]any{
		"kind": "admin#directory#user", "id": u.id, "etag": etag("u", u.id, u.suspended, u.archived), "primaryEmail": u.email,
		"name":    map[string]any{"givenName": u.given, "familyName": u.family, "fullName": u.name()},
		"isAdmin": u.admin, "isDelegatedAdmin": false, "lastLoginTime": ts(u.created.Add(24 * time.Hour)), "creationTime": ts(u.created),
		"agreedToTerms": true, "suspended": u.suspended, "archived": u.archived, "changePasswordAtNextLogin": false,
		"ipWhitelisted": false, "emails": []any{map[string]any{"address": u.email, "primary": true}},
		"customerId": e.o.CustomerID, "orgUnitPath": "/", "isMailboxSetup": true, "isEnrolledIn2Sv": false, "isEnforcedIn2Sv": false,
		"includeInGlobalAddressList": true,
	}
	if u.suspended {
		m["suspensionReason"] = "ADMIN"
	}
	return m
}

// checkScope checks customer / domain: one is required; my_customer, the customer id or the
// primary domain.
func (e *Emulator) checkScope(q map[string][]string, allowUser bool) *apiError {
	get := func(k string) string {
		if l := q[k]; len(l) > 0 {
			return l[0]
		}
		return ""
	}
	cust, dom := get("customer"), get("domain")
	switch {
	case cust != "" && cust != "my_customer" && cust != e.o.CustomerID:
		return errNotAdmin
	case dom != "" && !strings.EqualFold(dom, e.o.Domain):
		return errNotAdmin
	case cust == "" && dom == "" && !(allowUser && get("userKey") != ""):
		return gerr(400, "badRequest", "Bad Request")
	}
	return nil
}

func (e *Emulator) usersList(c *call) (int, any, *apiError) {
	if err := e.requireAdmin(c); err != nil {
		return 0, nil, err
	}
	q := c.r.URL.Query()
	if err := e.checkScope(q, false); err != nil {
		return 0, nil, err
	}
	n, aerr := pageSize(q, "maxResults", 100, 500, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	off, ok := readPageToken("users", q.Get("pageToken"))
	if !ok {
		return 0, nil, invalidValue("pageToken")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	all := append([]*user(nil), e.users...)
	sort.Slice(all, func(i, j int) bool { return all[i].email < all[j].email })
	out := map[string]any{"kind": "admin#directory#users", "etag": etag("users", len(all))}
	list := []any{}
	for i := off; i < len(all) && len(list) < n; i++ {
		list = append(list, e.userJSON(all[i]))
	}
	if len(list) > 0 {
		out["users"] = list
	}
	if off+n < len(all) {
		out["nextPageToken"] = pageToken("users", off+n)
	}
	return 200, out, nil
}

func (e *Emulator) usersGet(c *call) (int, any, *apiError) {
	if err := e.requireAdmin(c); err != nil {
		return 0, nil, err
	}
	key := c.r.PathValue("key")
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.byEmail[strings.ToLower(key)]
	if u == nil {
		u = e.byID[key]
	}
	if u == nil {
		return 0, nil, gerr(404, "notFound", "Resource Not Found: userKey").at("userKey", "parameter")
	}
	return 200, e.userJSON(u), nil
}

func (e *Emulator) groupJSON(g *group) map[string]any {
	return map[string]any{"kind": "admin#directory#group", "id": g.id, "etag": etag("g", g.id, len(g.members)), "email": g.email,
		"name": g.name, "description": "", "directMembersCount": strconv.Itoa(len(g.members)), "adminCreated": true}
}

func (e *Emulator) groupsList(c *call) (int, any, *apiError) {
	if err := e.requireAdmin(c); err != nil {
		return 0, nil, err
	}
	q := c.r.URL.Query()
	if err := e.checkScope(q, true); err != nil {
		return 0, nil, err
	}
	n, aerr := pageSize(q, "maxResults", 200, 200, false)
	if aerr != nil {
		return 0, nil, aerr
	}
	off, ok := readPageToken("groups", q.Get("pageToken"))
	if !ok {
		return 0, nil, invalidValue("pageToken")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []*group
	for _, g := range e.groups {
		if uk := q.Get("userKey"); uk == "" || e.inGroupDirect(strings.ToLower(uk), g) {
			all = append(all, g)
		}
	}
	out := map[string]any{"kind": "admin#directory#groups", "etag": etag("groups", len(all))}
	list := []any{}
	for i := off; i < len(all) && len(list) < n; i++ {
		list = append(list, e.groupJSON(all[i]))
	}
	if len(list) > 0 {
		out["groups"] = list
	}
	if off+n < len(all) {
		out["nextPageToken"] = pageToken("groups", off+n)
	}
	return 200, out, nil
}

func (e *Emulator) inGroupDirect(email string, g *group) bool {
	for _, m := range g.members {
		if m == email {
			return true
		}
	}
	return false
}

func (e *Emulator) membersList(c *call) (int, any, *apiError) {
	if err := e.requireAdmin(c); err != nil {
		return 0, nil, err
	}
	q := c.r.URL.Query()
	n, aerr := pageSize(q, "maxResults", 200, 200, false)
	if aerr != nil {
		return 0, nil, aerr
	}
	off, ok := readPageToken("members", q.Get("pageToken"))
	if !ok {
		return 0, nil, invalidValue("pageToken")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groupsBy[strings.ToLower(c.r.PathValue("key"))]
	if g == nil {
		g = e.groupsBy[c.r.PathValue("key")]
	}
	if g == nil {
		return 0, nil, gerr(404, "notFound", "Resource Not Found: groupKey").at("groupKey", "parameter")
	}
	derived := q.Get("includeDerivedMembership") == "true"
	roles := map[string]bool{}
	for _, r := range strings.Split(q.Get("roles"), ",") {
		if r != "" {
			roles[strings.ToUpper(r)] = true
		}
	}
	var all []any
	seen := map[string]bool{}
	var walk func(g *group)
	walk = func(g *group) {
		for i, m := range g.members {
			if seen[m] {
				continue
			}
			seen[m] = true
			role := "MEMBER"
			if i == 0 && g == e.groupsBy[strings.ToLower(c.r.PathValue("key"))] {
				role = "OWNER"
			}
			if len(roles) > 0 && !roles[role] {
				continue
			}
			mem := map[string]any{"kind": "admin#directory#member", "email": m, "role": role, "etag": etag("m", g.id, m)}
			if u := e.byEmail[m]; u != nil {
				mem["id"], mem["type"], mem["status"] = u.id, "USER", "ACTIVE"
				if u.suspended {
					mem["status"] = "SUSPENDED"
				}
			} else if sub := e.groupsBy[m]; sub != nil {
				mem["id"], mem["type"] = sub.id, "GROUP"
				if derived {
					defer walk(sub)
				}
			} else {
				mem["id"], mem["type"] = fmt.Sprintf("%020d", splitmix(hashString(m))%1e19), "USER"
			}
			all = append(all, mem)
		}
	}
	walk(g)
	out := map[string]any{"kind": "admin#directory#members", "etag": etag("members", g.id, len(all))}
	list := []any{}
	for i := off; i < len(all) && len(list) < n; i++ {
		list = append(list, all[i])
	}
	if len(list) > 0 {
		out["members"] = list
	}
	if off+n < len(all) {
		out["nextPageToken"] = pageToken("members", off+n)
	}
	return 200, out, nil
}
