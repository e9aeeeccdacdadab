package onedrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
)

// usersPage is the directory's largest page ($top 1..999, user-list); a variable for tests.
var usersPage = 999

// userFields are the user properties discovery reads (accountEnabled needs $select).
const userFields = "id,userPrincipalName,mail,displayName,accountEnabled"

// graphUser is a directory user (graphkit's, shared with the mail connector).
type graphUser = graphkit.User

type usersPageJSON struct {
	Value    []graphUser `json:"value"`
	NextLink string      `json:"@odata.nextLink"`
}

// directory is the tenant's Entra ID directory as discovery reads it; every user read names the
// actors of delta items (remember).
func (s *session) directory() graphkit.Directory {
	return graphkit.Directory{
		Get: func(ctx context.Context, p string, out any) error {
			need := PermUserReadAll
			if strings.Contains(p, "/groups") {
				need = PermGroupMemberReadAll
			}
			return s.api.get(ctx, p, need, nil, out)
		},
		Denied: s.denied, Fields: userFields, PageSize: usersPage, Seen: s.remember,
	}
}

type graphDrive struct {
	ID        string `json:"id"`
	DriveType string `json:"driveType"`
	Name      string `json:"name"`
}

// Verify mints a fresh token (the secret, the application and the tenant are checked there),
// then calls Graph as discovery will: the users list (User.Read.All), the groups list
// (GroupMember.Read.All) and users' drives (Files.Read.All), and the Management Activity API as
// the audit stream will (subscriptions/list: ActivityFeed.Read, the tenant's GUID), so a
// permission granted without admin consent, or not granted, is named here rather than found by a
// failing collection. It returns the tenant as configured.
func (s *session) Verify(ctx context.Context) (string, error) {
	s.api.tokens.Invalidate("") // check the credentials as they are now
	var users usersPageJSON
	if err := s.api.get(ctx, "/users?$top=5&$select="+userFields, PermUserReadAll, nil, &users); err != nil {
		return "", s.denied(err, PermUserReadAll, "listing users")
	}
	var groups struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	if err := s.api.get(ctx, "/groups?$top=1&$select=id,displayName", PermGroupMemberReadAll, nil, &groups); err != nil {
		return "", s.denied(err, PermGroupMemberReadAll, "listing groups")
	}
	for _, u := range users.Value {
		var d graphDrive
		err := s.api.get(ctx, "/users/"+url.PathEscape(u.ID)+"/drive?$select=id,driveType,name", PermFilesReadAll, nil, &d)
		if err == nil || isStatus(err, http.StatusNotFound) {
			break // a drive, or a user without a OneDrive: the permission is there either way
		}
		return "", s.denied(err, PermFilesReadAll, "reading the OneDrive of "+u.UserPrincipalName)
	}
	// The audit stream: the tenant's GUID and ActivityFeed.Read (a separate API and token).
	if err := s.checkTenantGUID(); err != nil {
		return "", err
	}
	s.mgmt.tokens.Invalidate("")
	if _, _, err := s.mgmt.call(ctx, http.MethodGet, "/subscriptions/list"); err != nil {
		return "", fmt.Errorf("onedrive: listing the Management Activity API subscriptions: %w", err)
	}
	return s.tenant, nil
}

// Discover pages the tenant's users and emits, for each enabled in-scope user with a OneDrive, the
// drive (vendor id: Graph's drive id; owner: the userPrincipalName). Disabled accounts are skipped
// and counted (R3.9). A user Graph answers 404 for has no OneDrive (no license, or never signed in
// so never provisioned): there is nothing to monitor, so it is skipped, not an inaccessible drive,
// which would put a tenant with many unlicensed accounts (frontline, shared mailboxes) in Error
// (R1.5 counts inaccessible drives); discovery finds the drive once it is provisioned (R3.4).
// Any other refusal of one user's drive makes that drive Inaccessible with the reason.
func (s *session) Discover(ctx context.Context, scope connector.Scope, emit func([]connector.Drive) error) (connector.Discovery, error) {
	return s.directory().Users(ctx, scope, func(users []graphUser) error {
		var ds []connector.Drive
		for _, u := range users {
			d, ok, err := s.userDrive(ctx, u)
			if err != nil {
				return err
			}
			if ok {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			return nil
		}
		return emit(ds)
	})
}

// userDrive is u's OneDrive; ok false when u has none (404).
func (s *session) userDrive(ctx context.Context, u graphUser) (connector.Drive, bool, error) {
	var gd graphDrive
	err := s.api.get(ctx, "/users/"+url.PathEscape(u.ID)+"/drive?$select=id,driveType,name", PermFilesReadAll, nil, &gd)
	name := u.Name()
	switch {
	case err == nil && gd.ID != "":
		return connector.Drive{VendorID: gd.ID, Kind: "user", Owner: u.UPN(), Name: name}, true, nil
	case err == nil:
		return connector.Drive{}, false, fmt.Errorf("%w: onedrive: the drive of %s has no id", connector.ErrMalformed, u.UPN())
	case isStatus(err, http.StatusNotFound):
		s.log.Debug("onedrive: user without a OneDrive skipped", "user", u.UPN())
		return connector.Drive{}, false, nil
	case isStatus(err, http.StatusForbidden), isStatus(err, http.StatusLocked):
		ge, _ := asGraphError(err)
		// No drive id without an answer: the user's id stands for the drive, marked inaccessible.
		return connector.Drive{VendorID: "user:" + u.ID, Kind: "user", Owner: u.UPN(), Name: name,
			Inaccessible: fmt.Sprintf("Microsoft Graph refused the OneDrive of %s (%d %s: %s): check that the app has the application permission %s with admin consent and that the OneDrive is not locked", u.UPN(), ge.Status, ge.Code, ge.Message, PermFilesReadAll)}, true, nil
	}
	return connector.Drive{}, false, refusedToken(err)
}

// remember keeps a user's userPrincipalName by id, to name the actors of delta items (Graph's
// identities carry an id and a display name); the cache holds the latest few thousand, the rest
// are asked of Graph again (person).
func (s *session) remember(u graphUser) {
	if u.ID == "" || u.UPN() == "" {
		return
	}
	s.people.put(u.ID, u.UPN())
}

// person is the userPrincipalName of a user id: from the session's map, or asked of Graph once.
// "" when Graph does not know the id (an external or deleted user).
func (s *session) person(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if upn, ok := s.people.get(id); ok {
		return upn
	}
	var u graphUser
	err := s.api.get(ctx, "/users/"+url.PathEscape(id)+"?$select=id,userPrincipalName", PermUserReadAll, nil, &u)
	if err != nil {
		if !isStatus(err, http.StatusNotFound) && !errors.Is(err, context.Canceled) {
			s.log.Debug("onedrive: cannot name a user", "id", id, "err", err)
		}
		if isStatus(err, http.StatusNotFound) {
			s.people.put(id, "")
		}
		return ""
	}
	s.remember(u)
	return u.UPN()
}
