package integration

import (
	"bytes"
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

// ServiceNow: an incident per alert through the Table API. The delivery's idempotency key is the
// incident's correlation_id, and the action searches for it before creating, so a delivery sent
// again (a crash after ServiceNow answered, a replay) finds the incident instead of making a
// second one. Only the alert.raised (or test) delivery creates; alert.updated deliveries find the
// incident by the raised delivery's key and PATCH it (state, close code, a work note), and wait
// while it does not exist yet.

// snFailure is ServiceNow's error body.
type snFailure struct {
	Error *struct {
		Message string `json:"message"`
		Detail  string `json:"detail"`
	} `json:"error"`
	Status string `json:"status"`
}

// snError says what ServiceNow's error body says, or "" when the body is not one.
func snError(body []byte) string {
	var f snFailure
	if json.Unmarshal(body, &f) != nil || f.Error == nil {
		return ""
	}
	msg := strings.TrimSpace(f.Error.Message)
	if d := strings.Join(strings.Fields(f.Error.Detail), " "); d != "" {
		msg += ": " + d
	}
	return clip(msg, 300)
}

// snToken is a cached OAuth access token of an integration at a version (new settings, new token).
type snToken struct {
	token   string
	version int64
	expires time.Time
}

func (d *Sender) cachedToken(id, version int64) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tokens[id]
	if !ok || t.version != version || !d.o.Clock.Now().Before(t.expires) {
		return ""
	}
	return t.token
}

func (d *Sender) dropToken(id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.tokens, id)
}

// snAuth sets the request's credentials: basic, or a bearer token from /oauth_token.do (cached
// until a minute before it expires).
func (d *Sender) snAuth(ctx context.Context, i store.Integration, st Settings, sec Secrets, req *http.Request) *Failure {
	if st.Auth == AuthBasic || st.Auth == "" {
		req.SetBasicAuth(st.Username, sec.Password)
		return nil
	}
	if tok := d.cachedToken(i.ID, i.Version); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
	form := url.Values{"client_id": {st.ClientID}, "client_secret": {sec.ClientSecret}}
	if st.Auth == AuthOAuthPassword {
		form.Set("grant_type", "password")
		form.Set("username", st.Username)
		form.Set("password", sec.Password)
	} else {
		form.Set("grant_type", "client_credentials")
	}
	treq, err := http.NewRequestWithContext(ctx, http.MethodPost, st.URL+"/oauth_token.do", strings.NewReader(form.Encode()))
	if err != nil {
		return &Failure{Msg: "the ServiceNow URL: " + err.Error(), Permanent: true}
	}
	treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	treq.Header.Set("Accept", "application/json")
	resp, body, f := d.post(ctx, "integration:"+strconv.FormatInt(i.ID, 10), treq)
	if f != nil {
		return f
	}
	var ans struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &ans)
	switch {
	case resp.StatusCode == http.StatusOK && ans.AccessToken != "":
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest:
		what := "client_id and client_secret"
		if st.Auth == AuthOAuthPassword {
			what = "client_id, client_secret, username and password"
		}
		return &Failure{Msg: fmt.Sprintf("ServiceNow's OAuth endpoint refused the credentials (%s %s): check the %s against System OAuth > Application Registry and connect again",
			resp.Status, cmpStr(ans.Description, excerpt(body, 100)), what), Permanent: true, Kind: store.IntegrationErrAuth}
	default:
		f := statusFailure(resp, body, d.o.Clock.Now(), "ServiceNow's OAuth endpoint")
		if resp.StatusCode == http.StatusOK {
			f = &Failure{Msg: "ServiceNow's OAuth endpoint answered 200 without an access token: " + excerpt(body, 200)}
		}
		return f
	}
	ttl := time.Duration(ans.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 30 * time.Minute
	}
	d.mu.Lock()
	d.tokens[i.ID] = snToken{token: ans.AccessToken, version: i.Version, expires: d.o.Clock.Now().Add(max(ttl-time.Minute, ttl/2))}
	d.mu.Unlock()
	req.Header.Set("Authorization", "Bearer "+ans.AccessToken)
	return nil
}

// snCall sends one Table API call and classifies ServiceNow's answer; an OAuth token refused with
// 401 is fetched again once. It returns the answer's body when it is ServiceNow's JSON.
func (d *Sender) snCall(ctx context.Context, i store.Integration, st Settings, sec Secrets, method, path string, body any, out *string) ([]byte, *Failure) {
	for try := 0; ; try++ {
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		var req *http.Request
		var err error
		if rd != nil {
			req, err = http.NewRequestWithContext(ctx, method, st.URL+path, rd)
		} else {
			req, err = http.NewRequestWithContext(ctx, method, st.URL+path, nil)
		}
		if err != nil {
			return nil, &Failure{Msg: "the ServiceNow URL: " + err.Error(), Permanent: true}
		}
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if f := d.snAuth(ctx, i, st, sec, req); f != nil {
			return nil, f
		}
		resp, rb, f := d.post(ctx, "integration:"+strconv.FormatInt(i.ID, 10), req)
		if out != nil {
			*out = response(resp, rb)
		}
		if f != nil {
			return nil, f
		}
		c := resp.StatusCode
		if c == http.StatusUnauthorized && st.Auth != AuthBasic && st.Auth != "" && try == 0 {
			d.dropToken(i.ID) // expired or revoked: one fresh token
			continue
		}
		msg := snError(rb)
		switch {
		case c >= 200 && c < 300:
			var env struct {
				Result json.RawMessage `json:"result"`
			}
			if json.Unmarshal(rb, &env) != nil || len(env.Result) == 0 {
				return nil, &Failure{Msg: "ServiceNow answered " + resp.Status + " with something that is not the Table API's JSON (a hibernating instance or a proxy's page?): " + excerpt(rb, 200)}
			}
			return env.Result, nil
		case c == http.StatusUnauthorized:
			what := "username and password"
			if st.Auth == AuthOAuthPassword || st.Auth == AuthClientCredentials {
				what = "OAuth client and user"
			}
			return nil, &Failure{Msg: fmt.Sprintf("ServiceNow refused the credentials (401 %s): check the %s in the integration and connect again", cmpStr(msg, "Unauthorized"), what), Permanent: true, Kind: store.IntegrationErrAuth}
		case c == http.StatusForbidden:
			return nil, &Failure{Msg: fmt.Sprintf("ServiceNow refused the operation (403 %s): give the integration user the itil role, or ACLs to read, create and write incidents", cmpStr(msg, "Forbidden")), Permanent: true}
		case c == http.StatusTooManyRequests:
			f := statusFailure(resp, rb, d.o.Clock.Now(), "ServiceNow")
			f.Kind = store.IntegrationErrRateLimited
			f.Msg = fmt.Sprintf("ServiceNow is rate limiting the integration user (429 %s): retrying after its Retry-After; raise the user's inbound REST API rate limit rule if this persists", cmpStr(msg, "Too Many Requests"))
			return nil, f
		default:
			f := statusFailure(resp, rb, d.o.Clock.Now(), "ServiceNow")
			if msg != "" {
				f.Msg = fmt.Sprintf("ServiceNow answered %s: %s", resp.Status, msg)
			}
			return nil, f
		}
	}
}

// snIncident is the part of an incident the action reads.
type snIncident struct {
	SysID  string `json:"sys_id"`
	Number string `json:"number"`
	State  string `json:"state"`
}

// snFind returns the incident whose correlation_id is key, or nil.
func (d *Sender) snFind(ctx context.Context, i store.Integration, st Settings, sec Secrets, key string, out *string) (*snIncident, *Failure) {
	q := url.Values{"sysparm_query": {"correlation_id=" + key}, "sysparm_fields": {"sys_id,number,state"}, "sysparm_limit": {"1"}}
	b, f := d.snCall(ctx, i, st, sec, http.MethodGet, "/api/now/table/incident?"+q.Encode(), nil, out)
	if f != nil {
		return nil, f
	}
	var res []snIncident
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, &Failure{Msg: "ServiceNow's search answer is not a list of records: " + excerpt(b, 200)}
	}
	if len(res) == 0 {
		return nil, nil
	}
	return &res[0], nil
}

// snUrgency maps a severity to ServiceNow's urgency and impact (1 high .. 3 low).
func snUrgency(sev string) (urgency, impact string) {
	switch sev {
	case "critical":
		return "1", "1"
	case "high":
		return "1", "2"
	case "moderate":
		return "2", "2"
	}
	return "3", "3"
}

// ticketText is the alert as plain text, for a ticket's description.
func ticketText(p Payload) string {
	a := p.Alert
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nRule: %s\nSeverity: %s\nPerson: %s\nEvents: %d", a.Summary, a.RuleName, a.Severity, cmpStr(a.Person, "-"), a.EventCount)
	if !a.FirstEventAt.IsZero() {
		fmt.Fprintf(&b, " (%s to %s)", a.FirstEventAt.Format(time.RFC3339), a.LastEventAt.Format(time.RFC3339))
	}
	if a.ID != "" {
		fmt.Fprintf(&b, "\nTelltale alert: %s", a.ID)
	}
	for i, e := range p.Events {
		if i == 0 {
			b.WriteString("\n\nEvents:")
		}
		fmt.Fprintf(&b, "\n- %s %s %s %s", e.ObservedAt.Format(time.RFC3339), e.Actor, e.Action, e.File)
		if len(e.Destinations) > 0 {
			fmt.Fprintf(&b, " -> %s", strings.Join(e.Destinations, ", "))
		}
	}
	if p.MoreEvents > 0 {
		fmt.Fprintf(&b, "\n...and %d more", p.MoreEvents)
	}
	fmt.Fprintf(&b, "\n\nDelivery %s", p.IdempotencyKey)
	return clip(b.String(), 30000)
}

func ticketTitle(p Payload) string {
	if p.Test {
		return "Telltale test delivery"
	}
	t := fmt.Sprintf("Telltale alert: %s (%s)", p.Alert.RuleName, p.Alert.Severity)
	if p.Alert.Person != "" {
		t += " - " + p.Alert.Person
	}
	return clip(t, 160)
}

// changeText describes an alert.updated delivery's changes, one line each.
func changeText(p Payload) string {
	var b strings.Builder
	for _, c := range p.Changes {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		if c.Field == "note" {
			fmt.Fprintf(&b, "Note by %s: %s", cmpStr(c.Actor, "?"), c.Note)
			continue
		}
		if c.Field == "events" {
			fmt.Fprintf(&b, "More events joined the alert: %s in all", c.To)
			continue
		}
		fmt.Fprintf(&b, "%s changed %s from %q to %q", cmpStr(c.Actor, "?"), c.Field, c.From, c.To)
	}
	return clip("Telltale alert "+p.Alert.ID+" changed:\n"+b.String(), 29000) + "\nDelivery " + p.IdempotencyKey
}

func (d *Sender) servicenow(ctx context.Context, i store.Integration, st Settings, sec Secrets, it store.OutboxItem) Attempt {
	var p Payload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return Attempt{Err: &Failure{Msg: "the delivery's payload: " + err.Error(), Permanent: true}}
	}
	var out Attempt
	if it.Topic == TopicAlertUpdated {
		inc, f := d.snFind(ctx, i, st, sec, p.Ticket, &out.Response)
		if f != nil {
			out.Err = f
			return out
		}
		if inc == nil {
			out.Err = &Failure{Msg: "the alert's incident is not in ServiceNow yet (its alert.raised delivery has not been sent): retrying"}
			return out
		}
		// A work note has no key: its text ends with the delivery's, and the incident's journal is
		// read for it first, so an update sent again does not note twice.
		q := url.Values{"sysparm_fields": {"work_notes"}, "sysparm_display_value": {"true"}}
		jb, f := d.snCall(ctx, i, st, sec, http.MethodGet, "/api/now/table/incident/"+url.PathEscape(inc.SysID)+"?"+q.Encode(), nil, &out.Response)
		if f != nil {
			out.Err = f
			return out
		}
		var journal struct {
			WorkNotes string `json:"work_notes"`
		}
		_ = json.Unmarshal(jb, &journal)
		if strings.Contains(journal.WorkNotes, "Delivery "+p.IdempotencyKey) {
			out.Response = "already noted on " + inc.Number + " (delivery " + p.IdempotencyKey + "): not updated again"
			return out
		}
		fields := map[string]string{"work_notes": changeText(p)}
		switch p.Alert.State {
		case store.AlertResolved:
			fields["state"], fields["close_code"], fields["close_notes"] = "6", "Solution provided", "Resolved in Telltale as "+cmpStr(p.Alert.Resolution, "resolved")
		case store.AlertDismissed:
			fields["state"], fields["close_code"], fields["close_notes"] = "6", "No resolution provided", "Dismissed in Telltale"
		case store.AlertInProgress:
			fields["state"] = "2"
		case store.AlertOpen:
			if inc.State == "6" || inc.State == "7" {
				fields["state"] = "2" // reopened
			}
		}
		b, f := d.snCall(ctx, i, st, sec, http.MethodPatch, "/api/now/table/incident/"+url.PathEscape(inc.SysID), fields, &out.Response)
		if f != nil {
			out.Err = f
			return out
		}
		out.Response = "updated " + inc.Number + ": " + excerpt(b, 800)
		return out
	}
	inc, f := d.snFind(ctx, i, st, sec, p.IdempotencyKey, &out.Response)
	if f != nil {
		out.Err = f
		return out
	}
	if inc != nil {
		out.Response = "already in ServiceNow as " + inc.Number + " (correlation_id " + p.IdempotencyKey + "): not created again"
		return out
	}
	urg, imp := snUrgency(p.Alert.Severity)
	fields := map[string]string{"short_description": ticketTitle(p), "description": ticketText(p), "correlation_id": p.IdempotencyKey,
		"correlation_display": "Telltale", "urgency": urg, "impact": imp, "category": "security", "contact_type": "integration"}
	b, f := d.snCall(ctx, i, st, sec, http.MethodPost, "/api/now/table/incident", fields, &out.Response)
	if f != nil {
		out.Err = f
		return out
	}
	var created snIncident
	_ = json.Unmarshal(b, &created)
	out.Response = "created " + cmpStr(created.Number, "an incident") + ": " + excerpt(b, 800)
	return out
}

// verifyServiceNow reads one incident: the credentials work and the user may read the table.
func (d *Sender) verifyServiceNow(ctx context.Context, i store.Integration, st Settings, sec Secrets) error {
	q := url.Values{"sysparm_fields": {"sys_id"}, "sysparm_limit": {"1"}}
	if _, f := d.snCall(ctx, i, st, sec, http.MethodGet, "/api/now/table/incident?"+q.Encode(), nil, nil); f != nil {
		return f
	}
	return nil
}
