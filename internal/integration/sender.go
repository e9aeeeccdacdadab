package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/work"
)

// WorkDeliver is the sender's work kind: one unit (key "all") that any node may hold.
const WorkDeliver = "integrations.deliver"

// Failure is why a delivery attempt failed: Msg is the actionable error shown on the integration,
// Permanent when retrying cannot help (refused credentials, a missing channel), RetryAfter what the
// destination asked to wait.
type Failure struct {
	Msg        string
	Permanent  bool
	RetryAfter time.Duration
	// Kind is store.IntegrationErrAuth when the destination refused the credentials,
	// store.IntegrationErrRateLimited when it is rate limiting; "" for anything else. The
	// integration shows it as its condition.
	Kind string
}

func (f *Failure) Error() string { return f.Msg }

// Attempt is one delivery attempt's outcome: Response is what the destination answered (status
// and a bounded excerpt of the body), Err nil when delivered.
type Attempt struct {
	Response string
	Err      *Failure
}

// SenderOptions configure a Sender.
type SenderOptions struct {
	Service *Service
	Clock   clock.Clock  // default clock.Real
	Log     *slog.Logger // default discard
	// MaxAttempts is how many attempts a delivery gets before it fails for good; default 8.
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after n failures (n >= 1); default DefaultBackoff.
	Backoff func(n int) time.Duration
	// Idle is how long the unit waits when nothing is due; default 1s.
	Idle time.Duration
	// Batch is how many deliveries one claim takes; default 16. Concurrency bounds the sends at
	// once; default 4.
	Batch, Concurrency int
	// Transport for tests; nil: the Service's Guard's transport (checking every dial).
	Transport http.RoundTripper
	Timeout   time.Duration // per attempt; default 30s
	Metrics   *metrics.Registry
	// JiraIndexWait is how long a Jira create whose outcome is unknown (the process died, or the
	// answer was lost) is given to appear in Jira's eventually consistent search before the
	// delivery creates the issue again; default 30s.
	JiraIndexWait time.Duration
}

// Sender delivers due outbox items.
type Sender struct {
	o      SenderOptions
	s      *Service
	client *httpx.Client
	count  metrics.Counter

	mu     sync.Mutex
	tokens map[int64]snToken // ServiceNow OAuth access tokens by integration
}

// DefaultBackoff is 10s·2^(n-1) capped at one hour, with up to ±20% jitter.
func DefaultBackoff(n int) time.Duration {
	d := 10 * time.Second << min(n-1, 12)
	d = min(d, time.Hour)
	return jitter(d)
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// NewSender returns a Sender.
func NewSender(o SenderOptions) *Sender {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Idle <= 0 {
		o.Idle = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.JiraIndexWait <= 0 {
		o.JiraIndexWait = 30 * time.Second
	}
	// No retries inside the client: retries are the outbox's, durable and visible. A Retry-After
	// fences the integration's key; a send while fenced returns at once (MaxWait) and is rescheduled.
	c := httpx.New(httpx.Options{Timeout: o.Timeout, MaxRetries: -1, MaxWait: time.Millisecond, Guard: o.Service.o.Guard,
		Transport: o.Transport, UserAgent: "Telltale-Integrations/1", Now: o.Clock.Now})
	return &Sender{o: o, s: o.Service, client: c, tokens: map[int64]snToken{},
		count: o.Metrics.Counter("telltale_deliveries_total", "Delivery attempts to integrations on this node, by outcome: sent, retry, failed (for good).", "outcome")}
}

// Register adds the delivery handler to the runner.
func (d *Sender) Register(r *work.Runner) {
	r.Handle(WorkDeliver, func(ctx context.Context, w store.Work) (time.Time, error) { return d.run(ctx, r.Owner()) })
}

// Unit is the delivery unit, to EnsureWork at start.
func (d *Sender) Unit() store.Work {
	return store.Work{Kind: WorkDeliver, Key: "all", NextRunAt: d.o.Clock.Now()}
}

func (d *Sender) run(ctx context.Context, owner string) (time.Time, error) {
	deadline := d.o.Clock.Now().Add(10 * time.Second)
	// This node holds the one deliver unit and no delivery is in flight between runs: an item
	// still leased is a killed or stalled node's (several nodes on PostgreSQL), or this node's
	// whose result could not be recorded (the database restarted). It is due again now rather
	// than when its lease (twice the timeout and a minute) runs out.
	if n, err := d.s.o.Store.ReleaseOutbox(ctx, ""); err != nil {
		return time.Time{}, err
	} else if n > 0 {
		d.o.Log.Info("integration: released deliveries claimed by a run that ended before recording them", "deliveries", n)
	}
	for {
		n, err := d.RunOnce(ctx, owner+"/deliver")
		if err != nil {
			return time.Time{}, err
		}
		now := d.o.Clock.Now()
		if n < d.o.Batch {
			return now.Add(d.o.Idle), nil
		}
		if now.After(deadline) {
			return now, nil
		}
	}
}

// RunOnce claims due deliveries, sends them and records each outcome; it returns how many it claimed.
func (d *Sender) RunOnce(ctx context.Context, owner string) (int, error) {
	now := d.o.Clock.Now()
	items, err := d.s.o.Store.ClaimOutbox(ctx, store.ClaimRequest{Owner: owner, Now: now, LeaseFor: 2*d.o.Timeout + time.Minute, Limit: d.o.Batch})
	if err != nil || len(items) == 0 {
		return 0, err
	}
	sem := make(chan struct{}, d.o.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.deliver(ctx, owner, it); err != nil {
				mu.Lock()
				first = cmpOr(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return len(items), first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (d *Sender) deliver(ctx context.Context, owner string, it store.OutboxItem) error {
	// setErr, when set, is the integration's new last error and kind ({"", ""} clears them):
	// written in the transaction that records the delivery's outcome, so no page shows the
	// integration refused while the delivery that found it out still reads Pending.
	var setErr *[2]string
	var at time.Time
	finish := func(state string, next time.Time, errText, resp string) error {
		err := d.s.o.Store.InTx(ctx, func(q store.Queries) error {
			if setErr != nil {
				if err := q.SetIntegrationError(ctx, it.IntegrationID, setErr[0], setErr[1], at); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return q.FinishOutbox(ctx, it.ID, owner, state, next, errText, clip(resp, 2000))
		})
		if errors.Is(err, store.ErrConflict) {
			d.o.Log.Warn("integration: a delivery's lease was lost; another run sends it", "delivery", it.ID)
			return nil
		}
		return err
	}
	i, err := d.s.o.Store.GetIntegration(ctx, it.IntegrationID)
	if errors.Is(err, store.ErrNotFound) {
		d.count.Add(1, "failed")
		return finish(store.OutboxDead, time.Time{}, "the integration was deleted", it.Response)
	}
	if err != nil {
		return err
	}
	if i.Status != store.IntegrationConnected {
		d.count.Add(1, "failed")
		return finish(store.OutboxDead, time.Time{}, "the integration is disconnected: connect it, then replay this delivery", it.Response)
	}
	a := d.send(ctx, i, it)
	now := d.o.Clock.Now()
	at = now
	if a.Err == nil {
		d.count.Add(1, "sent")
		if i.LastError != "" {
			setErr = &[2]string{"", ""}
		}
		return finish(store.OutboxDone, time.Time{}, "", a.Response)
	}
	setErr = &[2]string{a.Err.Msg, a.Err.Kind}
	attempts := it.Attempts + 1
	if a.Err.Permanent || attempts >= d.o.MaxAttempts {
		d.count.Add(1, "failed")
		msg := a.Err.Msg
		if !a.Err.Permanent {
			msg = fmt.Sprintf("failed %d times, last: %s", attempts, msg)
		}
		d.o.Log.Warn("integration: a delivery failed for good", "delivery", it.ID, "integration", i.ID, "attempts", attempts, "err", msg)
		return finish(store.OutboxDead, time.Time{}, msg, a.Response)
	}
	d.count.Add(1, "retry")
	wait := d.o.Backoff(attempts)
	if a.Err.RetryAfter > 0 {
		wait = max(a.Err.RetryAfter, wait/4) + time.Duration(rand.Int64N(int64(time.Second)))
	}
	return finish(store.OutboxPending, now.Add(wait), a.Err.Msg, a.Response)
}

// send makes one attempt with the integration's action.
func (d *Sender) send(ctx context.Context, i store.Integration, it store.OutboxItem) Attempt {
	v, err := d.s.view(i)
	if err != nil {
		return Attempt{Err: &Failure{Msg: err.Error(), Permanent: true}}
	}
	sec, err := d.s.secrets(i)
	if err != nil {
		return Attempt{Err: &Failure{Msg: err.Error(), Permanent: true}}
	}
	switch i.Kind {
	case KindWebhook:
		return d.webhook(ctx, v.Config, sec, it)
	case KindSlack:
		a := d.slack(ctx, v.Config, sec, it)
		// An incoming webhook's URL is a secret: keep it out of errors and answers (R9.3).
		if u, err := url.Parse(sec.WebhookURL); err == nil && len(u.Path) > 1 {
			a.Response = strings.ReplaceAll(a.Response, u.Path, "/[incoming webhook]")
			if a.Err != nil {
				a.Err.Msg = strings.ReplaceAll(a.Err.Msg, u.Path, "/[incoming webhook]")
			}
		}
		return a
	case KindServiceNow:
		return d.servicenow(ctx, i, v.Config, sec, it)
	case KindJira:
		return d.jira(ctx, i, v.Config, sec, it)
	case KindOkta:
		return d.okta(ctx, i, v.Config, sec, it)
	}
	return Attempt{Err: &Failure{Msg: fmt.Sprintf("unknown integration kind %q", i.Kind), Permanent: true}}
}

// post sends req and classifies what happened before an answer: a Failure when there is none (a
// refused address, a network error, a timeout, the key fenced by an earlier Retry-After); a
// non-2xx answer is returned for the action to classify.
func (d *Sender) post(ctx context.Context, key string, req *http.Request) (*http.Response, []byte, *Failure) {
	resp, body, err := d.client.Do(ctx, key, req, 1<<20)
	if err == nil {
		return resp, body, nil
	}
	var te *httpx.ThrottledError
	var se *httpx.StatusError
	switch {
	case errors.As(err, &te):
		return nil, nil, &Failure{Msg: "waiting for the destination's Retry-After", RetryAfter: max(te.Until.Sub(d.o.Clock.Now()), time.Second), Kind: store.IntegrationErrRateLimited}
	case errors.Is(err, httpx.ErrBlocked):
		return nil, nil, &Failure{Msg: err.Error(), Permanent: true}
	case errors.As(err, &se):
		return resp, body, nil // the action classifies the status
	}
	return nil, nil, &Failure{Msg: err.Error()}
}

// statusFailure classifies a non-2xx answer: 408, 425, 429 and 5xx are retried (429 and 503 after
// their Retry-After), other statuses are permanent.
func statusFailure(resp *http.Response, body []byte, now time.Time, what string) *Failure {
	f := &Failure{Msg: fmt.Sprintf("%s answered %s: %s", what, resp.Status, excerpt(body, 300))}
	switch c := resp.StatusCode; {
	case c == 408 || c == 425 || c == 429 || c >= 500:
		if ra, ok := httpx.ParseRetryAfter(resp.Header, now); ok {
			f.RetryAfter = ra
		}
		if c == 429 {
			f.Kind = store.IntegrationErrRateLimited
		}
	default:
		f.Permanent = true
		if c == 401 {
			f.Kind = store.IntegrationErrAuth
		}
	}
	return f
}

func response(resp *http.Response, body []byte) string {
	if resp == nil {
		return ""
	}
	return resp.Status + ": " + excerpt(body, 1000)
}

// excerpt is the start of a body as one line of valid text.
func excerpt(b []byte, n int) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(empty body)"
	}
	return clip(s, n)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
