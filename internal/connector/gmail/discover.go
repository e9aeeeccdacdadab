package gmail

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

// usersCall is users.list for the configured customer or domain.
func (s *session) usersCall(a *admin.Service) *admin.UsersListCall {
	c := a.Users.List()
	if strings.Contains(s.customer, ".") {
		return c.Domain(s.customer)
	}
	return c.Customer(s.customer)
}

// adminErr says what is wrong when the Directory refuses the admin.
func (s *session) adminErr(err error, what string) error {
	err = plain(err)
	if ge, ok := googleErr(err); ok && ge.Code == http.StatusForbidden && !rateLimitReasons[reason(ge)] && !notEnabled(err) {
		return fmt.Errorf("%w: the Directory API refused %s to %s (%d %s: %s): admin_email must be a super administrator of the domain (Admin console > Directory > Users > the user > Admin roles and privileges)",
			connector.ErrPermission, what, s.admin, ge.Code, reason(ge), ge.Message)
	}
	if notEnabled(err) {
		ge, _ := googleErr(err)
		return fmt.Errorf("%w: gmail: %s: the Admin SDK API is not enabled in the service account's project (%d %s: %s): enable it in the Cloud console (APIs & Services > Library > Admin SDK API)",
			connector.ErrPermission, what, ge.Code, reason(ge), ge.Message)
	}
	return s.classify(err, "%s as %s", what, s.admin)
}

// Verify mints the admin's token with every scope (a scope not delegated fails here), lists one
// user as the admin (the admin is one), reads the admin's Gmail profile (the Gmail API is enabled
// and gmail.readonly delegated), and returns the customer id.
func (s *session) Verify(ctx context.Context) (string, error) {
	s.source(s.admin).Invalidate("") // check the delegation as it is now
	svc, err := s.as(s.admin)
	if err != nil {
		return "", err
	}
	users, err := s.usersCall(svc.dir).MaxResults(1).Fields("users(id,primaryEmail,customerId)").Context(ctx).Do()
	if err != nil {
		return "", s.adminErr(err, "listing users")
	}
	if _, err := svc.gmail.Users.GetProfile("me").Context(ctx).Do(); err != nil && !mailOff(plain(err)) {
		// An administrator without Gmail cannot tell whether Gmail answers; every mailbox will.
		return "", s.classify(err, "reading the Gmail profile of %s", s.admin)
	}
	if len(users.Users) > 0 && users.Users[0].CustomerId != "" {
		return users.Users[0].CustomerId, nil
	}
	return s.customer, nil
}

// Discover pages the domain's users and emits the active in-scope ones' mailboxes, by primary
// email (Gmail impersonates by email); suspended and archived users are counted, not monitored.
func (s *session) Discover(ctx context.Context, scope connector.Scope, emit func([]connector.Drive) error) (connector.Discovery, error) {
	var res connector.Discovery
	svc, err := s.as(s.admin)
	if err != nil {
		return res, err
	}
	want := func(string) bool { return true }
	switch scope.Kind {
	case "users":
		set := map[string]bool{}
		for _, u := range scope.Users {
			set[strings.ToLower(strings.TrimSpace(u))] = true
		}
		want = func(email string) bool { return set[email] }
	case "groups":
		members, missing, err := s.groupMembers(ctx, svc.dir, scope.Groups)
		if err != nil {
			return res, err
		}
		res.MissingGroups = missing
		want = func(email string) bool { return members[email] }
	}
	guard := paging.New("google users", 0)
	tok := ""
	for {
		page, err := s.usersCall(svc.dir).MaxResults(usersPage).PageToken(tok).
			Fields("nextPageToken,users(id,primaryEmail,name/fullName,suspended,archived)").Context(ctx).Do()
		if err != nil {
			return res, s.adminErr(err, "listing users")
		}
		var ds []connector.Drive
		for _, u := range page.Users {
			email := strings.ToLower(u.PrimaryEmail)
			if !want(email) {
				continue
			}
			if u.Suspended || u.Archived {
				res.SkippedInactive++ // R3.9
				continue
			}
			name := email
			if u.Name != nil && u.Name.FullName != "" {
				name = u.Name.FullName
			}
			ds = append(ds, connector.Drive{VendorID: email, Kind: "mailbox", Owner: email, Name: name})
		}
		if len(ds) > 0 {
			if err := emit(ds); err != nil {
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

// groupMembers resolves scope groups (a group's email, or its exact name) to the emails of their
// users, nested groups included; groups the Directory does not know are missing.
func (s *session) groupMembers(ctx context.Context, a *admin.Service, groups []string) (map[string]bool, []string, error) {
	var byName map[string]string // name -> email, listed once when a scope group is named
	members := map[string]bool{}
	var missing []string
	for _, g := range groups {
		key := strings.TrimSpace(g)
		if !strings.Contains(key, "@") {
			if byName == nil {
				m, err := s.groupNames(ctx, a)
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
		emails, err := s.membersOf(ctx, a, key)
		if isCode(err, http.StatusNotFound) {
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
func (s *session) groupNames(ctx context.Context, a *admin.Service) (map[string]string, error) {
	out := map[string]string{}
	guard := paging.New("google groups", 0)
	tok := ""
	for {
		c := a.Groups.List().MaxResults(membersPage).PageToken(tok).Fields("nextPageToken,groups(email,name)")
		if strings.Contains(s.customer, ".") {
			c = c.Domain(s.customer)
		} else {
			c = c.Customer(s.customer)
		}
		page, err := c.Context(ctx).Do()
		if err != nil {
			return nil, s.adminErr(err, "listing groups")
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

// membersOf lists the user members of a group, nested groups included.
func (s *session) membersOf(ctx context.Context, a *admin.Service, group string) ([]string, error) {
	var out []string
	guard := paging.New("google members of "+group, 0)
	tok := ""
	for {
		page, err := a.Members.List(group).IncludeDerivedMembership(true).MaxResults(membersPage).PageToken(tok).
			Fields("nextPageToken,members(email,type,status)").Context(ctx).Do()
		if err != nil {
			if isCode(err, http.StatusNotFound) {
				return nil, err
			}
			return nil, s.adminErr(err, "listing the members of group "+group)
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
