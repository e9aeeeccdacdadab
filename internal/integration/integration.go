// Package integration delivers what Telltale raises to automated integrations (R7): a generic
// signed webhook and Slack. An integration holds its settings and its secrets (sealed by
// internal/secret, never returned); a flow ties the trigger "alert raised", with a filter, to
// integrations.
//
// Deliveries are rows of the store's outbox. The alert evaluator calls Service.Raised inside the
// transaction that creates the alerts (alert.Options.Raised), so a delivery commits with the alert
// that caused it or not at all; its idempotency key (alert id, integration id and event kind) makes
// a second enqueue a no-op. The Sender, a unit of the work runner, claims due deliveries under a
// lease, sends each at least once with its key, retries with backoff and jitter honouring
// Retry-After, and after MaxAttempts (or at once for an answer that retrying cannot fix) marks it
// failed for good with the destination's answer kept. An admin replays one. See docs/INTEGRATIONS.md.
package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/store"
)

// Kinds of integration.
const (
	KindWebhook    = "webhook"
	KindSlack      = "slack"
	KindServiceNow = "servicenow"
	KindJira       = "jira"
	KindOkta       = "okta"
)

// ServiceNow authentication modes.
const (
	AuthBasic             = "basic"                    // user name and password on every call
	AuthOAuthPassword     = "oauth_password"           // OAuth password grant: client, user and password
	AuthClientCredentials = "oauth_client_credentials" // OAuth client credentials grant: client only
)

// Okta operations.
const (
	OktaAdd    = "add"    // add the alert's person to the group
	OktaRemove = "remove" // remove the alert's person from the group
)

// Slack modes.
const (
	SlackBot     = "bot"     // chat.postMessage with a bot token
	SlackWebhook = "webhook" // an incoming webhook URL
)

// Event kinds (the outbox topic).
const (
	TopicAlertRaised  = "alert.raised"
	TopicAlertUpdated = "alert.updated" // ServiceNow and Jira: the ticket follows the alert's changes
	TopicTest         = "test"
)

// DefaultSlackAPI is Slack's Web API base.
const DefaultSlackAPI = "https://slack.com/api"

var (
	jiraProjectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,9}$`)
	oktaID         = regexp.MustCompile(`^00[a-zA-Z0-9]{18}$`)
)

// ErrInvalid is wrapped by errors about what an admin entered.
var ErrInvalid = errors.New("invalid")

// Settings are an integration's non-secret settings.
type Settings struct {
	// URL is where to send: the webhook's URL, or the base URL of a ServiceNow instance
	// (https://acme.service-now.com), a Jira Cloud site (https://acme.atlassian.net) or an Okta org
	// (https://acme.okta.com).
	URL     string `json:"url,omitempty"`
	Mode    string `json:"mode,omitempty"`     // slack: bot or webhook
	Channel string `json:"channel,omitempty"`  // slack bot: the channel id (C0123ABCDEF) or name
	APIBase string `json:"api_base,omitempty"` // slack bot: the Web API base (default DefaultSlackAPI)

	Auth     string `json:"auth,omitempty"`      // servicenow: basic, oauth_password or oauth_client_credentials
	Username string `json:"username,omitempty"`  // servicenow: the integration user (basic, oauth_password)
	ClientID string `json:"client_id,omitempty"` // servicenow OAuth: the application registry's client id

	Email     string `json:"email,omitempty"`      // jira: the Atlassian account's email (API token auth)
	Project   string `json:"project,omitempty"`    // jira: the project key, e.g. SEC
	IssueType string `json:"issue_type,omitempty"` // jira: the issue type's name; default Task

	GroupID   string `json:"group_id,omitempty"`  // okta: the group's id (00g...)
	Operation string `json:"operation,omitempty"` // okta: add (default) or remove

	Company    string `json:"company,omitempty"`     // bamboohr: the company's subdomain
	WindowDays int    `json:"window_days,omitempty"` // workday: days back the report's termination dates reach
}

// Secrets are an integration's secrets, sealed at rest and never returned.
type Secrets struct {
	SigningSecret string `json:"signing_secret,omitempty"` // webhook: the HMAC key
	Token         string `json:"token,omitempty"`          // slack bot: xoxb-...; jira: the API token; okta: the API (SSWS) token
	WebhookURL    string `json:"webhook_url,omitempty"`    // slack webhook: the incoming webhook URL (it is a secret)
	Password      string `json:"password,omitempty"`       // servicenow: the integration user's password
	ClientSecret  string `json:"client_secret,omitempty"`  // servicenow OAuth: the client secret
}

// merge returns s with the fields set in given replacing its own: an empty field keeps the stored
// value (a form that changes a password need not repeat the client secret).
func (s Secrets) merge(given Secrets) Secrets {
	for _, f := range []struct{ dst, src *string }{{&s.SigningSecret, &given.SigningSecret}, {&s.Token, &given.Token},
		{&s.WebhookURL, &given.WebhookURL}, {&s.Password, &given.Password}, {&s.ClientSecret, &given.ClientSecret}} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	return s
}

// names lists which secrets are set, for display.
func (s Secrets) names() []string {
	var out []string
	if s.SigningSecret != "" {
		out = append(out, "signing_secret")
	}
	if s.Token != "" {
		out = append(out, "token")
	}
	if s.WebhookURL != "" {
		out = append(out, "webhook_url")
	}
	if s.Password != "" {
		out = append(out, "password")
	}
	if s.ClientSecret != "" {
		out = append(out, "client_secret")
	}
	return out
}

// Input is what an admin enters to create or change an integration. A nil Secrets keeps the
// stored ones.
type Input struct {
	Kind     string
	Name     string
	Settings Settings
	Secrets  *Secrets
}

// View is an integration as shown: its secrets only by name.
type View struct {
	store.Integration
	Config     Settings
	SecretsSet []string
}

// Options configure a Service.
type Options struct {
	Store   store.Store
	Keyring *secret.Keyring
	Clock   clock.Clock  // default clock.Real
	Log     *slog.Logger // default discard
	// Guard checks every admin-typed URL, when saved and on every dial; nil: a Guard refusing
	// loopback and private addresses.
	Guard *httpx.Guard
	// Kick wakes the sender (a test delivery, a replay); may be nil.
	Kick func()
}

// Service manages integrations and flows and turns raised alerts into deliveries.
type Service struct {
	o Options
}

// New returns a Service.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Guard == nil {
		o.Guard = &httpx.Guard{}
	}
	return &Service{o: o}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func (s *Service) checkURL(ctx context.Context, what, raw string) error {
	if raw == "" {
		return invalid("%s is required", what)
	}
	if err := s.o.Guard.CheckURLContext(ctx, raw); err != nil {
		return invalid("%s: %v", what, err)
	}
	return nil
}

// validate checks an integration's settings and secrets.
func (s *Service) validate(ctx context.Context, kind string, st *Settings, sec Secrets) error {
	switch kind {
	case KindWebhook:
		if err := s.checkURL(ctx, "url", st.URL); err != nil {
			return err
		}
		if len(sec.SigningSecret) < 16 {
			return invalid("signing_secret must be at least 16 characters")
		}
		*st = Settings{URL: st.URL}
	case KindSlack:
		*st = Settings{Mode: st.Mode, Channel: st.Channel, APIBase: st.APIBase}
		switch st.Mode {
		case SlackBot:
			if st.APIBase == "" {
				st.APIBase = DefaultSlackAPI
			}
			st.APIBase = strings.TrimRight(st.APIBase, "/")
			if err := s.checkURL(ctx, "api_base", st.APIBase); err != nil {
				return err
			}
			if st.Channel == "" {
				return invalid("channel is required: the channel id (e.g. C0123ABCDEF) the bot posts to")
			}
			if !strings.HasPrefix(sec.Token, "xoxb-") {
				return invalid("token must be a bot token (xoxb-...)")
			}
		case SlackWebhook:
			st.APIBase, st.Channel = "", ""
			if err := s.checkURL(ctx, "webhook_url", sec.WebhookURL); err != nil {
				return err
			}
		default:
			return invalid("mode must be %q or %q", SlackBot, SlackWebhook)
		}
	case KindServiceNow, KindJira, KindOkta:
		return s.validateITSM(ctx, kind, st, sec)
	case KindWorkday, KindBambooHR, KindHRCSV, KindHRWebhook:
		return s.validateHR(ctx, kind, st, sec)
	default:
		return invalid("kind must be one of %s, %s, %s, %s, %s, or an HR source: %s", KindWebhook, KindSlack, KindServiceNow, KindJira, KindOkta,
			strings.Join(HRKinds(), ", "))
	}
	return nil
}

// validateITSM checks a ServiceNow, Jira or Okta integration and clears the settings of other kinds.
func (s *Service) validateITSM(ctx context.Context, kind string, st *Settings, sec Secrets) error {
	st.URL = strings.TrimRight(strings.TrimSpace(st.URL), "/")
	what := map[string]string{KindServiceNow: "url (the instance, e.g. https://acme.service-now.com)",
		KindJira: "url (the Jira Cloud site, e.g. https://acme.atlassian.net)", KindOkta: "url (the Okta org, e.g. https://acme.okta.com)"}[kind]
	if err := s.checkURL(ctx, what, st.URL); err != nil {
		return err
	}
	if u, err := url.Parse(st.URL); err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return invalid("%s: give the base URL only, without a path or query", what)
	}
	keep := Settings{URL: st.URL}
	switch kind {
	case KindServiceNow:
		keep.Auth = cmpStr(st.Auth, AuthBasic)
		keep.Username, keep.ClientID = strings.TrimSpace(st.Username), strings.TrimSpace(st.ClientID)
		switch keep.Auth {
		case AuthBasic:
			keep.ClientID = ""
			if keep.Username == "" || sec.Password == "" {
				return invalid("basic auth needs username and password (a ServiceNow user with the itil role)")
			}
		case AuthOAuthPassword:
			if keep.Username == "" || sec.Password == "" || keep.ClientID == "" || sec.ClientSecret == "" {
				return invalid("auth oauth_password needs client_id and client_secret (System OAuth > Application Registry) and the user's username and password")
			}
		case AuthClientCredentials:
			keep.Username = ""
			if keep.ClientID == "" || sec.ClientSecret == "" {
				return invalid("auth oauth_client_credentials needs client_id and client_secret (System OAuth > Application Registry)")
			}
		default:
			return invalid("auth must be %q, %q or %q", AuthBasic, AuthOAuthPassword, AuthClientCredentials)
		}
	case KindJira:
		keep.Email, keep.Project, keep.IssueType = strings.TrimSpace(st.Email), strings.ToUpper(strings.TrimSpace(st.Project)), strings.TrimSpace(st.IssueType)
		keep.IssueType = cmpStr(keep.IssueType, "Task")
		if !strings.Contains(keep.Email, "@") {
			return invalid("email is required: the Atlassian account whose API token is given")
		}
		if !jiraProjectKey.MatchString(keep.Project) {
			return invalid("project must be a Jira project key: capital letters and digits starting with a letter, e.g. SEC")
		}
		if sec.Token == "" {
			return invalid("token is required: an API token of the account (id.atlassian.com > Security > API tokens)")
		}
	case KindOkta:
		keep.GroupID, keep.Operation = strings.TrimSpace(st.GroupID), cmpStr(st.Operation, OktaAdd)
		if !oktaID.MatchString(keep.GroupID) {
			return invalid("group_id must be the Okta group's id (20 letters and digits starting 00g, shown in the group's URL in the Admin Console)")
		}
		if keep.Operation != OktaAdd && keep.Operation != OktaRemove {
			return invalid("operation must be %q or %q", OktaAdd, OktaRemove)
		}
		if sec.Token == "" || strings.HasPrefix(sec.Token, "SSWS ") {
			return invalid("token is required: an Okta API token (Security > API > Tokens), without the SSWS prefix")
		}
	}
	*st = keep
	return nil
}

func (s *Service) view(i store.Integration) (View, error) {
	v := View{Integration: i}
	v.Secrets = nil
	if len(i.Settings) > 0 {
		if err := json.Unmarshal(i.Settings, &v.Config); err != nil {
			return v, fmt.Errorf("integration %d: settings: %w", i.ID, err)
		}
	}
	sec, err := s.secrets(i)
	if err != nil {
		return v, err
	}
	v.SecretsSet = sec.names()
	return v, nil
}

func (s *Service) secrets(i store.Integration) (Secrets, error) {
	var sec Secrets
	if len(i.Secrets) == 0 {
		return sec, nil
	}
	b, err := s.o.Keyring.Open(i.Secrets)
	if err != nil {
		return sec, fmt.Errorf("integration %d: opening its secrets: %w", i.ID, err)
	}
	return sec, json.Unmarshal(b, &sec)
}

func (s *Service) seal(sec Secrets) ([]byte, error) {
	b, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	return s.o.Keyring.Seal(b)
}

// Conditions of an integration (View.Condition): what its last delivery or verification found.
const (
	ConditionOK                 = "ok"
	ConditionCredentialsRefused = "credentials_refused"
	ConditionRateLimited        = "rate_limited"
	ConditionFailing            = "failing"
)

// Condition is the integration's condition from its last error's kind.
func Condition(i store.Integration) string {
	switch {
	case i.LastError == "":
		return ConditionOK
	case i.ErrorKind == store.IntegrationErrAuth:
		return ConditionCredentialsRefused
	case i.ErrorKind == store.IntegrationErrRateLimited:
		return ConditionRateLimited
	}
	return ConditionFailing
}

// Create adds an integration, Connected.
func (s *Service) Create(ctx context.Context, in Input, actor string) (View, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		return View{}, invalid("name is required (at most 200 characters)")
	}
	var sec Secrets
	if in.Secrets != nil {
		sec = *in.Secrets
	}
	if err := s.validate(ctx, in.Kind, &in.Settings, sec); err != nil {
		return View{}, err
	}
	st, _ := json.Marshal(in.Settings)
	sealed, err := s.seal(sec)
	if err != nil {
		return View{}, err
	}
	now := s.o.Clock.Now().UTC()
	i, err := s.o.Store.CreateIntegration(ctx, store.Integration{Kind: in.Kind, Name: in.Name, Settings: st, Secrets: sealed,
		Status: store.IntegrationConnected, CreatedAt: now, CreatedBy: actor})
	if err != nil {
		return View{}, err
	}
	return s.view(i)
}

// Update changes an integration's name, settings and (when given) secrets at version: each secret
// given replaces the stored one, an empty one keeps it.
func (s *Service) Update(ctx context.Context, id, version int64, in Input) (View, error) {
	cur, err := s.o.Store.GetIntegration(ctx, id)
	if err != nil {
		return View{}, err
	}
	if version != 0 && version != cur.Version {
		return View{}, fmt.Errorf("integration %d changed since version %d: %w", id, version, store.ErrConflict)
	}
	sec, err := s.secrets(cur)
	if err != nil {
		return View{}, err
	}
	if in.Secrets != nil {
		sec = sec.merge(*in.Secrets)
	}
	if in.Name = strings.TrimSpace(in.Name); in.Name == "" {
		in.Name = cur.Name
	}
	if err := s.validate(ctx, cur.Kind, &in.Settings, sec); err != nil {
		return View{}, err
	}
	cur.Name = in.Name
	cur.Settings, _ = json.Marshal(in.Settings)
	if cur.Secrets, err = s.seal(sec); err != nil {
		return View{}, err
	}
	cur.UpdatedAt = s.o.Clock.Now().UTC()
	up, err := s.o.Store.UpdateIntegration(ctx, cur)
	if err != nil {
		return View{}, err
	}
	return s.view(up)
}

// Get returns one integration.
func (s *Service) Get(ctx context.Context, id int64) (View, error) {
	i, err := s.o.Store.GetIntegration(ctx, id)
	if err != nil {
		return View{}, err
	}
	return s.view(i)
}

// List returns every integration.
func (s *Service) List(ctx context.Context) ([]View, error) {
	is, err := s.o.Store.ListIntegrations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(is))
	for _, i := range is {
		v, err := s.view(i)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Delete removes an integration and its deliveries.
func (s *Service) Delete(ctx context.Context, id int64) error {
	return s.o.Store.DeleteIntegration(ctx, id)
}

// SetStatus connects (after verifying the credentials, R7.4) or disconnects an integration. A
// disconnected integration gets no new deliveries and its pending ones fail for good when due.
func (s *Service) SetStatus(ctx context.Context, id int64, connected bool, verify func(context.Context, store.Integration, Secrets) error) (View, error) {
	cur, err := s.o.Store.GetIntegration(ctx, id)
	if err != nil {
		return View{}, err
	}
	cur.Status = store.IntegrationDisconnected
	if connected {
		sec, err := s.secrets(cur)
		if err != nil {
			return View{}, err
		}
		if verify != nil {
			if err := verify(ctx, cur, sec); err != nil {
				var f *Failure
				kind := ""
				if errors.As(err, &f) {
					kind = f.Kind
				}
				_ = s.o.Store.SetIntegrationError(ctx, id, err.Error(), kind, s.o.Clock.Now())
				return View{}, err
			}
		}
		cur.Status, cur.LastError, cur.LastErrorAt, cur.ErrorKind = store.IntegrationConnected, "", time.Time{}, ""
	}
	cur.UpdatedAt = s.o.Clock.Now().UTC()
	up, err := s.o.Store.UpdateIntegration(ctx, cur)
	if err != nil {
		return View{}, err
	}
	return s.view(up)
}

// Test enqueues a test delivery to the integration and returns it.
func (s *Service) Test(ctx context.Context, id int64, actor string) (store.OutboxItem, error) {
	i, err := s.o.Store.GetIntegration(ctx, id)
	if err != nil {
		return store.OutboxItem{}, err
	}
	if IsHR(i.Kind) {
		return store.OutboxItem{}, invalid("%s is an HR source: it receives changes and has no deliveries to test; sync it instead", i.Name)
	}
	now := s.o.Clock.Now().UTC()
	key := fmt.Sprintf("test/integration/%d/%d", i.ID, now.UnixNano())
	p := Payload{Event: TopicTest, IdempotencyKey: key, Test: true, Alert: AlertBody{Summary: "Telltale test delivery sent by " + actor,
		Severity: "low", RuleName: "test", CreatedAt: now}, Events: []EventSummary{}}
	b, _ := json.Marshal(p)
	it, err := s.o.Store.EnqueueOutbox(ctx, store.OutboxItem{IntegrationID: i.ID, Subject: "test", Topic: TopicTest, IdempotencyKey: key, Payload: b, NextRunAt: now})
	if err == nil && s.o.Kick != nil {
		s.o.Kick()
	}
	return it, err
}

// Replay makes a finished delivery pending again, due now.
func (s *Service) Replay(ctx context.Context, deliveryID int64) (store.OutboxItem, error) {
	it, err := s.o.Store.ReplayOutbox(ctx, deliveryID, s.o.Clock.Now())
	if err == nil && s.o.Kick != nil {
		s.o.Kick()
	}
	return it, err
}

// ---- flows ----

// FlowInput is what an admin enters for a flow.
type FlowInput struct {
	Name           string
	Trigger        string // alert.raised (default), watchlist.changed or hr.departure
	Enabled        bool
	MinSeverity    string
	RuleIDs        []int64
	Query          string
	IntegrationIDs []int64
}

// CreateFlow validates and stores a flow.
func (s *Service) CreateFlow(ctx context.Context, in FlowInput, actor string) (store.Flow, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		return store.Flow{}, invalid("name is required (at most 200 characters)")
	}
	if in.Trigger == "" {
		in.Trigger = TopicAlertRaised
	}
	if !slices.Contains(Triggers(), in.Trigger) {
		return store.Flow{}, invalid("trigger %q is not one of %s", in.Trigger, strings.Join(Triggers(), ", "))
	}
	if in.Trigger != TopicAlertRaised && (in.MinSeverity != "" || len(in.RuleIDs) > 0 || in.Query != "") {
		return store.Flow{}, invalid("min_severity, rule_ids and query filter alerts: a %s flow takes none", in.Trigger)
	}
	if in.MinSeverity != "" {
		if sv := event.Severity(in.MinSeverity); !sv.Valid() || sv == event.SeverityNone {
			return store.Flow{}, invalid("min_severity %q is not one of low, moderate, high, critical", in.MinSeverity)
		}
	}
	if in.Query != "" {
		if _, err := search.Parse(in.Query, s.o.Clock.Now()); err != nil {
			return store.Flow{}, invalid("query: %v", err)
		}
	}
	if len(in.IntegrationIDs) == 0 {
		return store.Flow{}, invalid("a flow needs at least one integration")
	}
	for _, id := range in.IntegrationIDs {
		i, err := s.o.Store.GetIntegration(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.Flow{}, invalid("integration %d does not exist", id)
		} else if err != nil {
			return store.Flow{}, err
		}
		if IsHR(i.Kind) {
			return store.Flow{}, invalid("integration %d (%s) is an HR source: it sends people to Telltale and cannot receive a flow's deliveries", id, i.Name)
		}
	}
	for _, id := range in.RuleIDs {
		if _, err := s.o.Store.GetAlertRule(ctx, id); errors.Is(err, store.ErrNotFound) {
			return store.Flow{}, invalid("alert rule %d does not exist", id)
		} else if err != nil {
			return store.Flow{}, err
		}
	}
	return s.o.Store.CreateFlow(ctx, store.Flow{Name: in.Name, Trigger: in.Trigger, Enabled: in.Enabled, MinSeverity: in.MinSeverity, RuleIDs: in.RuleIDs,
		Query: in.Query, IntegrationIDs: in.IntegrationIDs, CreatedAt: s.o.Clock.Now().UTC(), CreatedBy: actor})
}

// TestFlow enqueues a test delivery to each of the flow's integrations.
func (s *Service) TestFlow(ctx context.Context, id int64, actor string) ([]store.OutboxItem, error) {
	f, err := s.o.Store.GetFlow(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []store.OutboxItem
	for _, iid := range f.IntegrationIDs {
		it, err := s.Test(ctx, iid, actor)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, it)
	}
	return out, nil
}

// Key is the idempotency key of the delivery of an alert's event to an integration.
func Key(alertID, integrationID int64, kind string) string {
	return "alert/" + strconv.FormatInt(alertID, 10) + "/integration/" + strconv.FormatInt(integrationID, 10) + "/" + kind
}

// Raised is the alert evaluator's hook (alert.Options.Raised): inside the transaction that creates
// the alerts, it enqueues one delivery per connected integration of each enabled flow the alert
// matches. A flow whose query no longer parses is skipped and logged, never failing the batch.
func (s *Service) Raised(ctx context.Context, q store.Queries, alerts []store.Alert) error {
	flows, err := q.ListFlows(ctx)
	if err != nil || len(flows) == 0 {
		return err
	}
	integ := map[int64]store.Integration{}
	now := s.o.Clock.Now().UTC()
	for _, a := range alerts {
		var p *Payload
		var evs []event.FileEvent
		sent := map[int64]bool{}
		for _, f := range flows {
			if !f.Enabled || !alertFlow(f) {
				continue
			}
			if p == nil {
				if evs, err = alertEvents(ctx, q, a.ID); err != nil {
					return err
				}
				p = newPayload(a, evs)
			}
			if ok, err := s.matches(ctx, q, f, a, evs, now); err != nil {
				return err
			} else if !ok {
				continue
			}
			for _, iid := range f.IntegrationIDs {
				if sent[iid] {
					continue
				}
				_, ok, err := deliverable(ctx, q, integ, iid)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				sent[iid] = true
				p.IdempotencyKey = Key(a.ID, iid, TopicAlertRaised)
				b, err := json.Marshal(p)
				if err != nil {
					return err
				}
				if _, err := q.EnqueueOutbox(ctx, store.OutboxItem{IntegrationID: iid, Subject: "alert/" + strconv.FormatInt(a.ID, 10),
					Topic: TopicAlertRaised, IdempotencyKey: p.IdempotencyKey, Payload: b, NextRunAt: now}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// alertFlow reports whether the flow's trigger is an alert raised (flows made before triggers
// existed have none).
func alertFlow(f store.Flow) bool { return f.Trigger == "" || f.Trigger == TopicAlertRaised }

// updatable are the kinds whose ticket follows the alert's later changes.
func updatable(kind string) bool { return kind == KindServiceNow || kind == KindJira }

// Changed is the alert API's hook, called inside the transaction that changes an alert (its state,
// resolution, assignee, or a note): for each connected ServiceNow or Jira integration a flow sends
// the alert to (flows created before the alert was raised, as for Raised), it enqueues an
// alert.updated delivery keyed by the alert's new version, so the update commits with the change
// and is sent once per version. The delivery finds its ticket by the alert.raised delivery's key.
func (s *Service) Changed(ctx context.Context, q store.Queries, a store.Alert, changes []store.AlertChange) error {
	return s.updated(ctx, q, a, changes, "v"+strconv.FormatInt(a.Version, 10))
}

// Grown is the alert evaluator's hook (alert.Options.Grown): inside the transaction that added
// events to open alerts, it enqueues an alert.updated delivery per alert for the ServiceNow and
// Jira integrations its flows send it to, keyed by the alert's event count (one per batch that
// grew it).
func (s *Service) Grown(ctx context.Context, q store.Queries, alertIDs []int64) error {
	for _, id := range alertIDs {
		a, err := q.GetAlert(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		count := strconv.FormatInt(a.EventCount, 10)
		if err := s.updated(ctx, q, a, []store.AlertChange{{Actor: "system", Field: "events", To: count}}, "events-"+count); err != nil {
			return err
		}
	}
	return nil
}

// updated enqueues the alert.updated deliveries of a change of a, keyed with suffix.
func (s *Service) updated(ctx context.Context, q store.Queries, a store.Alert, changes []store.AlertChange, suffix string) error {
	flows, err := q.ListFlows(ctx)
	if err != nil || len(flows) == 0 || len(changes) == 0 {
		return err
	}
	now := s.o.Clock.Now().UTC()
	var p *Payload
	var evs []event.FileEvent
	sent := map[int64]bool{}
	for _, f := range flows {
		if !f.Enabled || !alertFlow(f) || (!f.CreatedAt.IsZero() && f.CreatedAt.After(a.CreatedAt)) {
			continue
		}
		if p == nil {
			if evs, err = alertEvents(ctx, q, a.ID); err != nil {
				return err
			}
			p = newPayload(a, evs)
			p.Event = TopicAlertUpdated
			for _, c := range changes {
				p.Changes = append(p.Changes, ChangeBody{Field: c.Field, From: c.From, To: c.To, Note: clip(c.Note, 2000), Actor: c.Actor, At: cmpTime(c.At, now)})
			}
		}
		if ok, err := s.matches(ctx, q, f, a, evs, now); err != nil {
			return err
		} else if !ok {
			continue
		}
		for _, iid := range f.IntegrationIDs {
			if sent[iid] {
				continue
			}
			sent[iid] = true
			i, err := q.GetIntegration(ctx, iid)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if i.Status != store.IntegrationConnected || !updatable(i.Kind) {
				continue
			}
			p.Ticket = Key(a.ID, iid, TopicAlertRaised)
			p.IdempotencyKey = Key(a.ID, iid, TopicAlertUpdated) + "/" + suffix
			b, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if _, err := q.EnqueueOutbox(ctx, store.OutboxItem{IntegrationID: iid, Subject: "alert/" + strconv.FormatInt(a.ID, 10),
				Topic: TopicAlertUpdated, IdempotencyKey: p.IdempotencyKey, Payload: b, NextRunAt: now}); err != nil {
				return err
			}
		}
	}
	return nil
}

func cmpTime(a, b time.Time) time.Time {
	if a.IsZero() {
		return b
	}
	return a.UTC()
}

// matches reports whether the flow's filter accepts the alert: severity at least MinSeverity, rule
// among RuleIDs, and Query accepting one of its events (the first 100). actor: terms mean the
// person under every address, as in a search (search.ExpandActors).
func (s *Service) matches(ctx context.Context, tx store.AliasReader, f store.Flow, a store.Alert, evs []event.FileEvent, now time.Time) (bool, error) {
	if f.MinSeverity != "" && event.Severity(a.Severity).Rank() < event.Severity(f.MinSeverity).Rank() {
		return false, nil
	}
	if len(f.RuleIDs) > 0 && !slices.Contains(f.RuleIDs, a.RuleID) {
		return false, nil
	}
	if f.Query == "" {
		return true, nil
	}
	q, err := search.Parse(f.Query, now)
	if err == nil {
		q, err = search.ExpandActors(q, func(a string) ([]string, error) { return store.PersonAddresses(ctx, tx, a) })
	}
	var se *search.Error
	if errors.As(err, &se) {
		s.o.Log.Warn("integration: a flow's query does not parse; the flow is skipped", "flow", f.ID, "err", err)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for i := range evs {
		if search.Match(q, &evs[i]) {
			return true, nil
		}
	}
	return false, nil
}

// maxPayloadEvents bounds the events a payload and a flow's query look at.
const maxPayloadEvents = 100

func alertEvents(ctx context.Context, q store.Queries, alertID int64) ([]event.FileEvent, error) {
	ids, err := q.ListAlertEventIDs(ctx, alertID, 0, maxPayloadEvents)
	if err != nil {
		return nil, err
	}
	out := make([]event.FileEvent, 0, len(ids))
	for _, id := range ids {
		e, err := q.GetEvent(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// hostOf is the host of a URL, for messages.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

// deliverable returns a flow's integration iid, read once per call of the hook (integ caches it),
// and whether it takes deliveries: it exists, is connected, and is not an HR source (HR sources
// bring people in; a flow never sends to one).
func deliverable(ctx context.Context, q store.Queries, integ map[int64]store.Integration, iid int64) (store.Integration, bool, error) {
	i, ok := integ[iid]
	if !ok {
		var err error
		if i, err = q.GetIntegration(ctx, iid); errors.Is(err, store.ErrNotFound) {
			return i, false, nil
		} else if err != nil {
			return i, false, err
		}
		integ[iid] = i
	}
	return i, i.Status == store.IntegrationConnected && !IsHR(i.Kind), nil
}
