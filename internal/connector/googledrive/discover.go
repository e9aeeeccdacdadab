package googledrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
)

const (
	drivesPage = 100 // Drive drives.list pageSize
)

// Verify mints the admin's token with every scope (a scope not delegated fails here), lists one
// user and one shared drive as the admin, and returns the customer id.
func (s *session) Verify(ctx context.Context) (string, error) {
	s.g.Source(s.admin).Invalidate("") // check the delegation as it is now
	ctx, svc := s.as(ctx, s.admin)
	users, err := s.dir.UsersCall(svc.dir).MaxResults(1).Fields("users(id,primaryEmail,customerId)").Context(ctx).Do()
	if err != nil {
		return "", s.dir.AdminErr(err, "listing users")
	}
	_, err = svc.drive.Drives.List().UseDomainAdminAccess(true).PageSize(1).Fields("drives(id)").Context(ctx).Do()
	if err != nil {
		if ge, ok := googlekit.Err(err); ok && ge.Code == http.StatusForbidden && !googlekit.RateLimited(ge) && googlekit.Reason(ge) != "accessNotConfigured" {
			return "", fmt.Errorf("%w: Drive refused to list the domain's shared drives to %s (%d %s: %s): admin_email must be a super administrator, and the Drive API enabled in the service account's project",
				connector.ErrPermission, s.admin, ge.Code, googlekit.Reason(ge), ge.Message)
		}
		return "", s.g.Classify(err, "listing shared drives as %s", s.admin)
	}
	// The Drive audit log: the Reports API with the admin's reports.audit scope.
	now := s.deps.Clock.Now().UTC()
	_, err = svc.reports.Activities.List("all", "drive").MaxResults(1).StartTime(now.Add(-time.Hour).Format(time.RFC3339)).
		EndTime(now.Format(time.RFC3339)).Context(ctx).Do()
	if err != nil {
		if ge, ok := googlekit.Err(err); ok && (ge.Code == http.StatusForbidden || ge.Code == http.StatusUnauthorized) && !googlekit.RateLimited(ge) && googlekit.Reason(ge) != "accessNotConfigured" {
			return "", fmt.Errorf("%w: the Reports API refused the Drive audit log to %s (%d %s: %s): admin_email must be a super administrator (or hold the Reports privilege), with the scope %s delegated",
				connector.ErrPermission, s.admin, ge.Code, googlekit.Reason(ge), ge.Message, ScopeReportsAudit)
		}
		return "", s.g.Classify(err, "reading the Drive audit log as %s", s.admin)
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
	ctx, svc := s.as(ctx, s.admin)
	res, err := s.dir.Users(ctx, svc.dir, scope, func(us []googlekit.User) error {
		ds := make([]connector.Drive, len(us))
		for i, u := range us {
			ds[i] = connector.Drive{VendorID: u.Email, Kind: "user", Owner: u.Email, Name: u.Name}
		}
		return emit(ds)
	})
	if err != nil {
		return res, err
	}
	guard := paging.New("google shared drives", 0)
	tok := ""
	for {
		page, err := svc.drive.Drives.List().UseDomainAdminAccess(true).PageSize(drivesPage).PageToken(tok).
			Fields("nextPageToken,drives(id,name)").Context(ctx).Do()
		if err != nil {
			return res, s.g.Classify(err, "listing shared drives as %s", s.admin)
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
	v, err, _ := s.choosing.Do(d.VendorID, func() (any, error) { return s.chooseActor(ctx, d) })
	if err != nil && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return s.chooseActor(ctx, d) // the first caller's context ended, not this one's
	}
	return v.(string), err
}

// chooseActor lists shared drive d's members as the admin and returns the first Telltale can act
// as, remembering it for the session.
func (s *session) chooseActor(ctx context.Context, d connector.Drive) (string, error) {
	ctx, svc := s.as(ctx, s.admin)
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
		if googlekit.IsCode(err, http.StatusNotFound) {
			return "", fmt.Errorf("%w: shared drive %s is gone: %v", connector.ErrInaccessible, d.VendorID, err)
		}
		if err != nil {
			return "", s.g.Classify(err, "listing the members of shared drive %s", d.VendorID)
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
		if _, err := s.g.Source(email).Token(ctx); err != nil {
			terr := s.g.TokenError(err, email)
			if errors.Is(terr, googlekit.ErrBadSubject) {
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
		emails, err := s.dir.MembersOf(ctx, svc.dir, c.email)
		if err != nil && !googlekit.IsCode(err, http.StatusNotFound) {
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
