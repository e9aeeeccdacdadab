package m365mail

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
)

// usersPage is the directory's largest page ($top 1..999, user-list); a variable for tests.
var usersPage = 999

// userFields are the user properties discovery reads (accountEnabled and assignedLicenses need
// $select).
const userFields = "id,userPrincipalName,mail,displayName,accountEnabled,assignedLicenses"

// probeTTL is how long a mailbox probe's answer is believed: a mailbox found (or found missing) is
// asked about again once a day (R4.2), not at every discovery.
const probeTTL = 24 * time.Hour

// graphUser is a directory user (graphkit's, shared with the OneDrive connector).
type graphUser = graphkit.User

type usersPageJSON struct {
	Value    []graphUser `json:"value"`
	NextLink string      `json:"@odata.nextLink"`
}

// directory is the tenant's Entra ID directory as discovery reads it.
func (s *session) directory() graphkit.Directory {
	return graphkit.Directory{
		Get:    func(ctx context.Context, p string, out any) error { return s.api.get(ctx, p, "", nil, out) },
		Denied: s.denied, Fields: userFields, PageSize: usersPage,
	}
}

// probe is what asking a mailbox found: has one (mailbox) or not (why), when.
type probe struct {
	at      time.Time
	mailbox bool
	why     string
}

// Verify mints a fresh token (the secret, the application and the tenant are checked there),
// then calls Graph as discovery and collection will: the users list (User.Read.All), the groups
// list (GroupMember.Read.All) and a mailbox's sent items (Mail.Read), so a permission granted
// without admin consent, or not granted, is named here rather than found by a failing
// collection. It returns the tenant as configured (its id or verified domain).
func (s *session) Verify(ctx context.Context) (string, error) {
	s.api.tokens.Invalidate("") // check the credentials as they are now
	var users usersPageJSON
	if err := s.api.get(ctx, "/users?$top=10&$select="+userFields, "", nil, &users); err != nil {
		return "", s.denied(err, PermUserReadAll, "listing users")
	}
	var groups struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	if err := s.api.get(ctx, "/groups?$top=1&$select=id,displayName", "", nil, &groups); err != nil {
		return "", s.denied(err, PermGroupMemberReadAll, "listing groups")
	}
	var blocked error // a mailbox an application access policy leaves out
	for _, u := range users.Value {
		if u.Unlicensed() || (u.AccountEnabled != nil && !*u.AccountEnabled) {
			continue
		}
		err := s.api.get(ctx, startPath(u.ID, s.deps.Clock.Now()), u.ID, preferStart, nil)
		if err == nil {
			return s.tenant, nil
		}
		if isStatus(err, http.StatusNotFound) {
			continue // a user without an Exchange Online mailbox: try the next
		}
		if policyBlocked(err) {
			blocked = err // the policy may well leave this one out: try the next
			continue
		}
		return "", s.denied(err, PermMailRead, "reading the sent items of "+u.UPN())
	}
	if blocked != nil {
		return "", s.denied(blocked, PermMailRead, "reading the sent items of the first users")
	}
	return s.tenant, nil
}

// policyBlocked reports whether Graph refused a mailbox because an Exchange application access
// policy leaves it out ("Access to OData is disabled: [RAOP] : Blocked by tenant configured
// AppOnly AccessPolicy settings."), not for a missing permission.
func policyBlocked(err error) bool {
	ge, ok := asGraphError(err)
	return ok && ge.Status == http.StatusForbidden && strings.Contains(ge.Message, "AccessPolicy")
}

// Discover pages the tenant's users and emits, for each enabled in-scope user with an Exchange
// Online mailbox, the mailbox (vendor id: the Entra user id, which a rename or a new address does
// not change, so the stream's cursor survives them; owner: the userPrincipalName). Disabled
// accounts are skipped and counted (R3.9). Users without a license, and licensed users whose
// mailbox Graph answers 404 for (MailboxNotEnabledForRESTAPI: no Exchange plan, an on-premises or
// soft-deleted mailbox), have nothing to monitor: skipped with the reason in the debug log, not
// inaccessible, which would put a tenant with many such accounts in Error (R1.5). A mailbox Graph
// refuses (403: outside an application access policy) is Inaccessible with the reason.
func (s *session) Discover(ctx context.Context, scope connector.Scope, emit func([]connector.Drive) error) (connector.Discovery, error) {
	return s.directory().Users(ctx, scope, func(users []graphUser) error {
		var ds []connector.Drive
		for _, u := range users {
			if u.Unlicensed() {
				s.log.Debug("microsoft365_mail: user without a license (no mailbox) skipped", "user", u.UPN())
				continue
			}
			d, ok, err := s.mailbox(ctx, u)
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

// mailbox is u's mailbox as a drive; ok false when u has none. A mailbox is probed (one delta
// page of one id) at most once per probeTTL; a refusal is not remembered, so access given back is
// seen at the next discovery.
func (s *session) mailbox(ctx context.Context, u graphUser) (connector.Drive, bool, error) {
	d := connector.Drive{VendorID: u.ID, Kind: "mailbox", Owner: u.UPN(), Name: u.Name()}
	now := s.deps.Clock.Now()
	s.mu.Lock()
	p, ok := s.probed[u.ID]
	s.mu.Unlock()
	if !ok || now.Sub(p.at) >= probeTTL || now.Before(p.at) {
		err := s.api.get(ctx, startPath(u.ID, now), u.ID, preferStart, nil)
		switch ge, _ := asGraphError(err); {
		case err == nil:
			p = probe{at: now, mailbox: true}
		case isStatus(err, http.StatusNotFound):
			p = probe{at: now, why: fmt.Sprintf("Microsoft Graph has no mailbox for %s (404 %s: %s): the user's license has no Exchange Online plan, or the mailbox is on-premises or soft-deleted", u.UPN(), ge.Code, ge.Message)}
		case isStatus(err, http.StatusForbidden):
			d.Inaccessible = fmt.Sprintf("Microsoft Graph refused the mailbox of %s (403 %s: %s): check that the app has the application permission %s with admin consent, and that an Exchange application access policy, if any, includes this mailbox", u.UPN(), ge.Code, ge.Message, PermMailRead)
			return d, true, nil
		default:
			return d, false, refusedToken(err)
		}
		s.mu.Lock()
		if len(s.probed) >= maxProbed {
			s.probed = map[string]probe{}
		}
		s.probed[u.ID] = p
		s.mu.Unlock()
	}
	if !p.mailbox {
		s.log.Debug("microsoft365_mail: user without a mailbox skipped", "user", u.UPN(), "why", p.why)
		return d, false, nil
	}
	return d, true, nil
}

// maxProbed bounds the session's probe map; past it the map starts again.
const maxProbed = 200000
