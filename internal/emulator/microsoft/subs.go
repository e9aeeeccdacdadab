package microsoft

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Graph change notifications (webhooks): POST/GET/PATCH/DELETE /subscriptions, the
// validationToken handshake, deliveries with clientState and retries, lifecycle notifications.
// Facts: learn.microsoft.com/graph/change-notifications-delivery-webhooks and
// subscription-post-subscriptions (NOTES 3c, Corrections 8). Deliveries run in real time (they
// are HTTP to the subscriber); expiry follows the emulator's clock.

// Maximum subscription lifetimes (Corrections 8: enforced).
const (
	maxDriveSub = 42300 * time.Minute
	maxMailSub  = 10070 * time.Minute
)

type gsub struct {
	id, resource, changeType string
	notifyURL, lifecycleURL  string
	clientState              string
	kind                     string // "drive" or "mail"
	driveID, userID          string
	expires                  time.Time
	creatorID, applicationID string
	types                    map[string]bool // the change types asked for
	tls                      string
}

type subsState struct {
	byID map[string]*gsub
	lose int // the next deliveries to drop (LosePushes)
	// createdButFail: the next creations to keep and answer 500 anyway (FailAfterCreate)
	createdButFail int
	ctx            context.Context
	stop           context.CancelFunc
	wg             sync.WaitGroup
	httpc          *http.Client
}

func (e *Emulator) subsInit() {
	s := &e.subs
	s.byID = map[string]*gsub{}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.httpc = &http.Client{}
}

// Errors of subscription creation and renewal: ValidationError and InvalidRequest with the
// messages Graph answers for a failed or timed-out handshake (microsoftgraph/nodejs-webhooks-sample
// #158 and #350, java-spring-webhooks-sample#82), ExtensionError for a lifetime over the maximum
// (microsoft-graph-docs#2851, with the current maxima). The others are modelled.
var (
	errValidation200  = gerr(400, "ValidationError", "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
	errValidationBody = gerr(400, "ValidationError", "Subscription validation request failed. Response must exactly match validationToken query parameter.")
	errValidationTime = gerr(400, "InvalidRequest", "Subscription validation request timed out.")
	errSubNotFound    = gerr(404, "ResourceNotFound", "The object was not found.")
	// errCreatedButFailed answers a creation kept anyway (FailAfterCreate): Graph's generic 500
	// (the faults' generalException).
	errCreatedButFailed = gerr(500, "generalException", "An unexpected error occurred.")
)

var (
	reDriveRes = regexp.MustCompile(`^(?:drives/([^/]+)|users/([^/]+)/drive)/root$`)
	reMailRes  = regexp.MustCompile(`^users/([^/]+)/(?:mailFolders\('?([^/')]+)'?\)|mailFolders/([^/]+))/messages$`)
)

// subJSON is a subscription resource.
func (e *Emulator) subJSON(s *gsub, base string) map[string]any {
	m := map[string]any{"id": s.id, "resource": s.resource, "applicationId": s.applicationID, "changeType": s.changeType,
		"clientState": s.clientState, "notificationUrl": s.notifyURL, "expirationDateTime": s.expires.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		"creatorId": s.creatorID, "latestSupportedTlsVersion": s.tls, "includeResourceData": false,
		"encryptionCertificate": nil, "encryptionCertificateId": nil, "notificationQueryOptions": nil, "notificationUrlAppId": nil,
		"lifecycleNotificationUrl": nil}
	if s.lifecycleURL != "" {
		m["lifecycleNotificationUrl"] = s.lifecycleURL
	}
	if s.clientState == "" {
		m["clientState"] = nil
	}
	if base != "" {
		m["@odata.context"] = base + "/v1.0/$metadata#subscriptions/$entity"
	}
	return m
}

// subCreate is POST /subscriptions: checks the body, the resource and the permission it needs,
// the lifetime (driveItem 42,300 minutes, message 10,070), then validates notificationUrl and
// lifecycleNotificationUrl with the handshake before answering 201 with the subscription.
// Graph requires HTTPS notification URLs; the emulator takes http ones too (loopback tests).
func (e *Emulator) subCreate(c *call) (int, any, *graphError) {
	var b struct {
		ChangeType, NotificationURL, LifecycleNotificationURL, Resource, ExpirationDateTime, ClientState, LatestSupportedTLSVersion string
	}
	var raw map[string]any
	body, _ := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if json.Unmarshal(body, &raw) != nil {
		return 0, nil, gerr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	str := func(k string) string { s, _ := raw[k].(string); return s }
	b.ChangeType, b.NotificationURL, b.LifecycleNotificationURL = str("changeType"), str("notificationUrl"), str("lifecycleNotificationUrl")
	b.Resource, b.ExpirationDateTime, b.ClientState, b.LatestSupportedTLSVersion = str("resource"), str("expirationDateTime"), str("clientState"), str("latestSupportedTlsVersion")
	for _, k := range []string{"changeType", "notificationUrl", "resource", "expirationDateTime"} {
		if str(k) == "" {
			return 0, nil, gerr(400, "InvalidRequest", "The property '%s' is required.", k) // modelled
		}
	}
	if len(b.ClientState) > 128 { // "maximum length of 128 characters"
		return 0, nil, gerr(400, "InvalidRequest", "The clientState property value exceeds the maximum length of 128 characters.")
	}
	for _, u := range []string{b.NotificationURL, b.LifecycleNotificationURL} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return 0, nil, gerr(400, "InvalidRequest", "Invalid notification url '%s'.", u) // modelled
		}
	}
	s := &gsub{resource: b.Resource, changeType: b.ChangeType, notifyURL: b.NotificationURL, lifecycleURL: b.LifecycleNotificationURL,
		clientState: b.ClientState, applicationID: e.o.ClientID, tls: "v1_2", types: map[string]bool{}}
	if b.LatestSupportedTLSVersion != "" {
		s.tls = b.LatestSupportedTLSVersion
	}
	for _, t := range strings.Split(b.ChangeType, ",") {
		t = strings.TrimSpace(t)
		if t != "created" && t != "updated" && t != "deleted" {
			return 0, nil, gerr(400, "InvalidRequest", "Invalid change type '%s'.", t) // modelled
		}
		s.types[t] = true
	}
	exp, err := time.Parse(time.RFC3339Nano, b.ExpirationDateTime)
	if err != nil {
		return 0, nil, gerr(400, "InvalidRequest", "Invalid expirationDateTime '%s'.", b.ExpirationDateTime) // modelled
	}
	s.expires = exp
	res := strings.TrimPrefix(b.Resource, "/")
	e.mu.Lock()
	var ge *graphError
	switch {
	case reDriveRes.MatchString(res):
		m := reDriveRes.FindStringSubmatch(res)
		s.kind = "drive"
		if !hasAny(c.tok.roles, []string{RoleFilesReadAll, RoleSitesReadAll}) {
			ge = errFilesDenied
		} else if m[1] != "" {
			if d := e.drives[m[1]]; d == nil {
				ge = errItemNotFound
			} else {
				s.driveID = d.id
			}
		} else if d, g := e.driveOfUser(m[2]); g != nil {
			ge = g
		} else {
			s.driveID = d.id
		}
		// driveItem: "only updated changeType is supported" (subscription resource).
		if ge == nil && (len(s.types) != 1 || !s.types["updated"]) {
			ge = gerr(400, "InvalidRequest", "Only 'updated' changeType is supported for driveItem subscriptions.") // modelled message
		}
	case reMailRes.MatchString(res):
		m := reMailRes.FindStringSubmatch(res)
		s.kind = "mail"
		folder := m[2] + m[3]
		u := e.userByKey(m[1])
		switch {
		case !c.tok.roles[RoleMailRead]:
			ge = errMailDenied
		case u == nil:
			ge = gerr(404, "ErrorInvalidUser", "The requested user '%s' is invalid.", m[1])
		case !u.licensed:
			ge = errNoMailbox
		case !strings.EqualFold(folder, "sentitems") && folder != e.mailboxOf(u).folderID:
			ge = errMailNotFound // modelled: only the sent items folder is emulated
		default:
			s.userID = u.id
		}
	default:
		ge = gerr(400, "InvalidRequest", "Resource '%s' is not supported.", b.Resource) // modelled
	}
	now := e.clk.Now()
	if ge == nil {
		max := maxDriveSub
		if s.kind == "mail" {
			max = maxMailSub
		}
		if !exp.After(now) {
			ge = gerr(400, "InvalidRequest", "Subscription expiration date time must be in the future.") // modelled
		} else if exp.Sub(now) > max {
			ge = gerr(400, "ExtensionError", "Subscription expiration can only be %d minutes in the future.", int(max/time.Minute))
		}
	}
	timeout := e.o.ValidationTimeout
	e.mu.Unlock()
	if ge != nil {
		return 0, nil, ge
	}
	for _, u := range []string{s.notifyURL, s.lifecycleURL} {
		if u == "" {
			continue
		}
		if ge := e.handshake(u, timeout); ge != nil {
			return 0, nil, ge
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s.id = e.serveGUID()
	s.creatorID = hashGUID("sp:" + e.o.ClientID)
	e.subs.byID[s.id] = s
	if e.subs.createdButFail > 0 {
		e.subs.createdButFail--
		e.stats.SubsCreatedButFailed++
		return 0, nil, errCreatedButFailed
	}
	return http.StatusCreated, e.subJSON(s, c.base), nil
}

// handshake POSTs url?validationToken=<token> (text/plain) and wants 200, text/plain, the token
// within the timeout (Options.ValidationTimeout, 10 s as Graph's).
func (e *Emulator) handshake(u string, timeout time.Duration) *graphError {
	e.mu.Lock()
	tok := "Validation: Testing client application reachability for subscription Request-Id: " + e.serveGUID()
	e.stats.PushValidations++
	e.mu.Unlock()
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(e.subs.ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u+sep+"validationToken="+url.QueryEscape(tok), strings.NewReader(""))
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := e.subs.httpc.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return errValidationTime
		}
		return errValidation200
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return errValidationTime
	}
	if resp.StatusCode != 200 {
		return errValidation200
	}
	if string(got) != tok || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		return errValidationBody
	}
	return nil
}

// liveSub resolves {sid}: unknown and expired subscriptions are not found. Called with e.mu held.
func (e *Emulator) liveSub(id string) *gsub {
	s := e.subs.byID[id]
	if s != nil && !e.clk.Now().Before(s.expires) {
		delete(e.subs.byID, id)
		s = nil
	}
	return s
}

// subList is GET /subscriptions: this application's live subscriptions.
func (e *Emulator) subList(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.subs.byID))
	for id := range e.subs.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := []any{}
	for _, id := range ids {
		if s := e.liveSub(id); s != nil {
			out = append(out, e.subJSON(s, ""))
		}
	}
	return 200, map[string]any{"@odata.context": c.base + "/v1.0/$metadata#subscriptions", "value": out}, nil
}

// subGet is GET /subscriptions/{sid}.
func (e *Emulator) subGet(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.liveSub(c.r.PathValue("sid"))
	if s == nil {
		return 0, nil, errSubNotFound
	}
	return 200, e.subJSON(s, c.base), nil
}

// subPatch is PATCH /subscriptions/{sid}: renews (expirationDateTime, within the maximum from
// now) and may change notificationUrl (validated again).
func (e *Emulator) subPatch(c *call) (int, any, *graphError) {
	var raw map[string]any
	body, _ := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if json.Unmarshal(body, &raw) != nil {
		return 0, nil, gerr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	e.mu.Lock()
	s := e.liveSub(c.r.PathValue("sid"))
	timeout := e.o.ValidationTimeout
	e.mu.Unlock()
	if s == nil {
		return 0, nil, errSubNotFound
	}
	var exp time.Time
	if v, ok := raw["expirationDateTime"].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, nil, gerr(400, "InvalidRequest", "Invalid expirationDateTime '%s'.", v)
		}
		max := maxDriveSub
		if s.kind == "mail" {
			max = maxMailSub
		}
		now := e.clk.Now()
		if !t.After(now) {
			return 0, nil, gerr(400, "InvalidRequest", "Subscription expiration date time must be in the future.")
		}
		if t.Sub(now) > max {
			return 0, nil, gerr(400, "ExtensionError", "Subscription expiration can only be %d minutes in the future.", int(max/time.Minute))
		}
		exp = t
	}
	nu, _ := raw["notificationUrl"].(string)
	if nu != "" && nu != s.notifyURL {
		if ge := e.handshake(nu, timeout); ge != nil {
			return 0, nil, ge
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !exp.IsZero() {
		s.expires = exp
	}
	if nu != "" {
		s.notifyURL = nu
	}
	return 200, e.subJSON(s, c.base), nil
}

// subDelete is DELETE /subscriptions/{sid}: 204.
func (e *Emulator) subDelete(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.liveSub(c.r.PathValue("sid")); s == nil {
		return 0, nil, errSubNotFound
	}
	delete(e.subs.byID, c.r.PathValue("sid"))
	return http.StatusNoContent, nil, nil
}

// subReauthorize is POST /subscriptions/{sid}/reauthorize: 204 (the answer to
// reauthorizationRequired; a renewal by PATCH does as well).
func (e *Emulator) subReauthorize(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.liveSub(c.r.PathValue("sid")) == nil {
		return 0, nil, errSubNotFound
	}
	return http.StatusNoContent, nil, nil
}

// notifyDrive queues an "updated" notification to each live subscription on the drive's root.
// OneDrive's notifications carry no resource data: the subscriber runs delta (modelled: the
// resource is the subscription's). Called with e.mu held.
func (e *Emulator) notifyDrive(d *drive) {
	for _, s := range e.liveSubs() {
		if s.kind == "drive" && s.driveID == d.id {
			e.deliver(s, s.notifyURL, map[string]any{"subscriptionId": s.id, "subscriptionExpirationDateTime": s.expires.UTC().Format(time.RFC3339Nano),
				"changeType": "updated", "resource": s.resource, "clientState": s.clientState, "tenantId": e.o.TenantID})
		}
	}
}

// notifyMail queues a notification of a created or deleted sent message to each live
// subscription on the mailbox's sent items asking for that change type, with Outlook's
// resource data ({"@odata.type","@odata.id","@odata.etag","id"}). Called with e.mu held.
func (e *Emulator) notifyMail(u *user, m *message, change string) {
	for _, s := range e.liveSubs() {
		if s.kind != "mail" || s.userID != u.id || !s.types[change] {
			continue
		}
		res := "Users/" + u.id + "/Messages/" + m.id
		e.deliver(s, s.notifyURL, map[string]any{"subscriptionId": s.id, "subscriptionExpirationDateTime": s.expires.UTC().Format(time.RFC3339Nano),
			"changeType": change, "resource": res, "clientState": s.clientState, "tenantId": e.o.TenantID,
			"resourceData": map[string]any{"@odata.type": "#Microsoft.Graph.Message", "@odata.id": res, "@odata.etag": "W/\"" + m.changeKey + "\"", "id": m.id}})
	}
}

// liveSubs is the live subscriptions in id order. Called with e.mu held.
func (e *Emulator) liveSubs() []*gsub {
	var out []*gsub
	for id := range e.subs.byID {
		if s := e.liveSub(id); s != nil {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Lifecycle events (lifecycleEventType).
const (
	LifecycleReauthorizationRequired = "reauthorizationRequired"
	LifecycleSubscriptionRemoved     = "subscriptionRemoved"
	LifecycleMissed                  = "missed"
)

// SendLifecycle sends a lifecycle notification of kind to every live subscription with a
// lifecycleNotificationUrl that gets it: message subscriptions all three, driveItem ones
// reauthorizationRequired only (subscriptionRemoved and missed are documented for Outlook and
// Teams resources). subscriptionRemoved also removes the subscription. It returns how many were
// sent.
func (e *Emulator) SendLifecycle(kind string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.liveSubs() {
		if s.lifecycleURL == "" || (s.kind == "drive" && kind != LifecycleReauthorizationRequired) {
			continue
		}
		e.deliver(s, s.lifecycleURL, map[string]any{"subscriptionId": s.id, "subscriptionExpirationDateTime": s.expires.UTC().Format(time.RFC3339Nano),
			"tenantId": e.o.TenantID, "clientState": s.clientState, "lifecycleEvent": kind})
		if kind == LifecycleSubscriptionRemoved {
			delete(e.subs.byID, s.id)
		}
		n++
	}
	return n
}

// FailAfterCreate makes the next n subscription creations that succeed keep the subscription
// (live, validated, delivering) but answer 500 generalException, as Graph can when it fails after
// creating it: a client that takes the 500 at its word and creates again holds two subscriptions
// for one resource, one of them unknown to it.
func (e *Emulator) FailAfterCreate(n int) {
	e.mu.Lock()
	e.subs.createdButFail += n
	e.mu.Unlock()
}

// LosePushes drops the next n deliveries (notifications and lifecycle notifications) without
// sending them, as pushes lost on the way (a client recovers them with delta, or a "missed"
// lifecycle notification tells it to).
func (e *Emulator) LosePushes(n int) {
	e.mu.Lock()
	e.subs.lose += n
	e.mu.Unlock()
}

// deliver POSTs {"value":[n]} to url in the background: 2xx is delivered; any other answer, an
// error or no answer within Options.PushTimeout (3 s: Graph wants an answer "within 3 seconds")
// is a failure, retried Options.PushRetries times with backoff from Options.PushRetryBase,
// doubling (modelled: Graph retries "for up to 4 hours" with exponential backoff). Called with
// e.mu held.
func (e *Emulator) deliver(s *gsub, url string, n map[string]any) {
	if e.subs.lose > 0 {
		e.subs.lose--
		e.stats.PushLost++
		return
	}
	if s.clientState == "" {
		delete(n, "clientState")
	}
	body, _ := json.Marshal(map[string]any{"value": []any{n}})
	e.subs.wg.Add(1)
	go func() {
		defer e.subs.wg.Done()
		wait := e.o.PushRetryBase
		for attempt := 0; attempt <= e.o.PushRetries; attempt++ {
			if attempt > 0 {
				select {
				case <-time.After(wait):
				case <-e.subs.ctx.Done():
					return
				}
				wait *= 2
			}
			ctx, cancel := context.WithTimeout(e.subs.ctx, e.o.PushTimeout)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			resp, err := e.subs.httpc.Do(req)
			ok := false
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ok = resp.StatusCode >= 200 && resp.StatusCode < 300
			}
			cancel()
			e.mu.Lock()
			if ok {
				e.stats.PushDeliveries++
			} else {
				e.stats.PushFailures++
			}
			e.mu.Unlock()
			if ok || e.subs.ctx.Err() != nil {
				return
			}
		}
	}()
}

// Subscriptions returns the live subscriptions' ids, resources and clientStates (for tests).
func (e *Emulator) Subscriptions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.liveSubs() {
		out = append(out, fmt.Sprintf("%s %s", s.id, s.resource))
	}
	return out
}
