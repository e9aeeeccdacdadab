package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// Okta: add the alert's person to a group (or remove them), e.g. a high-risk group with fewer
// permissions. The person is looked up by login (GET /api/v1/users/{login}); membership is set
// with PUT (or DELETE) /api/v1/groups/{groupId}/users/{userId}, which Okta treats as idempotent,
// so a delivery sent twice leaves one membership. A rate limited call (429, E0000047) waits until
// X-Rate-Limit-Reset.

// oktaError says what Okta's error body says ("E0000011 Invalid token provided"), or "".
func oktaError(body []byte) string {
	var e struct {
		ErrorCode    string `json:"errorCode"`
		ErrorSummary string `json:"errorSummary"`
		ErrorCauses  []struct {
			ErrorSummary string `json:"errorSummary"`
		} `json:"errorCauses"`
	}
	if json.Unmarshal(body, &e) != nil || e.ErrorCode == "" {
		return ""
	}
	msg := e.ErrorCode + " " + e.ErrorSummary
	for _, c := range e.ErrorCauses {
		msg += "; " + c.ErrorSummary
	}
	return clip(msg, 300)
}

// oktaReset is how long to wait by Okta's X-Rate-Limit-Reset (unix seconds of the window's end).
func oktaReset(h http.Header, now time.Time) (time.Duration, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-Rate-Limit-Reset")), 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return max(time.Unix(v, 0).Sub(now)+time.Second, time.Second), true
}

// oktaCall sends one management API call with the SSWS token and classifies Okta's answer; what
// names the object for a 404.
func (d *Sender) oktaCall(ctx context.Context, i store.Integration, st Settings, sec Secrets, method, path, what string, out *string) ([]byte, *Failure) {
	req, err := http.NewRequestWithContext(ctx, method, st.URL+path, nil)
	if err != nil {
		return nil, &Failure{Msg: "the Okta URL: " + err.Error(), Permanent: true}
	}
	req.Header.Set("Authorization", "SSWS "+sec.Token)
	req.Header.Set("Accept", "application/json")
	resp, rb, f := d.post(ctx, "integration:"+strconv.FormatInt(i.ID, 10), req)
	if out != nil {
		*out = response(resp, rb)
	}
	if f != nil {
		if f.RetryAfter > 0 {
			f.Msg = "waiting for Okta's rate limit to reset"
		}
		return nil, f
	}
	msg := oktaError(rb)
	now := d.o.Clock.Now()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		if c != http.StatusNoContent && !json.Valid(rb) {
			return nil, &Failure{Msg: "Okta answered " + resp.Status + " with something that is not JSON (a proxy's page?): " + excerpt(rb, 200)}
		}
		return rb, nil
	case c == http.StatusUnauthorized:
		return nil, &Failure{Msg: fmt.Sprintf("Okta refused the API token (401 %s): create a token in the Admin Console (Security > API > Tokens), enter it and connect again",
			cmpStr(msg, "Unauthorized")), Permanent: true, Kind: store.IntegrationErrAuth}
	case c == http.StatusForbidden:
		return nil, &Failure{Msg: fmt.Sprintf("Okta refused the operation (403 %s): the token's admin needs a role that manages group %s's membership (Group Membership Admin or Super Admin)",
			cmpStr(msg, "Forbidden"), st.GroupID), Permanent: true}
	case c == http.StatusNotFound:
		return nil, &Failure{Msg: fmt.Sprintf("Okta has no %s (404 %s)", what, cmpStr(msg, "Not Found")), Permanent: true}
	case c == http.StatusTooManyRequests:
		f := &Failure{Msg: fmt.Sprintf("Okta is rate limiting this token (429 %s): retrying when X-Rate-Limit-Reset says the limit resets", cmpStr(msg, "Too Many Requests")),
			Kind: store.IntegrationErrRateLimited}
		if wait, ok := oktaReset(resp.Header, now); ok {
			f.RetryAfter = wait
		}
		return nil, f
	default:
		f := statusFailure(resp, rb, now, "Okta")
		if msg != "" {
			f.Msg = "Okta answered " + resp.Status + ": " + msg
		}
		return nil, f
	}
}

func (d *Sender) okta(ctx context.Context, i store.Integration, st Settings, sec Secrets, it store.OutboxItem) Attempt {
	var p Payload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return Attempt{Err: &Failure{Msg: "the delivery's payload: " + err.Error(), Permanent: true}}
	}
	var out Attempt
	group := "group " + st.GroupID + ": check group_id"
	if p.Test {
		b, f := d.oktaCall(ctx, i, st, sec, http.MethodGet, "/api/v1/groups/"+url.PathEscape(st.GroupID), group, &out.Response)
		if f != nil {
			out.Err = f
			return out
		}
		out.Response = "test: the group is there, nobody added: " + excerpt(b, 600)
		return out
	}
	login := strings.TrimSpace(p.Alert.Person)
	if login == "" {
		out.Err = &Failure{Msg: "the alert names no person to " + st.Operation + " in the Okta group (its rule groups by something other than the user)", Permanent: true}
		return out
	}
	b, f := d.oktaCall(ctx, i, st, sec, http.MethodGet, "/api/v1/users/"+url.PathEscape(login), "user with login "+login+": the person's Okta login must be their email", &out.Response)
	if f != nil {
		out.Err = f
		return out
	}
	var u struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &u) != nil || u.ID == "" {
		out.Err = &Failure{Msg: "Okta's user answer has no id: " + excerpt(b, 200)}
		return out
	}
	method, verb := http.MethodPut, "added"
	if st.Operation == OktaRemove {
		method, verb = http.MethodDelete, "removed"
	}
	if _, f := d.oktaCall(ctx, i, st, sec, method, "/api/v1/groups/"+url.PathEscape(st.GroupID)+"/users/"+url.PathEscape(u.ID), group, &out.Response); f != nil {
		out.Err = f
		return out
	}
	out.Response = fmt.Sprintf("%s %s (Okta user %s) %s group %s", verb, login, u.ID, map[string]string{"added": "to", "removed": "from"}[verb], st.GroupID)
	return out
}

// verifyOkta reads the group: the token works and the group exists.
func (d *Sender) verifyOkta(ctx context.Context, i store.Integration, st Settings, sec Secrets) error {
	if _, f := d.oktaCall(ctx, i, st, sec, http.MethodGet, "/api/v1/groups/"+url.PathEscape(st.GroupID), "group "+st.GroupID+": check group_id", nil); f != nil {
		return f
	}
	return nil
}
