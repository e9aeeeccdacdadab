package hr

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
)

// Inbound limits.
const (
	MaxCSVRows       = 100_000         // rows of one CSV upload
	MaxWebhookBody   = 1 << 20         // bytes of one webhook request
	MaxWebhookPeople = 1000            // changes of one webhook request
	Tolerance        = 5 * time.Minute // how far a webhook's timestamp may be from the clock
)

// Webhook headers.
const (
	SignatureHeader       = integration.SignatureHeader // the generic webhook: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	BambooSignatureHeader = "X-BambooHR-Signature"      // hex HMAC-SHA256 of the body followed by the timestamp
	BambooTimestampHeader = "X-BambooHR-Timestamp"      // unix seconds
)

// ParseCSV reads an HR CSV: an "Email" column, "Departure Date" (YYYY-MM-DD) and "Action" (add, the
// default, or remove). It returns every change or a *scope.Error naming the line of each bad row
// (R2.9: a bad file changes nothing).
func ParseCSV(r io.Reader) ([]Change, error) {
	l, err := scope.ParseUsers(r, scope.Options{Extra: []string{"Departure Date", "Action"}, Max: MaxCSVRows, Noun: "one upload"})
	if err != nil {
		return nil, err
	}
	var bad []scope.RowError
	badRows := 0
	out := make([]Change, 0, len(l.Entries))
	for _, e := range l.Entries {
		c, value, why := csvChange(e)
		if why != "" {
			badRows++
			if len(bad) < scope.MaxRowErrors {
				bad = append(bad, scope.RowError{Row: e.Row, Value: value, Reason: why})
			}
			continue
		}
		out = append(out, c)
	}
	if badRows > 0 {
		msg := fmt.Sprintf("%d rows are not usable; nothing was changed", badRows)
		if badRows == 1 {
			msg = "1 row is not usable; nothing was changed"
		}
		if badRows > len(bad) {
			msg += fmt.Sprintf(" (the first %d are listed)", len(bad))
		}
		return nil, &scope.Error{Message: msg, Rows: bad}
	}
	if len(out) == 0 {
		return nil, &scope.Error{Message: "the file lists nobody: give one row per person under the Email header; nothing was changed"}
	}
	return out, nil
}

func csvChange(e scope.Entry) (Change, string, string) {
	date, action := e.Extra[0], strings.ToLower(e.Extra[1])
	c := Change{Email: strings.ToLower(e.Value)}
	switch action {
	case "", "add":
		c.Departing = true
		if date != "" {
			if _, err := time.Parse(time.DateOnly, date); err != nil {
				return c, date, "departure date: is not a date such as 2026-12-31"
			}
			c.DepartureDate = date
		}
	case "remove":
		c.Explicit = true
	default:
		return c, e.Extra[1], `action: must be "add" (the default when empty) or "remove"`
	}
	return c, "", ""
}

// WebhookChange is one change of the generic webhook's body.
type WebhookChange struct {
	Email         string `json:"email"`
	Action        string `json:"action"`                   // add (default) or remove
	DepartureDate string `json:"departure_date,omitempty"` // YYYY-MM-DD
	EmployeeID    string `json:"employee_id,omitempty"`
}

// WebhookBody is the generic webhook's JSON body.
type WebhookBody struct {
	Changes []WebhookChange `json:"changes"`
}

// Refusal is why a webhook request was refused. Unauthenticated refusals (the signature) are
// answered alike, without saying which check failed; Malformed ones (signed, but the body is
// wrong) say what is wrong.
type Refusal struct {
	Reason    string // unsigned, bad_signature, stale, malformed, unknown_source, disconnected
	Msg       string
	Malformed bool
}

func (r *Refusal) Error() string { return r.Msg }

func (s *Service) refuse(kind, reason, msg string) *Refusal {
	s.refused.Add(1, cmpStr(kind, "unknown"), reason)
	return &Refusal{Reason: reason, Msg: msg, Malformed: reason == "malformed"}
}

// Refused counts a webhook refused before it reached the service (a body over MaxWebhookBody).
func (s *Service) Refused(kind, reason string) { s.refused.Add(1, kind, reason) }

// source returns the webhook's source, or a refusal.
func (s *Service) source(ctx context.Context, id int64, kind string) (store.Integration, integration.Secrets, *Refusal) {
	i, err := s.st.GetIntegration(ctx, id)
	if err != nil || i.Kind != kind {
		return i, integration.Secrets{}, s.refuse(kind, "unknown_source", "no such HR source")
	}
	if i.Status != store.IntegrationConnected {
		return i, integration.Secrets{}, s.refuse(kind, "disconnected", "the HR source is disconnected")
	}
	sec, err := s.o.Integrations.Secrets(i)
	if err != nil || sec.SigningSecret == "" {
		return i, sec, s.refuse(kind, "unsigned", "the HR source has no signing secret")
	}
	return i, sec, nil
}

// Webhook handles the generic signed webhook of source id: the signature and timestamp are
// checked first, then the whole body (every change valid, or nothing is applied).
func (s *Service) Webhook(ctx context.Context, id int64, header string, body []byte) (Result, error) {
	i, sec, r := s.source(ctx, id, integration.KindHRWebhook)
	if r != nil {
		return Result{}, r
	}
	if header == "" {
		return Result{}, s.refuse(i.Kind, "unsigned", "the request has no "+SignatureHeader+" header")
	}
	if !integration.Verify(sec.SigningSecret, header, body, s.o.Clock.Now(), Tolerance) {
		reason := "bad_signature"
		if ts, ok := sigTime(header); ok && absDur(s.o.Clock.Now().Sub(ts)) > Tolerance {
			reason = "stale"
		}
		return Result{}, s.refuse(i.Kind, reason, "the signature does not match")
	}
	changes, err := parseWebhook(body)
	if err != nil {
		return Result{}, s.refuse(i.Kind, "malformed", err.Error())
	}
	return s.applyInbound(ctx, i, changes)
}

func (s *Service) applyInbound(ctx context.Context, i store.Integration, changes []Change) (Result, error) {
	res, err := s.Apply(ctx, i, changes, Actor(i))
	if err != nil {
		s.record(ctx, i, "", Result{}, &Failure{Msg: "applying the changes: " + err.Error()})
		return res, err
	}
	s.record(ctx, i, "", res, nil)
	return res, nil
}

// Upload applies a CSV to an HR source of kind hr_csv; actor is the admin.
func (s *Service) Upload(ctx context.Context, id int64, r io.Reader, actor string) (Result, error) {
	i, err := s.st.GetIntegration(ctx, id)
	if err != nil {
		return Result{}, err
	}
	if i.Kind != integration.KindHRCSV {
		return Result{}, fmt.Errorf("%w: HR source %d is a %s source; upload a CSV to an hr_csv source", integration.ErrInvalid, id, i.Kind)
	}
	if i.Status != store.IntegrationConnected {
		return Result{}, ErrDisconnected
	}
	changes, err := ParseCSV(r)
	if err != nil {
		return Result{}, err
	}
	res, err := s.Apply(ctx, i, changes, actor)
	if err != nil {
		return res, err
	}
	s.record(ctx, i, "", res, nil)
	return res, nil
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func sigTime(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		if k, v, _ := strings.Cut(strings.TrimSpace(part), "="); k == "t" {
			n, err := strconv.ParseInt(v, 10, 64)
			return time.Unix(n, 0), err == nil
		}
	}
	return time.Time{}, false
}

// parseWebhook checks the whole body; the error names the first bad change by its index.
func parseWebhook(body []byte) ([]Change, error) {
	var b WebhookBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("the body is not the JSON {\"changes\": [{\"email\": ..., \"action\": \"add\"|\"remove\", \"departure_date\": \"YYYY-MM-DD\"}]}: %v", err)
	}
	if len(b.Changes) == 0 || len(b.Changes) > MaxWebhookPeople {
		return nil, fmt.Errorf("changes: give 1 to %d changes (%d given)", MaxWebhookPeople, len(b.Changes))
	}
	out := make([]Change, 0, len(b.Changes))
	for k, w := range b.Changes {
		f := "changes[" + strconv.Itoa(k) + "]"
		email := strings.TrimSpace(w.Email)
		if why := scope.CheckEmail(email); why != "" {
			return nil, fmt.Errorf("%s.email: %q %s", f, clip(email, 100), why)
		}
		c := Change{Email: strings.ToLower(email), ExternalID: clip(w.EmployeeID, 200)}
		switch w.Action {
		case "", "add":
			c.Departing = true
			if w.DepartureDate != "" {
				if _, err := time.Parse(time.DateOnly, w.DepartureDate); err != nil {
					return nil, fmt.Errorf("%s.departure_date: %q is not a date such as 2026-12-31", f, clip(w.DepartureDate, 40))
				}
				c.DepartureDate = w.DepartureDate
			}
		case "remove":
			c.Explicit = true
		default:
			return nil, fmt.Errorf("%s.action: %q is not add or remove", f, clip(w.Action, 40))
		}
		out = append(out, c)
	}
	return out, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// BambooSign returns the X-BambooHR-Signature of body sent at timestamp ts: hex HMAC-SHA256,
// keyed with the webhook's private key, of the body followed by the timestamp.
func BambooSign(key, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	m.Write([]byte(ts))
	return hex.EncodeToString(m.Sum(nil))
}

type bambooWebhook struct {
	Employees []struct {
		ID     string         `json:"id"`
		Action string         `json:"action"`
		Fields map[string]any `json:"fields"`
	} `json:"employees"`
}

// fieldOf is a webhook field by its API name or its English name (BambooHR posts the latter by default).
func fieldOf(m map[string]any, names ...string) string {
	for _, n := range names {
		if v := str(m, n); v != "" {
			return v
		}
	}
	return ""
}

// BambooWebhook handles BambooHR's webhook for source id: the signature (with the webhook's
// private key, the source's signing secret) and timestamp first; then each employee, from the
// posted fields (Work Email, Termination Date) or, when they were not posted, from the API.
func (s *Service) BambooWebhook(ctx context.Context, id int64, ts, sig string, body []byte) (Result, error) {
	i, sec, r := s.source(ctx, id, integration.KindBambooHR)
	if r != nil {
		return Result{}, r
	}
	if ts == "" || sig == "" {
		return Result{}, s.refuse(i.Kind, "unsigned", "the request has no "+BambooSignatureHeader+" and "+BambooTimestampHeader+" headers")
	}
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(BambooSign(sec.SigningSecret, ts, body))) {
		return Result{}, s.refuse(i.Kind, "bad_signature", "the signature does not match")
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || absDur(s.o.Clock.Now().Sub(time.Unix(n, 0))) > Tolerance {
		return Result{}, s.refuse(i.Kind, "stale", "the timestamp is not within 5 minutes of the clock")
	}
	var w bambooWebhook
	if err := json.Unmarshal(body, &w); err != nil || w.Employees == nil {
		return Result{}, s.refuse(i.Kind, "malformed", "the body is not BambooHR's webhook JSON (an object with employees)")
	}
	if len(w.Employees) > MaxWebhookPeople {
		return Result{}, s.refuse(i.Kind, "malformed", fmt.Sprintf("employees: at most %d per request", MaxWebhookPeople))
	}
	v, err := s.o.Integrations.Get(ctx, id)
	if err != nil {
		return Result{}, err
	}
	now := s.o.Clock.Now()
	var changes []Change
	for _, e := range w.Employees {
		if e.ID == "" {
			return Result{}, s.refuse(i.Kind, "malformed", "an employee has no id")
		}
		if strings.EqualFold(e.Action, "Deleted") {
			if email, err := s.st.GetHRPerson(ctx, i.ID, e.ID); err == nil {
				changes = append(changes, Change{Email: email, ExternalID: e.ID})
			}
			continue
		}
		email := cleanEmail(fieldOf(e.Fields, "workEmail", "Work Email"))
		date := cleanDate(fieldOf(e.Fields, "terminationDate", "Termination Date"))
		if email == "" { // the webhook does not post the address: ask the API
			m, f := s.bambooEmployee(ctx, i, v.Config, sec, e.ID)
			if f != nil {
				s.record(ctx, i, "", Result{}, f)
				return Result{}, f
			}
			email, date = cleanEmail(str(m, "workEmail")), cleanDate(str(m, "terminationDate"))
		}
		if c, ok := bambooChange(e.ID, email, date, now, integration.DefaultWindowDays); ok {
			changes = append(changes, c)
		}
	}
	return s.applyInbound(ctx, i, changes)
}

// Refusals kept per source, and at most how many are recorded per source and minute (a flood of
// refused requests beyond it is only counted in telltale_hr_webhook_refused_total).
const (
	KeepRefusals      = 20
	refusalsPerMinute = 20
)

type refusalWindow struct {
	start time.Time
	n     int
}

// NoteRefusal records a refused webhook delivery of source id (when, why, from where; never the
// body) for its page, keeping the newest KeepRefusals. A request naming no HR source is not
// recorded (there is no page to show it on), nor more than refusalsPerMinute per source and minute.
func (s *Service) NoteRefusal(ctx context.Context, id int64, rf *Refusal, remote string) error {
	if rf == nil || rf.Reason == "unknown_source" || id <= 0 {
		return nil
	}
	now := s.o.Clock.Now()
	s.mu.Lock()
	w := s.noted[id]
	if w == nil || now.Sub(w.start) >= time.Minute || now.Before(w.start) {
		if len(s.noted) > 10000 {
			clear(s.noted)
		}
		w = &refusalWindow{start: now}
		s.noted[id] = w
	}
	w.n++
	over := w.n > refusalsPerMinute
	s.mu.Unlock()
	if over {
		return nil
	}
	detail := rf.Msg
	if r := []rune(detail); len(r) > 200 {
		detail = string(r[:200]) + "…"
	}
	return s.st.AppendHRRefusal(ctx, store.HRRefusal{IntegrationID: id, At: now, Reason: rf.Reason, Detail: detail, RemoteAddr: remote}, KeepRefusals)
}

// IsRefusal reports whether err is a webhook refusal, and it.
func IsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}
