package microsoft

import (
	"strings"
)

// The directory: users, groups and their members. Shapes from Graph's CSDL (user, group,
// directoryObject); behaviour from the users and groups API pages as each function says.

// userDefault is what GET /users returns without $select ("by default, only a limited set of
// properties are returned: businessPhones, displayName, givenName, id, jobTitle, mail,
// mobilePhone, officeLocation, preferredLanguage, surname, and userPrincipalName"; user-list).
// accountEnabled and assignedLicenses need $select.
var userDefault = []string{"businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}

// groupDefault is a subset of the properties group-list returns by default (the emulator keeps
// these).
var groupDefault = []string{"id", "createdDateTime", "description", "displayName", "groupTypes", "mail", "mailEnabled", "mailNickname", "securityEnabled", "visibility"}

// userByKey resolves an id or a userPrincipalName. Called with e.mu held.
func (e *Emulator) userByKey(k string) *user {
	return e.usersBy[strings.ToLower(k)]
}

func (e *Emulator) userJSON(u *user) map[string]any {
	lic := []any{}
	if u.licensed {
		lic = append(lic, map[string]any{"disabledPlans": []string{}, "skuId": skuE3})
	}
	return map[string]any{
		"id": u.id, "userPrincipalName": u.upn, "mail": u.upn, "displayName": u.name(), "givenName": u.given, "surname": u.family,
		"accountEnabled": u.enabled, "assignedLicenses": lic, "businessPhones": []string{}, "jobTitle": nil, "mobilePhone": nil,
		"officeLocation": nil, "preferredLanguage": "en-US", "userType": "Member", "createdDateTime": u.created.UTC().Format("2006-01-02T15:04:05Z"),
	}
}

func (e *Emulator) groupJSON(g *group) map[string]any {
	return map[string]any{
		"id": g.id, "displayName": g.name, "mail": g.mail, "mailNickname": g.nick, "mailEnabled": true, "securityEnabled": false,
		"groupTypes": []string{"Unified"}, "description": nil, "visibility": "Private", "createdDateTime": g.created.UTC().Format("2006-01-02T15:04:05Z"),
	}
}

// notFoundObject is the directory's 404 for an unknown id.
func notFoundObject(id string) *graphError {
	return gerr(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)
}

// usersList is GET /users: every user, disabled and unlicensed ones included, in a stable order;
// default page 100 (user-list: "$top ... 1 and 999"; the default page size is 100).
func (e *Emulator) usersList(c *call) (int, any, *graphError) {
	sel := c.r.URL.Query().Get("$select")
	e.mu.Lock()
	all := make([]map[string]any, 0, len(e.users))
	for _, u := range e.users {
		all = append(all, selectProps(e.userJSON(u), sel, userDefault))
	}
	e.mu.Unlock()
	ctx := "users"
	if sel != "" {
		ctx = "users(" + sel + ")"
	}
	return e.pageOf(c, ctx, all, 100)
}

// usersGet is GET /users/{id | userPrincipalName}.
func (e *Emulator) usersGet(c *call) (int, any, *graphError) {
	id := c.r.PathValue("id")
	sel := c.r.URL.Query().Get("$select")
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByKey(id)
	if u == nil {
		return 0, nil, notFoundObject(id)
	}
	m := selectProps(e.userJSON(u), sel, userDefault)
	m["@odata.context"] = c.base + "/v1.0/$metadata#users/$entity"
	return 200, m, nil
}

// groupsList is GET /groups.
func (e *Emulator) groupsList(c *call) (int, any, *graphError) {
	sel := c.r.URL.Query().Get("$select")
	e.mu.Lock()
	all := make([]map[string]any, 0, len(e.groups))
	for _, g := range e.groups {
		all = append(all, selectProps(e.groupJSON(g), sel, groupDefault))
	}
	e.mu.Unlock()
	return e.pageOf(c, "groups", all, 100)
}

// groupsGet is GET /groups/{id}.
func (e *Emulator) groupsGet(c *call) (int, any, *graphError) {
	id := c.r.PathValue("id")
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groupsBy[id]
	if g == nil {
		return 0, nil, notFoundObject(id)
	}
	m := selectProps(e.groupJSON(g), c.r.URL.Query().Get("$select"), groupDefault)
	m["@odata.context"] = c.base + "/v1.0/$metadata#groups/$entity"
	return 200, m, nil
}

// members is GET /groups/{id}/members (direct) and /groups/{id}/transitiveMembers (nested groups
// expanded, each member once, the nested groups themselves included as group-transitivemembers
// documents). Each member carries @odata.type (#microsoft.graph.user or #microsoft.graph.group).
func (e *Emulator) members(c *call) (int, any, *graphError) {
	id := c.r.PathValue("id")
	transitive := strings.HasSuffix(c.r.URL.Path, "/transitiveMembers")
	sel := c.r.URL.Query().Get("$select")
	e.mu.Lock()
	g := e.groupsBy[id]
	if g == nil {
		e.mu.Unlock()
		return 0, nil, notFoundObject(id)
	}
	var all []map[string]any
	seen := map[string]bool{g.id: true}
	var walk func(g *group)
	walk = func(g *group) {
		for _, m := range g.members {
			if seen[m] {
				continue
			}
			seen[m] = true
			if u := e.usersBy[m]; u != nil {
				x := selectProps(e.userJSON(u), sel, userDefault)
				x["@odata.type"] = "#microsoft.graph.user"
				all = append(all, x)
			} else if sub := e.groupsBy[m]; sub != nil {
				x := selectProps(e.groupJSON(sub), sel, groupDefault)
				x["@odata.type"] = "#microsoft.graph.group"
				all = append(all, x)
				if transitive {
					walk(sub)
				}
			}
		}
	}
	walk(g)
	e.mu.Unlock()
	return e.pageOf(c, "directoryObjects", all, 100)
}
