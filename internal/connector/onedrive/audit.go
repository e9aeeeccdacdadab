package onedrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
	"github.com/telltale-dev/telltale/internal/connector/kit/oauth"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// The Office 365 Management Activity API (vendor NOTES 3b and Corrections 3-5; the reference in
// ../shared/vendor/microsoft/o365-mgmt-api-reference.md): the tenant's Audit.SharePoint content,
// the source of who did what (downloads, views, the actors of deletes and shares), read as the
// connection's tenant stream "audit".

// DefaultManageURL is the Management Activity API's host (GCC: manage-gcc.office.com, GCC High:
// manage.office365.us, DoD: manage.protection.apps.mil).
const DefaultManageURL = "https://manage.office.com"

// PermActivityFeedRead is the Office 365 Management APIs application permission the audit stream
// needs (an API of its own in the Entra admin center, not Microsoft Graph).
const PermActivityFeedRead = "ActivityFeed.Read"

const (
	manageScope     = "https://manage.office.com/.default"
	keyManage       = "manage"
	keyManageToken  = "microsoft:token:manage"
	contentSP       = "Audit.SharePoint"
	auditKey        = "audit"
	auditEvery      = 5 * time.Minute
	auditWindow     = 24 * time.Hour     // the API's longest startTime..endTime
	auditRetention  = 7 * 24 * time.Hour // content is listed and fetched for 7 days
	auditRetainSlop = 10 * time.Minute   // stay this far inside the 7 days (clocks differ)
)

// The Management API lists content by when it became available, 60 to 90 minutes after the
// action typically, with "no guaranteed maximum latency" (NOTES 3b). Each poll reads the window
// [watermark - overlap, now]; records read twice are dropped by their Id (Spec.DedupeHorizon).
const defaultAuditOverlap = 3 * time.Hour

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// manageClient calls the Management Activity API with the app's manage.office.com token.
type manageClient struct {
	http   *httpx.Client
	s      *session
	tokens *oauth.Source
	root   string // {manage}/api/v1.0/{tenant}/activity/feed
}

func newManageClient(hc *httpx.Client, s *session, secret, base string) *manageClient {
	cfg := clientcredentials.Config{
		ClientID: s.clientID, ClientSecret: secret,
		TokenURL:  s.login + "/" + url.PathEscape(s.tenant) + "/oauth2/v2.0/token",
		Scopes:    []string{manageScope},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	return &manageClient{http: hc, s: s, root: base + "/api/v1.0/" + url.PathEscape(s.tenant) + "/activity/feed",
		tokens: oauth.ClientCredentials(cfg, oauth.Options{HTTP: hc, Key: keyManageToken, Clock: s.deps.Clock})}
}

// afError is the API's error answer {"error":{"code":"AF...","message"}}.
type afError struct {
	Status        int
	Code, Message string
}

func (e *afError) Error() string {
	return fmt.Sprintf("the Management Activity API answered %d %s: %s", e.Status, e.Code, e.Message)
}

func isAF(err error, code string) bool {
	var ae *afError
	return errors.As(err, &ae) && ae.Code == code
}

// classifyManage is httpx's rule for the Management API: AF429 is a throttle whatever its status
// (403: NOTES Corrections 5, classify by the code); the rest as usual.
func classifyManage(resp *http.Response, body []byte) httpx.Decision {
	if resp.Request != nil && strings.Contains(resp.Request.URL.Path, "/activity/feed/") && bytes.Contains(body, []byte(`"AF429"`)) {
		return httpx.RetryAfter
	}
	return httpx.DefaultClassify(resp, body)
}

// call sends one request to the API (a path under the root, or a URL the API gave under it) and
// returns the body and the NextPageUri header.
func (c *manageClient) call(ctx context.Context, method, pathOrURL string) ([]byte, string, error) {
	u := pathOrURL
	if strings.HasPrefix(u, "/") {
		u = c.root + u
	}
	if !strings.HasPrefix(u, c.root+"/") {
		return nil, "", fmt.Errorf("%w: onedrive: a Management Activity API link outside %s: %.80q", connector.ErrMalformed, c.root, u)
	}
	pu, err := url.Parse(u)
	if err != nil {
		return nil, "", fmt.Errorf("%w: onedrive: a Management Activity API link %.80q: %v", connector.ErrMalformed, u, err)
	}
	q := pu.Query()
	if publisher(q) == "" {
		// Always: without it requests share a global throttling pool (NOTES 3b).
		q.Set("PublisherIdentifier", c.s.tenant)
		pu.RawQuery = q.Encode()
	}
	for renewed := false; ; renewed = true {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, "", c.s.tokenError(err)
		}
		req, err := http.NewRequestWithContext(ctx, method, pu.String(), nil)
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, body, err := c.http.Do(ctx, keyManage, req, 256<<20)
		if err == nil {
			return body, resp.Header.Get("NextPageUri"), nil
		}
		var se *httpx.StatusError
		var te *httpx.ThrottledError
		switch {
		case errors.As(err, &te):
			return nil, "", fmt.Errorf("onedrive: %w", err)
		case !errors.As(err, &se):
			return nil, "", fmt.Errorf("onedrive: the Management Activity API: %w", err)
		}
		ae := &afError{Status: se.Code}
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(se.Body, &eb) == nil {
			ae.Code, ae.Message = eb.Error.Code, eb.Error.Message
		}
		switch {
		case ae.Code == "AF429":
			return nil, "", fmt.Errorf("onedrive: %w", httpx.Throttled(keyManage, c.s.deps.Clock.Now().Add(time.Minute), ae.Error()))
		case se.Code == http.StatusUnauthorized && ae.Code == "" && !renewed:
			c.tokens.Invalidate(tok) // expired: mint once more
			continue
		case se.Code == http.StatusUnauthorized && ae.Code == "":
			return nil, "", fmt.Errorf("%w: the Management Activity API refused a fresh token for application %s in tenant %s (%s): check the client secret, and that the app has the Office 365 Management APIs permission %s with admin consent", connector.ErrAuth, c.s.clientID, c.s.tenant, se.Status, PermActivityFeedRead)
		case ae.Code == "AF10001":
			return nil, "", fmt.Errorf("%w: %v: in the Entra admin center open App registrations > the app (client ID %s) > API permissions > Add a permission > Office 365 Management APIs > Application permissions, add %s and click 'Grant admin consent' (or open %s)", connector.ErrPermission, ae, c.s.clientID, PermActivityFeedRead, c.s.adminConsentURL())
		case ae.Code == "AF20013" || ae.Code == "AF20010":
			return nil, "", fmt.Errorf("%w: %v: set the Directory (tenant) ID to the tenant's GUID (Entra admin center > Identity > Overview)", connector.ErrAuth, ae)
		}
		return nil, "", ae
	}
}

// publisher is the PublisherIdentifier parameter, any case of the name.
func publisher(q url.Values) string {
	for k, v := range q {
		if strings.EqualFold(k, "PublisherIdentifier") && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// startSubscription enables the tenant's Audit.SharePoint subscription; AF20024 (already
// enabled) is success (NOTES Corrections 4).
func (c *manageClient) startSubscription(ctx context.Context) error {
	_, _, err := c.call(ctx, http.MethodPost, "/subscriptions/start?contentType="+contentSP)
	if err == nil || isAF(err, "AF20024") {
		return nil
	}
	return fmt.Errorf("onedrive: starting the Management Activity API subscription to %s: %w", contentSP, err)
}

// auditCursor is the audit stream's position: the watermark (every blob listed up to it when it
// was read has been read), the floor (the stream's start: the overlap never reaches before it)
// and, while a window is paged, the window and the NextPageUri to read next.
type auditCursor struct {
	Mark  time.Time `json:"w"`
	Floor time.Time `json:"f,omitzero"`
	Start time.Time `json:"s,omitzero"`
	End   time.Time `json:"e,omitzero"`
	Page  string    `json:"p,omitempty"`
}

func (c auditCursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Streams is the tenant's Management Activity API stream.
func (s *session) Streams() []connector.StreamSpec {
	return []connector.StreamSpec{{Key: auditKey, Every: auditEvery}}
}

// auditStart enables the subscription (content made while it is off is never listed) and starts
// the stream now: activity before the connection is the crawl's baseline.
func (s *session) auditStart(ctx context.Context) (string, error) {
	if err := s.checkTenantGUID(); err != nil {
		return "", err
	}
	if err := s.mgmt.startSubscription(ctx); err != nil {
		return "", err
	}
	now := s.deps.Clock.Now().UTC().Truncate(time.Second)
	return auditCursor{Mark: now, Floor: now}.String(), nil
}

func (s *session) checkTenantGUID() error {
	if !guidRe.MatchString(s.tenant) {
		return fmt.Errorf("%w: the Management Activity API needs the Directory (tenant) ID as a GUID, not %q: copy it from the Entra admin center > Identity > Overview > Tenant ID", connector.ErrAuth, s.tenant)
	}
	return nil
}

// auditChanges reads one page of content listing in the cursor's window (opening a window from
// the watermark when none is open: [watermark - overlap, now], at most 24 hours, within the 7
// days the API keeps content), fetches each listed blob and adapts its records (feed "audit").
// A subscription found off (AF20022) is started again. A watermark older than the 7 days is a
// resync: what was listed before then is gone.
func (s *session) auditChanges(ctx context.Context, pos string) (connector.ChangesPage, error) {
	var cur auditCursor
	if err := json.Unmarshal([]byte(pos), &cur); err != nil || cur.Mark.IsZero() {
		return connector.ChangesPage{}, fmt.Errorf("%w: onedrive: the audit stream's cursor %.80q is not one Telltale wrote", connector.ErrMalformed, pos)
	}
	if err := s.checkTenantGUID(); err != nil {
		return connector.ChangesPage{}, err
	}
	now := s.deps.Clock.Now().UTC().Truncate(time.Second)
	var out connector.ChangesPage
	if cur.Start.IsZero() {
		oldest := now.Add(-auditRetention + auditRetainSlop)
		start := cur.Mark.Add(-s.overlap)
		if start.Before(cur.Floor) {
			start = cur.Floor
		}
		if start.Before(oldest) {
			if cur.Mark.Before(oldest) && !cur.Floor.After(oldest) {
				out.Resync = &connector.Resync{Reason: connector.ResyncExpired, Since: oldest,
					Detail: fmt.Sprintf("the audit stream was last read up to %s; the Management Activity API keeps content 7 days, so what became available before %s cannot be read", cur.Mark.Format(time.RFC3339), oldest.Format(time.RFC3339))}
			}
			start = oldest
		}
		end := now
		if end.Sub(start) > auditWindow {
			end = start.Add(auditWindow)
		}
		if !end.After(start) {
			out.Next = pos
			return out, nil
		}
		cur.Start, cur.End, cur.Page = start, end, ""
	}
	if cur.Page != "" && graphkit.Foreign(s.mgmt.root, cur.Page) {
		// A page link of another manage_url (kept whole before links were kept relative): not
		// followed; the window is listed again from its start (records read again are dropped
		// as duplicates by their ids).
		cur.Page = ""
	}
	link := cur.Page
	if link == "" {
		link = "/subscriptions/content?contentType=" + contentSP + "&startTime=" + cur.Start.Format("2006-01-02T15:04:05") + "&endTime=" + cur.End.Format("2006-01-02T15:04:05")
	}
	body, next, err := s.mgmt.call(ctx, http.MethodGet, link)
	if isAF(err, "AF20022") {
		// The subscription is off (stopped by someone, or never started): start it; what was
		// made while it was off is never listed (said in the log, not silently).
		s.log.Warn("onedrive: the Audit.SharePoint subscription was off; starting it again", "tenant", s.tenant)
		if err := s.mgmt.startSubscription(ctx); err != nil {
			return connector.ChangesPage{}, err
		}
		body, next, err = s.mgmt.call(ctx, http.MethodGet, link)
	}
	if isAF(err, "AF20055") && cur.Page == "" {
		// A window the API refuses (clocks apart): start again from the watermark next time.
		s.log.Warn("onedrive: the Management Activity API refused the audit window; reading again at the next poll", "start", cur.Start, "end", cur.End, "err", err)
		out.Next = auditCursor{Mark: cur.Mark, Floor: cur.Floor}.String()
		return out, nil
	}
	if err != nil {
		return connector.ChangesPage{}, fmt.Errorf("onedrive: listing audit content: %w", err)
	}
	var blobs []struct {
		ContentURI     string `json:"contentUri"`
		ContentID      string `json:"contentId"`
		ContentCreated string `json:"contentCreated"`
	}
	if err := json.Unmarshal(body, &blobs); err != nil {
		return connector.ChangesPage{}, fmt.Errorf("%w: onedrive: the audit content listing: %v", connector.ErrMalformed, err)
	}
	var raws []rawAudit
	for _, b := range blobs {
		data, _, err := s.mgmt.call(ctx, http.MethodGet, b.ContentURI)
		if isAF(err, "AF20050") || isAF(err, "AF20051") || isAF(err, "AF20052") {
			// Listed but gone (older than 7 days) or unknown: nothing to read; said, not fatal.
			s.log.Warn("onedrive: an audit content blob could not be read", "content", b.ContentID, "err", err)
			continue
		}
		if err != nil {
			return connector.ChangesPage{}, fmt.Errorf("onedrive: reading audit content %s: %w", b.ContentID, err)
		}
		var recs []json.RawMessage
		if err := json.Unmarshal(data, &recs); err != nil {
			out.Records = append(out.Records, connector.Record{VendorID: "undecodable-blob:" + b.ContentID, Skip: SkipUndecodable})
			s.log.Warn("onedrive: an audit content blob is not a JSON array", "content", b.ContentID, "err", err)
			continue
		}
		// The next poll reads from the end of this window less the overlap: a blob listed after
		// that is listed again then.
		created, err := time.Parse(time.RFC3339Nano, b.ContentCreated)
		again := err == nil && created.After(cur.End.Add(-s.overlap).Add(time.Minute))
		for _, r := range recs {
			raws = append(raws, rawAudit{raw: r, seenAgain: again})
		}
	}
	recs, err := s.adaptAudit(ctx, raws)
	if err != nil {
		return connector.ChangesPage{}, err
	}
	for _, r := range recs {
		// Content is listed by when it became available, an hour or more after the action: an
		// action before the stream started (the crawl's baseline, or a time the connection was
		// deauthorized) is not collected.
		if len(r.Events) > 0 && r.Events[0].Timestamp.Before(cur.Floor) {
			r.Events, r.Skip = nil, SkipBeforeStart
		}
		out.Records = append(out.Records, r)
	}
	switch {
	case next != "":
		// Relative to the API's URL, so it follows the connection to another manage_url; one
		// outside it is refused now rather than stored.
		if cur.Page, err = graphkit.Rel(s.mgmt.root, next); err != nil {
			return connector.ChangesPage{}, fmt.Errorf("onedrive: listing audit content: %w", err)
		}
		out.Next, out.More = cur.String(), true
	case now.Sub(cur.End) > auditEvery:
		// The window was cut at 24 hours (a stream behind): the next one follows at once.
		out.Next, out.More = auditCursor{Mark: cur.End, Floor: cur.Floor}.String(), true
	default:
		out.Next = auditCursor{Mark: cur.End, Floor: cur.Floor}.String()
	}
	return out, nil
}
