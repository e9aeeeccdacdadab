package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// Jira Cloud: an issue per alert (REST API v3, the alert in Atlassian Document Format), a comment
// per later change. Jira has no idempotency key for creation, so the delivery's key is put on the
// issue as a label (and in the issue property "telltale") and searched with JQL before creating:
// a delivery sent again finds its issue. Only alert.raised (or test) deliveries create;
// alert.updated deliveries comment on the issue found by the raised delivery's label.

// JiraLabel is the label carrying an idempotency key: labels allow no spaces, so the key's
// characters other than letters, digits, '.', '_' and '-' become '-'.
func JiraLabel(key string) string {
	var b strings.Builder
	b.WriteString("telltale-")
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return clip(b.String(), 255)
}

// jiraError says what Jira's error body ({"errorMessages":[...],"errors":{field: message}}) says,
// or "" when the body is not one.
func jiraError(body []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || (e.ErrorMessages == nil && e.Errors == nil) {
		return ""
	}
	parts := append([]string(nil), e.ErrorMessages...)
	keys := make([]string, 0, len(e.Errors))
	for k := range e.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+": "+e.Errors[k])
	}
	return clip(strings.Join(parts, "; "), 300)
}

// ADF builders (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).
func adfText(s string, marks ...string) map[string]any {
	n := map[string]any{"type": "text", "text": s}
	if len(marks) > 0 {
		var ms []map[string]any
		for _, m := range marks {
			ms = append(ms, map[string]any{"type": m})
		}
		n["marks"] = ms
	}
	return n
}

func adfPara(nodes ...map[string]any) map[string]any {
	var content []map[string]any
	for _, n := range nodes {
		if t, _ := n["text"].(string); n["type"] == "text" && t == "" {
			continue // ADF refuses empty text nodes
		}
		content = append(content, n)
	}
	p := map[string]any{"type": "paragraph"}
	if len(content) > 0 {
		p["content"] = content
	}
	return p
}

func adfList(items [][]map[string]any) map[string]any {
	var li []map[string]any
	for _, it := range items {
		li = append(li, map[string]any{"type": "listItem", "content": []map[string]any{adfPara(it...)}})
	}
	return map[string]any{"type": "bulletList", "content": li}
}

// ADF is the alert as an Atlassian Document Format document: the summary, its facts, its events
// and the delivery key.
func ADF(p Payload) map[string]any {
	a := p.Alert
	field := func(name, v string) []map[string]any {
		return []map[string]any{adfText(name+": ", "strong"), adfText(cmpStr(v, "-"))}
	}
	facts := [][]map[string]any{field("Rule", a.RuleName), field("Severity", a.Severity), field("Person", a.Person),
		field("Events", strconv.FormatInt(a.EventCount, 10))}
	if !a.FirstEventAt.IsZero() {
		facts = append(facts, field("Observed", a.FirstEventAt.Format(time.RFC3339)+" to "+a.LastEventAt.Format(time.RFC3339)))
	}
	if a.ID != "" {
		facts = append(facts, field("Telltale alert", a.ID))
	}
	content := []map[string]any{adfPara(adfText(cmpStr(a.Summary, ticketTitle(p)))), adfList(facts)}
	if len(p.Events) > 0 {
		content = append(content, map[string]any{"type": "heading", "attrs": map[string]any{"level": 3}, "content": []map[string]any{adfText("Events")}})
		var evs [][]map[string]any
		for _, e := range p.Events {
			line := []map[string]any{adfText(e.ObservedAt.Format(time.RFC3339) + " " + cmpStr(e.Actor, "?") + " " + e.Action + " "), adfText(cmpStr(e.File, "?"), "code")}
			if len(e.Destinations) > 0 {
				line = append(line, adfText(" → "+strings.Join(e.Destinations, ", ")))
			}
			evs = append(evs, line)
		}
		if p.MoreEvents > 0 {
			evs = append(evs, []map[string]any{adfText(fmt.Sprintf("…and %d more", p.MoreEvents))})
		}
		content = append(content, adfList(evs))
	}
	content = append(content, adfPara(adfText("Delivery "), adfText(p.IdempotencyKey, "code")))
	return map[string]any{"type": "doc", "version": 1, "content": content}
}

// changeADF is an alert.updated delivery's comment.
func changeADF(p Payload) map[string]any {
	var items [][]map[string]any
	for _, c := range p.Changes {
		if c.Field == "note" {
			items = append(items, []map[string]any{adfText("Note by "+cmpStr(c.Actor, "?")+": ", "strong"), adfText(c.Note)})
			continue
		}
		if c.Field == "events" {
			items = append(items, []map[string]any{adfText("More events joined the alert: ", "strong"), adfText(c.To + " in all")})
			continue
		}
		items = append(items, []map[string]any{adfText(c.Field, "strong"), adfText(fmt.Sprintf(" changed from %q to %q by %s", c.From, c.To, cmpStr(c.Actor, "?")))})
	}
	content := []map[string]any{adfPara(adfText("Telltale alert " + p.Alert.ID + " changed (now " + p.Alert.State + ")"))}
	if len(items) > 0 {
		content = append(content, adfList(items))
	}
	content = append(content, adfPara(adfText("Delivery "), adfText(p.IdempotencyKey, "code")))
	return map[string]any{"type": "doc", "version": 1, "content": content}
}

// jiraCall sends one REST call with the account's email and API token and classifies Jira's answer.
func (d *Sender) jiraCall(ctx context.Context, i store.Integration, st Settings, sec Secrets, method, path string, body any, out *string) ([]byte, *Failure) {
	var req *http.Request
	var err error
	if body != nil {
		b, _ := json.Marshal(body)
		req, err = http.NewRequestWithContext(ctx, method, st.URL+path, bytes.NewReader(b))
	} else {
		req, err = http.NewRequestWithContext(ctx, method, st.URL+path, nil)
	}
	if err != nil {
		return nil, &Failure{Msg: "the Jira URL: " + err.Error(), Permanent: true}
	}
	req.SetBasicAuth(st.Email, sec.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, rb, f := d.post(ctx, "integration:"+strconv.FormatInt(i.ID, 10), req)
	if out != nil {
		*out = response(resp, rb)
	}
	if f != nil {
		return nil, f
	}
	msg := jiraError(rb)
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		if !json.Valid(rb) {
			return nil, &Failure{Msg: "Jira answered " + resp.Status + " with something that is not JSON (a proxy's page?): " + excerpt(rb, 200)}
		}
		return rb, nil
	case c == http.StatusUnauthorized:
		return nil, &Failure{Msg: fmt.Sprintf("Jira refused the email and API token (401 %s): create a new API token for %s at id.atlassian.com > Security > API tokens, enter it and connect again",
			cmpStr(msg, "Unauthorized"), st.Email), Permanent: true, Kind: store.IntegrationErrAuth}
	case c == http.StatusForbidden:
		return nil, &Failure{Msg: fmt.Sprintf("Jira refused the operation (403 %s): give %s the Browse projects, Create issues and Add comments permissions in project %s",
			cmpStr(msg, "Forbidden"), st.Email, st.Project), Permanent: true}
	case c == http.StatusTooManyRequests:
		f := statusFailure(resp, rb, d.o.Clock.Now(), "Jira")
		f.Kind = store.IntegrationErrRateLimited
		f.Msg = fmt.Sprintf("Jira is rate limiting this account (429 %s): retrying after its Retry-After", cmpStr(msg, "Too Many Requests"))
		return nil, f
	case c == http.StatusBadRequest:
		return nil, &Failure{Msg: fmt.Sprintf("Jira refused the request (400 %s): check the project key %s and the issue type %q (it must exist in the project)",
			cmpStr(msg, excerpt(rb, 200)), st.Project, st.IssueType), Permanent: true}
	default:
		f := statusFailure(resp, rb, d.o.Clock.Now(), "Jira")
		if msg != "" {
			f.Msg = "Jira answered " + resp.Status + ": " + msg
		}
		return nil, f
	}
}

// jiraCreatingPrefix starts a delivery's answer while its Jira create has an unknown outcome.
const jiraCreatingPrefix = "creating in Jira at "

// jiraCreating reads the time of a create with an unknown outcome from a delivery's answer.
func jiraCreating(resp string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(resp, jiraCreatingPrefix)
	if !ok {
		return time.Time{}, false
	}
	ts, _, _ := strings.Cut(rest, ";")
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(ts))
	return t, err == nil
}

type jiraIssue struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// jiraFind returns the project's issue labelled with key's label, or nil.
func (d *Sender) jiraFind(ctx context.Context, i store.Integration, st Settings, sec Secrets, key string, out *string) (*jiraIssue, *Failure) {
	req := map[string]any{"jql": fmt.Sprintf("project = %q AND labels = %q", st.Project, JiraLabel(key)), "fields": []string{"summary"}, "maxResults": 1}
	b, f := d.jiraCall(ctx, i, st, sec, http.MethodPost, "/rest/api/3/search/jql", req, out)
	if f != nil {
		return nil, f
	}
	var res struct {
		Issues *[]jiraIssue `json:"issues"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Issues == nil {
		return nil, &Failure{Msg: "Jira's search answer has no issues list: " + excerpt(b, 200)}
	}
	if len(*res.Issues) == 0 {
		return nil, nil
	}
	return &(*res.Issues)[0], nil
}

func (d *Sender) jira(ctx context.Context, i store.Integration, st Settings, sec Secrets, it store.OutboxItem) Attempt {
	var p Payload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return Attempt{Err: &Failure{Msg: "the delivery's payload: " + err.Error(), Permanent: true}}
	}
	var out Attempt
	if it.Topic == TopicAlertUpdated {
		iss, f := d.jiraFind(ctx, i, st, sec, p.Ticket, &out.Response)
		if f != nil {
			out.Err = f
			return out
		}
		if iss == nil {
			out.Err = &Failure{Msg: "the alert's Jira issue does not exist yet (its alert.raised delivery has not been sent): retrying"}
			return out
		}
		// A comment has no idempotency key either: its text carries the delivery's key, and the
		// issue's latest comments (read consistently, unlike search) are checked for it first.
		cb, f := d.jiraCall(ctx, i, st, sec, http.MethodGet, "/rest/api/3/issue/"+url.PathEscape(iss.Key)+"/comment?orderBy=-created&maxResults=100", nil, &out.Response)
		if f != nil {
			out.Err = f
			return out
		}
		if bytes.Contains(cb, []byte(strconv.Quote(p.IdempotencyKey))) {
			out.Response = "already commented on " + iss.Key + " (delivery " + p.IdempotencyKey + "): not commented again"
			return out
		}
		b, f := d.jiraCall(ctx, i, st, sec, http.MethodPost, "/rest/api/3/issue/"+url.PathEscape(iss.Key)+"/comment", map[string]any{"body": changeADF(p)}, &out.Response)
		if f != nil {
			out.Err = f
			return out
		}
		out.Response = "commented on " + iss.Key + ": " + excerpt(b, 600)
		return out
	}
	iss, f := d.jiraFind(ctx, i, st, sec, p.IdempotencyKey, &out.Response)
	if f != nil {
		out.Err = f
		return out
	}
	if iss != nil {
		out.Response = "already in Jira as " + iss.Key + " (label " + JiraLabel(p.IdempotencyKey) + "): not created again"
		return out
	}
	// Jira's search is eventually consistent: an issue created moments ago may not be found yet. A
	// create whose outcome is unknown (the process died after sending it, or its answer was lost)
	// left its time in the delivery's answer; until JiraIndexWait has passed since, wait rather than
	// create a second issue.
	now := d.o.Clock.Now()
	if at, ok := jiraCreating(it.Response); ok && now.Sub(at) < d.o.JiraIndexWait {
		out.Response = it.Response
		out.Err = &Failure{Msg: fmt.Sprintf("a create of this issue at %s has an unknown outcome and Jira's search does not show it yet (its index lags): waiting %s before creating it again",
			at.UTC().Format(time.RFC3339), d.o.JiraIndexWait), RetryAfter: max(d.o.JiraIndexWait-now.Sub(at), time.Second)}
		return out
	}
	marker := jiraCreatingPrefix + now.UTC().Format(time.RFC3339Nano)
	if err := d.s.o.Store.NoteOutbox(ctx, it.ID, it.LeaseOwner, marker); err != nil {
		out.Err = &Failure{Msg: "noting the create before sending it: " + err.Error()}
		return out
	}
	body := map[string]any{
		"fields": map[string]any{
			"project":     map[string]string{"key": st.Project},
			"issuetype":   map[string]string{"name": st.IssueType},
			"summary":     clip(ticketTitle(p), 250),
			"description": ADF(p),
			"labels":      []string{"telltale", JiraLabel(p.IdempotencyKey)},
		},
		"properties": []map[string]any{{"key": "telltale", "value": map[string]string{"idempotency_key": p.IdempotencyKey, "alert_id": p.Alert.ID}}},
	}
	b, f := d.jiraCall(ctx, i, st, sec, http.MethodPost, "/rest/api/3/issue", body, &out.Response)
	if f != nil {
		if !f.Permanent && f.Kind != store.IntegrationErrRateLimited {
			out.Response = marker + "; " + out.Response // the outcome is unknown: keep the time for the next attempt
		}
		out.Err = f
		return out
	}
	var created jiraIssue
	_ = json.Unmarshal(b, &created)
	out.Response = "created " + cmpStr(created.Key, "an issue") + ": " + excerpt(b, 600)
	return out
}

// verifyJira checks the token (GET /myself) and that the project is visible.
func (d *Sender) verifyJira(ctx context.Context, i store.Integration, st Settings, sec Secrets) error {
	if _, f := d.jiraCall(ctx, i, st, sec, http.MethodGet, "/rest/api/3/myself", nil, nil); f != nil {
		return f
	}
	if _, f := d.jiraCall(ctx, i, st, sec, http.MethodGet, "/rest/api/3/project/"+url.PathEscape(st.Project), nil, nil); f != nil {
		if strings.Contains(f.Msg, "404") {
			return &Failure{Msg: fmt.Sprintf("Jira has no project %s that %s can see: check the project key", st.Project, st.Email), Permanent: true}
		}
		return f
	}
	return nil
}
