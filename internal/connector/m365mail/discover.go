package m365mail

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
)

// usersPage is the directory's largest page ($top 1..999, user-list); a variable for tests.
var usersPage = 999

// userFields are the user properties discovery reads (accountEnabled and assignedLicenses need
// $select).
const userFields = "id,userPrincipalName,mail,displayName,accountEnabled,assignedLicenses"

// probeTTL is how long a mailbox probe's answer is believed: a mailbox found (or found missing) is
// asked about again once a day (R4.2), not at every discovery.
const probeTTL = 24 * time.Hour

type graphUser struct {
	ID                string            `json:"id"`
	UserPrincipalName string            `json:"userPrincipalName"`
	Mail              string            `json:"mail"`
	DisplayName       string            `json:"displayName"`
	AccountEnabled    *bool             `json:"accountEnabled"`
	AssignedLicenses  *[]map[string]any `json:"assignedLicenses"`
	ODataType         string            `json:"@odata.type"`
}

// upn is the user's sign-in name, lower case: the mailbox's owner and the actor of its events.
func (u graphUser) upn() string { return strings.ToLower(strings.TrimSpace(u.UserPrincipalName)) }

// unlicensed: Graph says the user has no license (so no Exchange Online mailbox).
func (u graphUser) unlicensed() bool {
	return u.AssignedLicenses != nil && len(*u.AssignedLicenses) == 0
}

type usersPageJSON struct {
	Value    []graphUser `json:"value"`
	NextLink string      `json:"@odata.nextLink"`
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
		if u.unlicensed() || (u.AccountEnabled != nil && !*u.AccountEnabled) {
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
		return "", s.denied(err, PermMailRead, "reading the sent items of "+u.upn())
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
	var res connector.Discovery
	want := func(graphUser) bool { return true }
	switch scope.Kind {
	case "users":
		set := map[string]bool{}
		for _, u := range scope.Users {
			set[strings.ToLower(strings.TrimSpace(u))] = true
		}
		want = func(u graphUser) bool { return set[u.upn()] || (u.Mail != "" && set[strings.ToLower(u.Mail)]) }
	case "groups":
		members, missing, err := s.groupMembers(ctx, scope.Groups)
		if err != nil {
			return res, err
		}
		res.MissingGroups = missing
		want = func(u graphUser) bool { return members[u.ID] }
	}
	guard := paging.New("graph users", 0)
	next := "/users?$top=" + fmt.Sprint(usersPage) + "&$select=" + userFields
	for next != "" {
		var page usersPageJSON
		if err := s.api.get(ctx, next, "", nil, &page); err != nil {
			return res, s.denied(err, PermUserReadAll, "listing users")
		}
		var ds []connector.Drive
		for _, u := range page.Value {
			if !want(u) || u.ID == "" || u.upn() == "" {
				continue
			}
			if u.AccountEnabled != nil && !*u.AccountEnabled {
				res.SkippedInactive++ // R3.9
				continue
			}
			if u.unlicensed() {
				s.log.Debug("microsoft365_mail: user without a license (no mailbox) skipped", "user", u.upn())
				continue
			}
			d, ok, err := s.mailbox(ctx, u)
			if err != nil {
				return res, err
			}
			if ok {
				ds = append(ds, d)
			}
		}
		if len(ds) > 0 {
			if err := emit(ds); err != nil {
				return res, err
			}
		}
		next = page.NextLink
		if next != "" {
			if err := guard.Next(next); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// mailbox is u's mailbox as a drive; ok false when u has none. A mailbox is probed (one delta
// page of one id) at most once per probeTTL; a refusal is not remembered, so access given back is
// seen at the next discovery.
func (s *session) mailbox(ctx context.Context, u graphUser) (connector.Drive, bool, error) {
	name := u.DisplayName
	if name == "" {
		name = u.upn()
	}
	d := connector.Drive{VendorID: u.ID, Kind: "mailbox", Owner: u.upn(), Name: name}
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
			p = probe{at: now, why: fmt.Sprintf("Microsoft Graph has no mailbox for %s (404 %s: %s): the user's license has no Exchange Online plan, or the mailbox is on-premises or soft-deleted", u.upn(), ge.Code, ge.Message)}
		case isStatus(err, http.StatusForbidden):
			d.Inaccessible = fmt.Sprintf("Microsoft Graph refused the mailbox of %s (403 %s: %s): check that the app has the application permission %s with admin consent, and that an Exchange application access policy, if any, includes this mailbox", u.upn(), ge.Code, ge.Message, PermMailRead)
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
		s.log.Debug("microsoft365_mail: user without a mailbox skipped", "user", u.upn(), "why", p.why)
		return d, false, nil
	}
	return d, true, nil
}

// maxProbed bounds the session's probe map; past it the map starts again.
const maxProbed = 200000

// groupMembers resolves scope groups (by exact display name, R2.5, or mail address) to the ids of
// their user members, nested groups included (transitiveMembers); groups the tenant does not have
// are missing (looked up again later, R2.6).
func (s *session) groupMembers(ctx context.Context, groups []string) (map[string]bool, []string, error) {
	type g struct{ ID, DisplayName, Mail string }
	var all []g
	guard := paging.New("graph groups", 0)
	next := "/groups?$top=999&$select=id,displayName,mail"
	for next != "" {
		var page struct {
			Value []struct {
				ID          string `json:"id"`
				DisplayName string `json:"displayName"`
				Mail        string `json:"mail"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := s.api.get(ctx, next, "", nil, &page); err != nil {
			return nil, nil, s.denied(err, PermGroupMemberReadAll, "listing groups")
		}
		for _, x := range page.Value {
			all = append(all, g{x.ID, x.DisplayName, x.Mail})
		}
		next = page.NextLink
		if next != "" {
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
			found, err := s.transitiveUsers(ctx, id)
			if isStatus(err, http.StatusNotFound) {
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
func (s *session) transitiveUsers(ctx context.Context, groupID string) ([]string, error) {
	var out []string
	guard := paging.New("graph members of group "+groupID, 0)
	next := "/groups/" + url.PathEscape(groupID) + "/transitiveMembers?$top=999&$select=id,userPrincipalName"
	for next != "" {
		var page usersPageJSON
		if err := s.api.get(ctx, next, "", nil, &page); err != nil {
			if isStatus(err, http.StatusNotFound) {
				return nil, err
			}
			return nil, s.denied(err, PermGroupMemberReadAll, "listing the members of group "+groupID)
		}
		for _, m := range page.Value {
			if m.ODataType == "" || m.ODataType == "#microsoft.graph.user" {
				out = append(out, m.ID)
			}
		}
		next = page.NextLink
		if next != "" {
			if err := guard.Next(next); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
