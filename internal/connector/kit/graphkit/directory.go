package graphkit

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
)

// The Microsoft Graph application permissions the directory needs.
const (
	PermUserReadAll        = "User.Read.All"
	PermGroupMemberReadAll = "GroupMember.Read.All"
)

// User is an Entra ID user as the directory lists it.
type User struct {
	ID                string             `json:"id"`
	UserPrincipalName string             `json:"userPrincipalName"`
	Mail              string             `json:"mail"`
	DisplayName       string             `json:"displayName"`
	AccountEnabled    *bool              `json:"accountEnabled"`
	AssignedLicenses  *[]json.RawMessage `json:"assignedLicenses"`
	ODataType         string             `json:"@odata.type"`
}

// UPN is the user's sign-in name, lower case: the owner of its drive or mailbox and the actor of
// its events.
func (u User) UPN() string { return strings.ToLower(strings.TrimSpace(u.UserPrincipalName)) }

// Disabled: Graph says the account is disabled (accountEnabled false; absent is not disabled).
func (u User) Disabled() bool { return u.AccountEnabled != nil && !*u.AccountEnabled }

// Unlicensed: Graph says the user has no license (assignedLicenses selected and empty).
func (u User) Unlicensed() bool { return u.AssignedLicenses != nil && len(*u.AssignedLicenses) == 0 }

// Name is the user's display name, or its UPN.
func (u User) Name() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.UPN()
}

// Directory is Entra ID discovery, shared by the Microsoft 365 connectors: the users list
// (paged by @odata.nextLink), a scope of users (by UPN or mail address, any case) or of groups
// (by exact display name, R2.5, or mail address; members through transitiveMembers, nested groups
// included), and disabled accounts skipped and counted (R3.9).
type Directory struct {
	Get Getter
	// Denied words a refusal of the directory: the permission missing and what was being done.
	Denied func(err error, need, what string) error
	// Fields are the users' $select (accountEnabled and assignedLicenses are only read when
	// selected); "" selects id, userPrincipalName, mail, displayName and accountEnabled.
	Fields string
	// PageSize is $top of the users list (1..999), 0 for 999.
	PageSize int
	// Seen, when set, is given every user read: the listing's and groups' members.
	Seen func(User)
}

func (d Directory) usersPath() string {
	fields := d.Fields
	if fields == "" {
		fields = "id,userPrincipalName,mail,displayName,accountEnabled"
	}
	n := d.PageSize
	if n <= 0 || n > 999 {
		n = 999
	}
	return "/users?$top=" + strconv.Itoa(n) + "&$select=" + fields
}

// EachPage pages the tenant's users, handing each page to fn (every user, Seen called first)
// until fn answers false or the list ends. what names the listing in a refusal.
func (d Directory) EachPage(ctx context.Context, what string, fn func([]User) (more bool, err error)) error {
	guard := paging.New("graph users", 0)
	for next := d.usersPath(); next != ""; {
		var page struct {
			Value    []User `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := d.Get(ctx, next, &page); err != nil {
			return d.Denied(err, PermUserReadAll, what)
		}
		if d.Seen != nil {
			for _, u := range page.Value {
				d.Seen(u)
			}
		}
		more, err := fn(page.Value)
		if err != nil || !more {
			return err
		}
		if next = page.NextLink; next != "" {
			if err := guard.Next(next); err != nil {
				return err
			}
		}
	}
	return nil
}

// Users pages the users in scope: fn gets each page's enabled users in scope with an id and a
// UPN; disabled ones in scope are counted and named (Discovery.NoteInactive), scope groups the tenant lacks as
// MissingGroups (looked up again later, R2.6).
func (d Directory) Users(ctx context.Context, scope connector.Scope, fn func([]User) error) (connector.Discovery, error) {
	var res connector.Discovery
	want := func(User) bool { return true }
	switch scope.Kind {
	case "users":
		set := map[string]bool{}
		for _, u := range scope.Users {
			set[strings.ToLower(strings.TrimSpace(u))] = true
		}
		want = func(u User) bool { return set[u.UPN()] || (u.Mail != "" && set[strings.ToLower(u.Mail)]) }
	case "groups":
		members, missing, err := d.GroupMembers(ctx, scope.Groups)
		if err != nil {
			return res, err
		}
		res.MissingGroups = missing
		want = func(u User) bool { return members[u.ID] }
	}
	err := d.EachPage(ctx, "listing users", func(page []User) (bool, error) {
		var in []User
		for _, u := range page {
			if !want(u) || u.ID == "" || u.UPN() == "" {
				continue
			}
			if u.Disabled() {
				res.NoteInactive(u.UPN(), connector.PersonBlocked, "sign-in disabled in Microsoft Entra ID (accountEnabled false)")
				continue
			}
			in = append(in, u)
		}
		if len(in) == 0 {
			return true, nil
		}
		return true, fn(in)
	})
	return res, err
}

// GroupMembers resolves groups (by exact display name, R2.5, or mail address) to the ids of their
// user members, nested groups included (transitiveMembers); groups the tenant does not have are
// missing.
func (d Directory) GroupMembers(ctx context.Context, groups []string) (map[string]bool, []string, error) {
	type g struct{ ID, DisplayName, Mail string }
	var all []g
	guard := paging.New("graph groups", 0)
	for next := "/groups?$top=999&$select=id,displayName,mail"; next != ""; {
		var page struct {
			Value []struct {
				ID          string `json:"id"`
				DisplayName string `json:"displayName"`
				Mail        string `json:"mail"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := d.Get(ctx, next, &page); err != nil {
			return nil, nil, d.Denied(err, PermGroupMemberReadAll, "listing groups")
		}
		for _, x := range page.Value {
			all = append(all, g{x.ID, x.DisplayName, x.Mail})
		}
		if next = page.NextLink; next != "" {
			if err := guard.Next(next); err != nil {
				return nil, nil, err
			}
		}
	}
	members := map[string]bool{}
	var missing []string
	for _, name := range groups {
		key := strings.TrimSpace(name)
		var ids []string
		for _, x := range all {
			if x.DisplayName == key || (strings.Contains(key, "@") && strings.EqualFold(x.Mail, key)) {
				ids = append(ids, x.ID)
			}
		}
		if len(ids) == 0 {
			missing = append(missing, name)
			continue
		}
		for _, id := range ids {
			found, err := d.transitiveUsers(ctx, id)
			if IsStatus(err, http.StatusNotFound) {
				continue // deleted since it was listed
			}
			if err != nil {
				return nil, nil, err
			}
			for _, m := range found {
				members[m] = true
			}
		}
	}
	return members, missing, nil
}

// transitiveUsers lists the ids of a group's user members, nested groups expanded.
func (d Directory) transitiveUsers(ctx context.Context, groupID string) ([]string, error) {
	var out []string
	guard := paging.New("graph members of group "+groupID, 0)
	for next := "/groups/" + url.PathEscape(groupID) + "/transitiveMembers?$top=999&$select=id,userPrincipalName,mail,displayName"; next != ""; {
		var page struct {
			Value    []User `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := d.Get(ctx, next, &page); err != nil {
			if IsStatus(err, http.StatusNotFound) {
				return nil, err
			}
			return nil, d.Denied(err, PermGroupMemberReadAll, "listing the members of group "+groupID)
		}
		for _, m := range page.Value {
			if m.ODataType == "" || m.ODataType == "#microsoft.graph.user" {
				out = append(out, m.ID)
				if d.Seen != nil {
					d.Seen(m)
				}
			}
		}
		if next = page.NextLink; next != "" {
			if err := guard.Next(next); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
