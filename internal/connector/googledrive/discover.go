package googledrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
)

const (
	usersPage   = 500 // Directory users.list maxResults (NOTES 2d)
	membersPage = 200 // Directory members.list and groups.list
	drivesPage  = 100 // Drive drives.list pageSize
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
	if ge, ok := googleErr(err); ok && ge.Code == http.StatusForbidden && !rateLimitReasons[reason(ge)] && reason(ge) != "accessNotConfigured" {
		return fmt.Errorf("%w: the Directory API refused %s to %s (%d %s: %s): admin_email must be a super administrator of the domain (Admin console > Directory > Users > the user > Admin roles and privileges)",
			connector.ErrPermission, what, s.admin, ge.Code, reason(ge), ge.Message)
	}
	return s.classify(err, "%s as %s", what, s.admin)
}

// Verify mints the admin's token with every scope (a scope not delegated fails here), lists one
// user and one shared drive as the admin, and returns the customer id.
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
	_, err = svc.drive.Drives.List().UseDomainAdminAccess(true).PageSize(1).Fields("drives(id)").Context(ctx).Do()
	if err != nil {
		if ge, ok := googleErr(err); ok && ge.Code == http.StatusForbidden && !rateLimitReasons[reason(ge)] && reason(ge) != "accessNotConfigured" {
			return "", fmt.Errorf("%w: Drive refused to list the domain's shared drives to %s (%d %s: %s): admin_email must be a super administrator, and the Drive API enabled in the service account's project",
				connector.ErrPermission, s.admin, ge.Code, reason(ge), ge.Message)
		}
		return "", s.classify(err, "listing shared drives as %s", s.admin)
	}
	// The Drive audit log: the Reports API with the admin's reports.audit scope.
	now := s.deps.Clock.Now().UTC()
	_, err = svc.reports.Activities.List("all", "drive").MaxResults(1).StartTime(now.Add(-time.Hour).Format(time.RFC3339)).
		EndTime(now.Format(time.RFC3339)).Context(ctx).Do()
	if err != nil {
		if ge, ok := googleErr(err); ok && (ge.Code == http.StatusForbidden || ge.Code == http.StatusUnauthorized) && !rateLimitReasons[reason(ge)] && reason(ge) != "accessNotConfigured" {
			return "", fmt.Errorf("%w: the Reports API refused the Drive audit log to %s (%d %s: %s): admin_email must be a super administrator (or hold the Reports privilege), with the scope %s delegated",
				connector.ErrPermission, s.admin, ge.Code, reason(ge), ge.Message, ScopeReportsAudit)
		}
		return "", s.classify(err, "reading the Drive audit log as %s", s.admin)
	}
	if len(users.Users) > 0 && users.Users[0].CustomerId != "" {
		return users.Users[0].CustomerId, nil
	}
	return s.customer, nil
}

// Discover pages the domain's users, emits the active in-scope ones as user drives (by primary
// email: Drive impersonates by email), then every shared drive (scopes name people, and a shared
// drive belongs to none).
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
			ds = append(ds, connector.Drive{VendorID: email, Kind: "user", Owner: email, Name: name})
		}
		if len(ds) > 0 {
			if err := emit(ds); err != nil {
				return res, err
			}
		}
		if page.NextPageToken == "" {
			break
		}
		if err := guard.Next(page.NextPageToken); err != nil {
			return res, err
		}
		tok = page.NextPageToken
	}
	guard = paging.New("google shared drives", 0)
	tok = ""
	for {
		page, err := svc.drive.Drives.List().UseDomainAdminAccess(true).PageSize(drivesPage).PageToken(tok).
			Fields("nextPageToken,drives(id,name)").Context(ctx).Do()
		if err != nil {
			return res, s.classify(err, "listing shared drives as %s", s.admin)
		}
		ds := make([]connector.Drive, 0, len(page.Drives))
		for _, d := range page.Drives {
			ds = append(ds, connector.Drive{VendorID: d.Id, Kind: "shared", Name: d.Name})
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

// roleRank orders shared drive roles: Telltale acts as the member with the highest.
var roleRank = map[string]int{"organizer": 5, "fileOrganizer": 4, "writer": 3, "commenter": 2, "reader": 1}

// actor is the user Telltale acts as for a drive: the user of a user drive, and for a shared drive
// one of its members (Drive lists a shared drive's files only to members; an administrator's
// useDomainAdminAccess covers drives.list and permissions.list, not files.list nor changes.list).
// The member is chosen once per session: the highest role first, direct members before members
// of member groups, the first Google lets Telltale act as.
func (s *session) actor(ctx context.Context, d connector.Drive) (string, error) {
	if d.Kind != "shared" && strings.Contains(d.VendorID, "@") {
		return d.VendorID, nil
	}
	s.mu.Lock()
	m := s.members[d.VendorID]
	s.mu.Unlock()
	if m != "" {
		return m, nil
	}
	svc, err := s.as(s.admin)
	if err != nil {
		return "", err
	}
	type cand struct {
		email, typ string
		rank       int
	}
	var cands []cand
	guard := paging.New("google members of shared drive "+d.VendorID, 0)
	tok := ""
	for {
		page, err := svc.drive.Permissions.List(d.VendorID).SupportsAllDrives(true).UseDomainAdminAccess(true).PageToken(tok).
			Fields("nextPageToken,permissions(type,role,emailAddress)").Context(ctx).Do()
		if isCode(err, http.StatusNotFound) {
			return "", fmt.Errorf("%w: shared drive %s is gone: %v", connector.ErrInaccessible, d.VendorID, err)
		}
		if err != nil {
			return "", s.classify(err, "listing the members of shared drive %s", d.VendorID)
		}
		for _, p := range page.Permissions {
			if (p.Type == "user" || p.Type == "group") && p.EmailAddress != "" {
				cands = append(cands, cand{strings.ToLower(p.EmailAddress), p.Type, roleRank[p.Role]})
			}
		}
		if page.NextPageToken == "" {
			break
		}
		if err := guard.Next(page.NextPageToken); err != nil {
			return "", err
		}
		tok = page.NextPageToken
	}
	order := func(typ string) []cand {
		var out []cand
		for r := 5; r >= 1; r-- {
			for _, c := range cands {
				if c.typ == typ && c.rank == r {
					out = append(out, c)
				}
			}
		}
		return out
	}
	try := func(email string) (bool, error) {
		if _, err := s.source(email).Token(ctx); err != nil {
			terr := s.tokenError(err, email)
			if errors.Is(terr, errBadSubject) {
				return false, nil // suspended or gone: the next member
			}
			return false, terr // a refused key or delegation is the connection's, not the drive's
		}
		s.mu.Lock()
		s.members[d.VendorID] = email
		s.mu.Unlock()
		return true, nil
	}
	for _, c := range order("user") {
		if ok, err := try(c.email); ok || err != nil {
			return c.email, err
		}
	}
	for _, c := range order("group") {
		emails, err := s.membersOf(ctx, svc.dir, c.email)
		if err != nil && !isCode(err, http.StatusNotFound) {
			return "", err
		}
		for _, e := range emails {
			if ok, err := try(e); ok || err != nil {
				return e, err
			}
		}
	}
	return "", fmt.Errorf("%w: shared drive %s has no active member Telltale can act as: add a user (a reader is enough) to the drive", connector.ErrInaccessible, d.VendorID)
}
