package googlekit

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
)

const (
	usersPage   = 500 // Directory users.list maxResults (NOTES 2d)
	membersPage = 200 // Directory members.list and groups.list
)

// Directory reads the domain's users and groups as its administrator.
type Directory struct {
	C        *Client
	Admin    string // the administrator Telltale acts as
	Customer string // my_customer, a customer id, or a primary domain
}

// User is an active in-scope user of the domain.
type User struct {
	Email, Name string
}

// UsersCall is users.list for the configured customer or domain.
func (d Directory) UsersCall(a *admin.Service) *admin.UsersListCall {
	c := a.Users.List()
	if strings.Contains(d.Customer, ".") {
		return c.Domain(d.Customer)
	}
	return c.Customer(d.Customer)
}

// AdminErr says what is wrong when the Directory refuses the administrator.
func (d Directory) AdminErr(err error, what string) error {
	err = Plain(err)
	if ge, ok := Err(err); ok && ge.Code == http.StatusForbidden && !RateLimited(ge) && !NotEnabled(err) {
		return fmt.Errorf("%w: the Directory API refused %s to %s (%d %s: %s): admin_email must be a super administrator of the domain (Admin console > Directory > Users > the user > Admin roles and privileges)",
			connector.ErrPermission, what, d.Admin, ge.Code, Reason(ge), ge.Message)
	}
	return d.C.Classify(err, "%s as %s", what, d.Admin)
}

// Users pages the domain's users and calls emit with each page's active users in scope (by
// primary email); suspended and archived users in scope are skipped and counted (R3.9), and scope
// groups the Directory does not know are reported missing (R2.6).
func (d Directory) Users(ctx context.Context, a *admin.Service, scope connector.Scope, emit func([]User) error) (connector.Discovery, error) {
	var res connector.Discovery
	want := func(string) bool { return true }
	switch scope.Kind {
	case "users":
		set := map[string]bool{}
		for _, u := range scope.Users {
			set[strings.ToLower(strings.TrimSpace(u))] = true
		}
		want = func(email string) bool { return set[email] }
	case "groups":
		members, missing, err := d.GroupMembers(ctx, a, scope.Groups)
		if err != nil {
			return res, err
		}
		res.MissingGroups = missing
		want = func(email string) bool { return members[email] }
	}
	guard := paging.New("google users", 0)
	tok := ""
	for {
		page, err := d.UsersCall(a).MaxResults(usersPage).PageToken(tok).
			Fields("nextPageToken,users(id,primaryEmail,name/fullName,suspended,archived)").Context(ctx).Do()
		if err != nil {
			return res, d.AdminErr(err, "listing users")
		}
		var us []User
		for _, u := range page.Users {
			email := strings.ToLower(u.PrimaryEmail)
			if !want(email) {
				continue
			}
			if u.Suspended || u.Archived {
				if u.Archived {
					res.NoteInactive(email, connector.PersonInactive, "archived in Google Workspace")
				} else {
					res.NoteInactive(email, connector.PersonBlocked, "suspended in Google Workspace")
				}
				continue
			}
			name := email
			if u.Name != nil && u.Name.FullName != "" {
				name = u.Name.FullName
			}
			us = append(us, User{Email: email, Name: name})
		}
		if len(us) > 0 {
			if err := emit(us); err != nil {
				return res, err
			}
		}
		if page.NextPageToken == "" {
			return res, nil
		}
		if err := guard.Next(page.NextPageToken); err != nil {
			return res, err
		}
		tok = page.NextPageToken
	}
}

// GroupMembers resolves scope groups (a group's email, or its exact name) to the emails of their
// users, nested groups included; groups the Directory does not know are missing.
func (d Directory) GroupMembers(ctx context.Context, a *admin.Service, groups []string) (map[string]bool, []string, error) {
	var byName map[string]string // name -> email, listed once when a scope group is named
	members := map[string]bool{}
	var missing []string
	for _, g := range groups {
		key := strings.TrimSpace(g)
		if !strings.Contains(key, "@") {
			if byName == nil {
				m, err := d.groupNames(ctx, a)
				if err != nil {
					return nil, nil, err
				}
				byName = m
			}
			email, ok := byName[key]
			if !ok {
				missing = append(missing, g)
				continue
			}
			key = email
		}
		emails, err := d.MembersOf(ctx, a, key)
		if IsCode(err, http.StatusNotFound) {
			missing = append(missing, g)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, e := range emails {
			members[e] = true
		}
	}
	return members, missing, nil
}

// groupNames maps the domain's group names to their emails.
func (d Directory) groupNames(ctx context.Context, a *admin.Service) (map[string]string, error) {
	out := map[string]string{}
	guard := paging.New("google groups", 0)
	tok := ""
	for {
		c := a.Groups.List().MaxResults(membersPage).PageToken(tok).Fields("nextPageToken,groups(email,name)")
		if strings.Contains(d.Customer, ".") {
			c = c.Domain(d.Customer)
		} else {
			c = c.Customer(d.Customer)
		}
		page, err := c.Context(ctx).Do()
		if err != nil {
			return nil, d.AdminErr(err, "listing groups")
		}
		for _, g := range page.Groups {
			out[g.Name] = strings.ToLower(g.Email)
		}
		if page.NextPageToken == "" {
			return out, nil
		}
		if err := guard.Next(page.NextPageToken); err != nil {
			return nil, err
		}
		tok = page.NextPageToken
	}
}

// MembersOf lists the user members of a group, nested groups included. A group the Directory
// does not know is Google's 404, returned as it is.
func (d Directory) MembersOf(ctx context.Context, a *admin.Service, group string) ([]string, error) {
	var out []string
	guard := paging.New("google members of "+group, 0)
	tok := ""
	for {
		page, err := a.Members.List(group).IncludeDerivedMembership(true).MaxResults(membersPage).PageToken(tok).
			Fields("nextPageToken,members(email,type,status)").Context(ctx).Do()
		if err != nil {
			if IsCode(err, http.StatusNotFound) {
				return nil, err
			}
			return nil, d.AdminErr(err, "listing the members of group "+group)
		}
		for _, m := range page.Members {
			if m.Type == "USER" || m.Type == "" {
				out = append(out, strings.ToLower(m.Email))
			}
		}
		if page.NextPageToken == "" {
			return out, nil
		}
		if err := guard.Next(page.NextPageToken); err != nil {
			return nil, err
		}
		tok = page.NextPageToken
	}
}
