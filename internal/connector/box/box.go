package box

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Defaults.
const (
	DefaultAPIURL    = "https://api.box.com"
	DefaultRateLimit = 1000 // Box's general limit: requests per minute per user
	// streamRetention is how long admin_logs_streaming keeps events; an older position is re-read
	// from admin_logs (kept a year) instead.
	streamRetention = 14 * 24 * time.Hour
	// backfillOverlap re-reads this much before the last successful poll on a resync.
	backfillOverlap = time.Hour
	// webhookMaxAge: deliveries with an older BOX-DELIVERY-TIMESTAMP are refused (Box's guidance).
	webhookMaxAge = 10 * time.Minute
	pageLimit     = 1000 // users, folder items
	eventsLimit   = 500  // events
)

// Connector is the Box data connector.
type Connector struct{}

var _ connector.Connector = Connector{}

// New returns the Box connector.
func New() Connector { return Connector{} }

// Spec declares the Box settings, permissions and setup steps.
func (Connector) Spec() connector.Spec {
	return connector.Spec{
		Service: "box", Title: "Box", ServiceType: "cloud",
		Hashes: []string{"sha1"}, // file records carry sha1; MD5 and SHA-256 are downloaded
		Fields: []connector.Field{
			{Name: "enterprise_id", Label: "Enterprise ID", Required: true, Tenant: true,
				Help: "Box Admin Console > Account & Billing > Account Information > Enterprise ID."},
			{Name: "client_id", Label: "Client ID", Required: true,
				Help: "Developer Console > your Platform App > Configuration > OAuth 2.0 Credentials."},
			{Name: "client_secret", Label: "Client secret", Required: true, Secret: true,
				Help: "Next to the client ID; Box asks for two-factor authentication to show it."},
			{Name: "admin_email", Label: "Admin email", Required: true,
				Help: "The Box admin who authorized the app; shown in the connection details for whom to call."},
			{Name: "webhook_primary_key", Label: "Webhook primary signature key", Secret: true,
				Help: "Optional. Developer Console > your app > Webhooks > Manage signature keys. With it, Box webhook deliveries cut latency; polling stays the safety net."},
			{Name: "webhook_secondary_key", Label: "Webhook secondary signature key", Secret: true,
				Help: "Optional. The second key, so keys can be rotated without refusing deliveries."},
			{Name: "app_service_id", Label: "App service ID", Advanced: true,
				Help: "Optional. The service ID Box shows for this app in enterprise events (additional_details.service_id). Downloads Telltale makes to hash content are then not recorded as the user's downloads; the client ID is always matched."},
			{Name: "api_url", Label: "API URL", Default: DefaultAPIURL, Advanced: true, URL: true,
				Help: "Only for a proxy or the built-in emulator."},
			{Name: "rate_limit", Label: "Requests per minute per user", Default: strconv.Itoa(DefaultRateLimit), Advanced: true,
				Help: "Box allows 1000 requests per minute per user; Telltale paces itself just below."},
		},
		Permissions: []connector.Permission{
			{Name: "Read all files and folders stored in Box", Why: "to index every in-scope drive and read content for MD5/SHA-256 hashes (R3.2, R3.10); Telltale never writes, moves or deletes content (R1.12)"},
			{Name: "Manage users", Why: "to list the enterprise's users and their status, so in-scope drives are found and inactive users skipped (R3.1, R3.9); Telltale changes no user"},
			{Name: "Manage groups", Why: "to resolve a groups scope CSV into members and follow membership changes (R2.5-R2.7)"},
			{Name: "Manage enterprise properties", Why: "to read the enterprise event stream (admin_logs_streaming and admin_logs), where all file activity is recorded"},
			{Name: "Make API calls using the as-user header", Why: "to list each user's folders as that user during indexing; Box shows a user's files only to that user or their collaborators"},
			{Name: "App Access Level: App + Enterprise Access, Client Credentials Grant", Why: "a server-to-server app with no user sign-in, authorized once by an admin"},
		},
		Steps: []string{
			"In the Box Developer Console, create a Platform App (Custom App) with Server Authentication (Client Credentials Grant).",
			"Under Configuration set App Access Level to App + Enterprise Access, enable the scopes listed below and Advanced Feature \"Make API calls using the as-user header\", and save.",
			"In the Box Admin Console open Integrations > Platform Apps Manager, add the app by its client ID and authorize it (re-authorize after changing scopes).",
			"Copy the client ID, client secret (needs 2FA) and your enterprise ID into Telltale; optionally the webhook signature keys.",
		},
		DiscoveryInterval: 5 * time.Minute, // new Box drives are found within minutes (R3.4)
		PollInterval:      5 * time.Minute,
		DriveLimit:        500000, // R1.9: Box connections monitor up to 500,000 user drives
		// A resync re-reads up to the 14 days admin_logs_streaming keeps, and Box may repeat records
		// within them.
		DedupeHorizon: 14 * 24 * time.Hour,
	}
}

// Open starts a session. It does not call Box.
func (c Connector) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	sp := c.Spec()
	if err := sp.Validate(cfg); err != nil {
		return nil, err
	}
	deps = deps.WithDefaults()
	base := strings.TrimRight(cfg.Value(sp, "api_url"), "/")
	var guard *httpx.Guard
	if base != DefaultAPIURL {
		guard = &httpx.Guard{AllowLoopback: deps.AllowLoopback}
		if err := guard.CheckURL(base); err != nil {
			return nil, fmt.Errorf("box: api_url: %w", err)
		}
	}
	rate, err := strconv.Atoi(cfg.Value(sp, "rate_limit"))
	if err != nil || rate < 0 {
		return nil, fmt.Errorf("box: rate_limit %q is not a number of requests per minute", cfg.Value(sp, "rate_limit"))
	}
	enterprise := cfg.TenantID
	if v := cfg.Value(sp, "enterprise_id"); v != "" {
		enterprise = v
	}
	onThrottle := deps.OnThrottle
	ho := httpx.Options{
		Timeout: 60 * time.Second, Guard: guard, Log: deps.Log, UserAgent: "telltale-box/1",
		OnThrottle: func(_ string, until time.Time) {
			if onThrottle != nil {
				onThrottle(until)
			}
		},
	}
	if deps.Sleep != nil && deps.Clock != nil {
		// Waits (Retry-After fences, backoff) run on the injected clock: both or neither.
		ho.Now, ho.Sleep = deps.Clock.Now, deps.Sleep
	}
	hc := httpx.New(ho)
	if rate > 0 {
		// Pace every principal just under Box's per-user limit so that 429s stay rare (R3.7).
		hc.SetRate("", float64(rate)*0.97, 1)
	}
	s := &session{
		api:  newAPIClient(hc, base, enterprise, cfg.Value(sp, "client_id"), cfg.Value(sp, "client_secret"), deps.Clock),
		deps: deps, clock: deps.Clock, log: deps.Log,
		keys: []string{cfg.Value(sp, "webhook_primary_key"), cfg.Value(sp, "webhook_secondary_key")},
		self: map[string]bool{cfg.Value(sp, "client_id"): true},
	}
	if id := cfg.Value(sp, "app_service_id"); id != "" {
		s.self[id] = true
	}
	return s, nil
}

type session struct {
	api   *apiClient
	deps  connector.Deps
	clock nower
	log   *slog.Logger
	keys  []string
	self  map[string]bool // service ids of this app: its own content reads are not user activity
}

var _ connector.Session = (*session)(nil)

// ownRead reports a download or preview Telltale itself made (reading content to hash it): Box
// records it as the impersonated user's activity, with the app as the service.
func (s *session) ownRead(rec Record) bool {
	switch rec.EventType {
	case "DOWNLOAD", "PREVIEW", "ITEM_DOWNLOAD", "ITEM_PREVIEW":
	default:
		return false
	}
	id := fmt.Sprint(rec.AdditionalDetails["service_id"])
	return rec.AdditionalDetails["service_id"] != nil && s.self[id]
}

func (s *session) Close() error { return nil }

// Verify gets a token and reads the enterprise's users and event stream: the calls collection needs.
func (s *session) Verify(ctx context.Context) (string, error) {
	if _, err := s.api.accessToken(ctx, true); err != nil {
		return "", err
	}
	var users apiUsers
	if err := s.api.getJSON(ctx, "/users", url.Values{"limit": {"1"}, "usemarker": {"true"}, "fields": {"id,login,status"}}, "", &users); err != nil {
		if isStatus(err, http.StatusForbidden) {
			return "", fmt.Errorf("%w: the app cannot list users (%v): enable the \"Manage users\" scope, then re-authorize the app in the Admin Console", connector.ErrPermission, err)
		}
		return "", err
	}
	var ev apiEvents
	if err := s.api.getJSON(ctx, "/events", url.Values{"stream_type": {"admin_logs_streaming"}, "stream_position": {"now"}}, "", &ev); err != nil {
		if isStatus(err, http.StatusForbidden) {
			return "", fmt.Errorf("%w: the app cannot read enterprise events (%v): enable the \"Manage enterprise properties\" scope, then re-authorize the app in the Admin Console", connector.ErrPermission, err)
		}
		return "", err
	}
	if len(users.Entries) > 0 {
		u := users.Entries[0]
		var items apiItems
		err := s.api.getJSON(ctx, "/folders/0/items", url.Values{"limit": {"1"}, "usemarker": {"true"}, "fields": {"id"}}, u.ID, &items)
		if err != nil && (isStatus(err, http.StatusForbidden, http.StatusBadRequest) || errors.Is(err, connector.ErrPermission)) {
			return "", fmt.Errorf("%w: the app cannot act as users (%v): enable Advanced Feature \"Make API calls using the as-user header\", then re-authorize the app in the Admin Console", connector.ErrPermission, err)
		}
	}
	return s.api.enterprise, nil
}

// Discover pages the enterprise's users and emits the active, in-scope ones as drives.
func (s *session) Discover(ctx context.Context, scope connector.Scope, emit func([]connector.Drive) error) (connector.Discovery, error) {
	var res connector.Discovery
	want := func(apiUser) bool { return true }
	switch scope.Kind {
	case "users":
		set := map[string]bool{}
		for _, u := range scope.Users {
			set[strings.ToLower(strings.TrimSpace(u))] = true
		}
		want = func(u apiUser) bool { return set[strings.ToLower(u.Login)] }
	case "groups":
		members, missing, err := s.groupMembers(ctx, scope.Groups)
		if err != nil {
			return res, err
		}
		res.MissingGroups = missing
		want = func(u apiUser) bool { return members[u.ID] }
	}
	marker := ""
	guard := paging.New("box users", 0)
	for {
		q := url.Values{"limit": {strconv.Itoa(pageLimit)}, "usemarker": {"true"}, "user_type": {"managed"}, "fields": {"id,name,login,status"}}
		if marker != "" {
			q.Set("marker", marker)
		}
		var page apiUsers
		if err := s.api.getJSON(ctx, "/users", q, "", &page); err != nil {
			return res, fmt.Errorf("box: listing users: %w", err)
		}
		var ds []connector.Drive
		for _, u := range page.Entries {
			if !want(u) {
				continue
			}
			if u.Status != "" && u.Status != "active" {
				// inactive: deactivated; cannot_delete_edit(_upload): the admin restricted the user.
				st := connector.PersonBlocked
				if u.Status == "inactive" {
					st = connector.PersonInactive
				}
				res.NoteInactive(u.Login, st, "Box status "+u.Status)
				continue
			}
			ds = append(ds, connector.Drive{VendorID: u.ID, Kind: "user", Owner: strings.ToLower(u.Login), Name: u.Name})
		}
		if len(ds) > 0 {
			if err := emit(ds); err != nil {
				return res, err
			}
		}
		if page.NextMarker == "" {
			return res, nil
		}
		if err := guard.Next(page.NextMarker); err != nil {
			return res, err
		}
		marker = page.NextMarker
	}
}

// groupMembers resolves scope group names (exact, as R2.5 asks) to member user ids.
func (s *session) groupMembers(ctx context.Context, names []string) (map[string]bool, []string, error) {
	wanted := map[string]bool{}
	for _, n := range names {
		wanted[n] = true
	}
	found := map[string]string{} // name -> id
	guard := paging.New("box groups", 0)
	for offset := 0; ; {
		var page apiGroups
		q := url.Values{"limit": {strconv.Itoa(pageLimit)}, "offset": {strconv.Itoa(offset)}, "fields": {"id,name"}}
		if err := s.api.getJSON(ctx, "/groups", q, "", &page); err != nil {
			if isStatus(err, http.StatusForbidden) {
				return nil, nil, fmt.Errorf("%w: the app cannot list groups (%v): enable the \"Manage groups\" scope and re-authorize the app", connector.ErrPermission, err)
			}
			return nil, nil, fmt.Errorf("box: listing groups: %w", err)
		}
		for _, g := range page.Entries {
			if wanted[g.Name] {
				found[g.Name] = g.ID
			}
		}
		offset += len(page.Entries)
		if len(page.Entries) == 0 || int64(offset) >= page.TotalCount {
			break
		}
		if err := guard.Next(strconv.Itoa(offset)); err != nil {
			return nil, nil, err
		}
	}
	members := map[string]bool{}
	var missing []string
	for _, n := range names {
		id, ok := found[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		guard := paging.New("box members of group "+strconv.Quote(n), 0)
		for offset := 0; ; {
			var page apiMemberships
			q := url.Values{"limit": {strconv.Itoa(pageLimit)}, "offset": {strconv.Itoa(offset)}}
			if err := s.api.getJSON(ctx, "/groups/"+url.PathEscape(id)+"/memberships", q, "", &page); err != nil {
				return nil, nil, fmt.Errorf("box: listing members of group %q: %w", n, err)
			}
			for _, m := range page.Entries {
				members[m.User.ID] = true
			}
			offset += len(page.Entries)
			if len(page.Entries) == 0 || int64(offset) >= page.TotalCount {
				break
			}
			if err := guard.Next(strconv.Itoa(offset)); err != nil {
				return nil, nil, err
			}
		}
	}
	return members, missing, nil
}

// crawl is the baseline crawl cursor of one drive: the folder being listed, its marker, and the
// folders still to list (with their paths).
type crawl struct {
	Folder  crawlFolder   `json:"f"`
	Marker  string        `json:"m,omitempty"`
	Pending []crawlFolder `json:"q,omitempty"`
	Started bool          `json:"s"`
}

type crawlFolder struct {
	ID   string `json:"i"`
	Path string `json:"p"`
}

// itemFields are the fields the crawl asks for (asking for fields drops Box's default set).
const itemFields = "type,id,name,size,sha1,modified_at,owned_by"

// Index lists one page of one folder as the drive's user (R3.2). Files and folders the user does
// not own are left to their owner's drive (R2.8).
func (s *session) Index(ctx context.Context, d connector.Drive, cursor string) (connector.IndexPage, error) {
	var cr crawl
	if cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &cr); err != nil {
			return connector.IndexPage{}, fmt.Errorf("%w: box crawl cursor: %v", connector.ErrMalformed, err)
		}
	}
	if !cr.Started {
		cr = crawl{Folder: crawlFolder{ID: "0", Path: ""}, Started: true}
	}
	q := url.Values{"limit": {strconv.Itoa(pageLimit)}, "usemarker": {"true"}, "fields": {itemFields}}
	if cr.Marker != "" {
		q.Set("marker", cr.Marker)
	}
	var page apiItems
	err := s.api.getJSON(ctx, "/folders/"+url.PathEscape(cr.Folder.ID)+"/items", q, d.VendorID, &page)
	switch {
	case err != nil && cr.Folder.ID == "0" && (isStatus(err, http.StatusForbidden, http.StatusNotFound) || errors.Is(err, connector.ErrPermission)):
		return connector.IndexPage{}, fmt.Errorf("%w: Box refused to list %s's files as that user: %v", connector.ErrInaccessible, d.Owner, err)
	case err != nil && isStatus(err, http.StatusNotFound):
		page = apiItems{} // the folder was deleted meanwhile: its files are gone too
	case err != nil:
		return connector.IndexPage{}, fmt.Errorf("box: listing folder %s of %s: %w", cr.Folder.ID, d.Owner, err)
	}
	var out connector.IndexPage
	for _, it := range page.Entries {
		owner := ""
		if it.OwnedBy != nil {
			owner = strings.ToLower(it.OwnedBy.Login)
			if it.OwnedBy.ID != "" && it.OwnedBy.ID != d.VendorID {
				continue // shared into this drive: indexed with its owner's drive
			}
		}
		p := cr.Folder.Path + "/" + it.Name
		switch it.Type {
		case "folder":
			cr.Pending = append(cr.Pending, crawlFolder{ID: it.ID, Path: p})
		case "file":
			f := connector.File{VendorID: it.ID, Name: it.Name, Path: p, Size: it.Size, Owner: owner, Hash: event.Hash{SHA1: event.HexDigest(it.SHA1, 40)}}
			if f.Owner == "" {
				f.Owner = d.Owner
			}
			if it.ModifiedAt != nil {
				f.Modified = it.ModifiedAt.UTC()
			}
			out.Files = append(out.Files, f)
		}
	}
	if page.NextMarker != nil && *page.NextMarker != "" {
		cr.Marker = *page.NextMarker
	} else if len(cr.Pending) > 0 {
		cr.Folder, cr.Pending, cr.Marker = cr.Pending[0], cr.Pending[1:], ""
	} else {
		out.Done = true
	}
	b, _ := json.Marshal(cr)
	out.Next = string(b)
	return out, nil
}

// streamCursor is the connector's activity cursor: the admin_logs_streaming position and when it was
// last read, or, during a resync, the admin_logs window being re-read and the streaming position to
// continue from afterwards.
type streamCursor struct {
	Pos  string    `json:"p"`
	At   time.Time `json:"t"`
	Back *backfill `json:"b,omitempty"`
}

type backfill struct {
	After, Before time.Time
	Pos           string // admin_logs paging position within the window
}

// boxStream is Box's one activity stream: the enterprise's admin_logs_streaming.
var boxStream = connector.StreamSpec{Key: "admin_logs_streaming"}

// Streams is the enterprise event stream, Box's only one.
func (s *session) Streams() []connector.StreamSpec { return []connector.StreamSpec{boxStream} }

// DriveStreams: none; the enterprise stream covers every user's drive.
func (s *session) DriveStreams(connector.Drive) []connector.StreamSpec { return nil }

func (s *session) StreamStart(ctx context.Context, _ connector.StreamSpec) (string, error) {
	pos, err := s.now(ctx)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(streamCursor{Pos: pos, At: s.clock.Now()})
	return string(b), nil
}

func (s *session) now(ctx context.Context) (string, error) {
	var ev apiEvents
	if err := s.api.getJSON(ctx, "/events", url.Values{"stream_type": {"admin_logs_streaming"}, "stream_position": {"now"}}, "", &ev); err != nil {
		return "", fmt.Errorf("box: reading the event stream position: %w", err)
	}
	pos, ok := ev.position()
	if !ok {
		return "", fmt.Errorf("%w: box events answer without next_stream_position", connector.ErrMalformed)
	}
	return pos, nil
}

// Changes reads one page of enterprise events: admin_logs_streaming normally, admin_logs while
// re-reading a window after the stream position expired.
func (s *session) Changes(ctx context.Context, _ connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
	var cur streamCursor
	if err := json.Unmarshal([]byte(cursor), &cur); err != nil || cur.Pos == "" {
		return connector.ChangesPage{}, fmt.Errorf("%w: box stream cursor %q", connector.ErrMalformed, cursor)
	}
	now := s.clock.Now()
	if cur.Back == nil && !cur.At.IsZero() && now.Sub(cur.At) > streamRetention-24*time.Hour {
		return s.resync(ctx, cur, connector.ResyncExpired, fmt.Sprintf("the Box stream position was last read %s ago and Box keeps the stream %s", now.Sub(cur.At).Round(time.Minute), streamRetention))
	}
	if cur.Back != nil {
		return s.backfillPage(ctx, cur)
	}
	q := url.Values{"stream_type": {"admin_logs_streaming"}, "stream_position": {cur.Pos}, "limit": {strconv.Itoa(eventsLimit)}}
	var ev apiEvents
	if err := s.api.getJSON(ctx, "/events", q, "", &ev); err != nil {
		if isStatus(err, http.StatusBadRequest, http.StatusGone) {
			return s.resync(ctx, cur, connector.ResyncRefused, fmt.Sprintf("Box refused the stream position (%v)", err))
		}
		return connector.ChangesPage{}, fmt.Errorf("box: reading admin_logs_streaming: %w", err)
	}
	return s.page(ctx, ev, func(pos string) streamCursor { return streamCursor{Pos: pos, At: now} }, cur)
}

// resync starts re-reading from admin_logs since shortly before the last successful read: no gap,
// and the records read twice are dropped by their event_id.
func (s *session) resync(ctx context.Context, cur streamCursor, reason connector.ResyncReason, why string) (connector.ChangesPage, error) {
	pos, err := s.now(ctx)
	if err != nil {
		return connector.ChangesPage{}, err
	}
	after := cur.At.Add(-backfillOverlap)
	next := streamCursor{Pos: pos, At: s.clock.Now(), Back: &backfill{After: after, Before: s.clock.Now()}}
	b, _ := json.Marshal(next)
	return connector.ChangesPage{Next: string(b), More: true,
		Resync: &connector.Resync{Reason: reason, Detail: why + "; re-reading the events from the admin_logs history", Since: after}}, nil
}

func (s *session) backfillPage(ctx context.Context, cur streamCursor) (connector.ChangesPage, error) {
	q := url.Values{"stream_type": {"admin_logs"}, "limit": {strconv.Itoa(eventsLimit)},
		"created_after": {cur.Back.After.Format(time.RFC3339)}, "created_before": {cur.Back.Before.Format(time.RFC3339)}}
	if cur.Back.Pos != "" {
		q.Set("stream_position", cur.Back.Pos)
	}
	var ev apiEvents
	if err := s.api.getJSON(ctx, "/events", q, "", &ev); err != nil {
		return connector.ChangesPage{}, fmt.Errorf("box: reading admin_logs: %w", err)
	}
	return s.page(ctx, ev, func(pos string) streamCursor {
		if len(ev.Entries) == 0 {
			return streamCursor{Pos: cur.Pos, At: cur.Back.Before} // window done: continue streaming
		}
		b := *cur.Back
		b.Pos = pos
		return streamCursor{Pos: cur.Pos, At: cur.At, Back: &b}
	}, cur)
}

// page turns an events answer into records and the next cursor. A page is "more" until Box answers
// with an empty chunk (a short page does not mean the end).
func (s *session) page(ctx context.Context, ev apiEvents, next func(pos string) streamCursor, cur streamCursor) (connector.ChangesPage, error) {
	if ev.ChunkSize != int64(len(ev.Entries)) {
		return connector.ChangesPage{}, fmt.Errorf("%w: box events chunk_size %d but %d entries (truncated answer?)", connector.ErrMalformed, ev.ChunkSize, len(ev.Entries))
	}
	pos, ok := ev.position()
	if !ok {
		if len(ev.Entries) > 0 {
			return connector.ChangesPage{}, fmt.Errorf("%w: box events answer without next_stream_position", connector.ErrMalformed)
		}
		pos = cur.Pos
	}
	nc := next(pos)
	b, _ := json.Marshal(nc)
	out := connector.ChangesPage{Next: string(b), More: len(ev.Entries) > 0 || (cur.Back != nil && nc.Back == nil)}
	recs, err := s.records(ctx, ev.Entries)
	if err != nil {
		return connector.ChangesPage{}, err
	}
	out.Records = recs
	return out, nil
}

// records adapts raw events, looking up what the adapter needs beyond the record: whether the file
// was indexed before (UPLOAD of a known file is a new version), its path, and the access of a
// shared link that was created or changed.
func (s *session) records(ctx context.Context, raws []json.RawMessage) ([]connector.Record, error) {
	type pending struct {
		rec   Record
		first []event.FileEvent
	}
	ps := make([]pending, 0, len(raws))
	out := make([]connector.Record, 0, len(raws))
	var ids []string
	for _, raw := range raws {
		rec, err := DecodeRecord(raw)
		if err != nil {
			s.log.Warn("box: malformed event record skipped", "err", err)
			out = append(out, connector.Record{Skip: "malformed"})
			continue
		}
		if s.ownRead(rec) {
			out = append(out, connector.Record{VendorID: rec.EventID, Skip: "own_content_read"})
			continue
		}
		evs, skip, err := Adapt(rec, nil)
		if err != nil || skip != "" || len(evs) == 0 {
			if skip == "" {
				skip = "unusable"
			}
			out = append(out, connector.Record{VendorID: rec.EventID, Skip: skip})
			continue
		}
		ps = append(ps, pending{rec, evs})
		if id := evs[0].File.ID; id != "" && !strings.HasPrefix(id, "folder:") {
			ids = append(ids, id)
		}
	}
	known := map[string]connector.KnownFile{}
	if s.deps.Files != nil && len(ids) > 0 {
		k, err := s.deps.Files.Lookup(ctx, ids)
		if err != nil {
			return nil, err
		}
		known = k
	}
	for _, p := range ps {
		e := p.first[0]
		it := &Item{DriveID: e.File.DriveID}
		if k, ok := known[e.File.ID]; ok {
			it.Known, it.Path, it.Size, it.SHA1, it.OwnerLogin = true, k.Path, k.Size, k.SHA1, k.Owner
		}
		if e.Event.Action == event.ActionShared && e.Sharing.LinkScope == "" && len(e.Sharing.SharedWith) == 0 {
			it.LinkAccess = s.linkAccess(ctx, e)
		}
		evs, skip, err := Adapt(p.rec, it)
		if err != nil || len(evs) == 0 {
			out = append(out, connector.Record{VendorID: p.rec.EventID, Skip: "unusable:" + skip})
			continue
		}
		out = append(out, connector.Record{VendorID: p.rec.EventID, Events: evs, Drive: evs[0].File.DriveID})
	}
	return out, nil
}

// linkAccess reads the current access of an item's shared link (open, company, collaborators), ""
// when it cannot be read (the item is gone, or the link was removed since).
func (s *session) linkAccess(ctx context.Context, e event.FileEvent) string {
	kind, id := "files", e.File.ID
	if strings.HasPrefix(id, "folder:") {
		kind, id = "folders", strings.TrimPrefix(id, "folder:")
	}
	var it apiItem
	if err := s.api.getJSON(ctx, "/"+kind+"/"+url.PathEscape(id), url.Values{"fields": {"shared_link"}}, e.File.DriveID, &it); err != nil {
		s.log.Debug("box: shared link lookup failed", "item", e.File.ID, "err", err)
		return ""
	}
	if it.SharedLink == nil {
		return ""
	}
	return it.SharedLink.Access
}

// Content opens a file's bytes as its owner. Box files have no parts.
func (s *session) Content(ctx context.Context, ref connector.ContentRef) (io.ReadCloser, error) {
	if ref.Part != "" {
		return nil, fmt.Errorf("box: file %s has no part %q: Box content is whole files", ref.File, ref.Part)
	}
	return s.api.content(ctx, ref.Drive, ref.File)
}

// Deliver verifies a Box webhook v2 delivery: BOX-SIGNATURE-PRIMARY or -SECONDARY must be
// base64(HMAC-SHA256(key, body || BOX-DELIVERY-TIMESTAMP)), version 1, algorithm HmacSHA256, and the
// timestamp at most 10 minutes away from now. The signatures are computed before anything is judged
// (with a stand-in key when none is configured), so every refusal costs the same work.
//
// The delivery's identity is the body's id: Box keeps it across retries, and the signature covers
// the body. BOX-DELIVERY-ID is not used: Box changes it on every retry and it is not signed, so a
// replay could change it freely.
func (s *session) Deliver(_ context.Context, p connector.Push) (connector.Delivery, error) {
	h, body := p.Header, p.Body
	ts := h.Get("Box-Delivery-Timestamp")
	keys := make([]string, 0, 2)
	for _, k := range s.keys {
		if k != "" {
			keys = append(keys, k)
		}
	}
	configured := len(keys) > 0
	if !configured {
		keys = append(keys, webhookStandInKey, webhookStandInKey)
	}
	matched := false
	for _, k := range keys {
		want := []byte(webhookSignature(k, body, ts))
		for _, hdr := range []string{"Box-Signature-Primary", "Box-Signature-Secondary"} {
			if got := h.Get(hdr); got != "" && hmac.Equal([]byte(got), want) {
				matched = true
			}
		}
	}
	refuse := func(reason, format string, a ...any) (connector.Delivery, error) {
		return connector.Delivery{}, &connector.WebhookRefusal{Reason: reason, Detail: fmt.Sprintf(format, a...)}
	}
	if h.Get("Box-Signature-Version") != "1" || h.Get("Box-Signature-Algorithm") != "HmacSHA256" {
		return refuse(connector.WebhookMalformed, "unsupported Box signature version %s / algorithm %s", connector.EchoHeader(h.Get("Box-Signature-Version")), connector.EchoHeader(h.Get("Box-Signature-Algorithm")))
	}
	at, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return refuse(connector.WebhookMalformed, "BOX-DELIVERY-TIMESTAMP %s is not RFC 3339", connector.EchoHeader(ts))
	}
	if age := s.clock.Now().Sub(at); age > webhookMaxAge || age < -webhookMaxAge {
		return refuse(connector.WebhookStale, "delivery timestamp %s is more than %s away from now (replayed or clock skew)", ts, webhookMaxAge)
	}
	if !configured {
		return refuse(connector.WebhookNoKeys, "no webhook signature key is configured for this connection: add the keys from the Box Developer Console")
	}
	if !matched {
		return refuse(connector.WebhookBadSignature, "the Box signature does not match either configured key")
	}
	d := connector.Delivery{ID: webhookDeliveryID(body, ts), FreshUntil: at.Add(webhookMaxAge)}
	if id := webhookOf(body); id != "" {
		d.Notices = []connector.Notice{{Subscription: id}}
	}
	return d, nil
}

// webhookOf is the id of the webhook a signed delivery came through ("" when the body has none:
// every stream polls).
func webhookOf(body []byte) string {
	var ev struct {
		Webhook struct {
			ID string `json:"id"`
		} `json:"webhook"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return ""
	}
	return ev.Webhook.ID
}

// webhookStandInKey signs when no key is configured, only so that a refusal costs the same work.
const webhookStandInKey = "telltale-no-webhook-key-configured"

func webhookSignature(key string, body []byte, ts string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	mac.Write([]byte(ts))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// webhookDeliveryID is the body's webhook event id ("event:<id>"), or, for a body without one, the
// digest of what was signed ("signed:<sha256>").
func webhookDeliveryID(body []byte, ts string) string {
	var ev struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &ev) == nil && len(ev.ID) > 0 && string(ev.ID) != "null" && string(ev.ID) != `""` {
		var id string
		if json.Unmarshal(ev.ID, &id) != nil {
			id = string(ev.ID) // a number
		}
		return "event:" + id
	}
	sum := sha256.Sum256(append(append([]byte(nil), body...), ts...))
	return "signed:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

var _ connector.RecordReader = Connector{}

// ReadRecords reads Box event records (JSON lines, API pages or arrays) and adapts each without
// calling Box.
func (Connector) ReadRecords(r io.Reader, fn func(line int, rec connector.Record, err error) error) error {
	return ReadRecords(r, func(line int, rec Record, err error) error {
		if err != nil {
			return fn(line, connector.Record{}, err)
		}
		evs, skip, err := Adapt(rec, nil)
		if err != nil {
			return fn(line, connector.Record{VendorID: rec.EventID}, err)
		}
		out := connector.Record{VendorID: rec.EventID, Events: evs, Skip: skip}
		if len(evs) > 0 {
			out.Drive = evs[0].File.DriveID
		}
		return fn(line, out, nil)
	})
}

// webhookTriggers are the Box v2 triggers registered for push notifications: every file activity
// the stream records. Deliveries only make collection poll now; the stream stays the record.
var webhookTriggers = []string{"FILE.UPLOADED", "FILE.TRASHED", "FILE.RESTORED", "FILE.COPIED", "FILE.MOVED", "FILE.RENAMED",
	"FILE.DOWNLOADED", "FILE.PREVIEWED", "SHARED_LINK.CREATED", "SHARED_LINK.UPDATED", "SHARED_LINK.DELETED",
	"COLLABORATION.CREATED", "COLLABORATION.UPDATED", "COLLABORATION.REMOVED"}

var _ connector.Pusher = (*session)(nil)

// webhooksOf lists the webhooks this app registered as the user: "type:target id" -> webhook id.
func (s *session) webhooksOf(ctx context.Context, user string) (map[string]string, error) {
	out := map[string]string{}
	q := url.Values{"limit": {"200"}}
	guard := paging.New("box webhooks of user "+user, 0)
	for {
		var page apiWebhooks
		if err := s.api.getJSON(ctx, "/webhooks", q, user, &page); err != nil {
			return nil, fmt.Errorf("box: listing the webhooks of user %s: %w", user, err)
		}
		for _, w := range page.Entries {
			out[w.Target.Type+":"+w.Target.ID] = w.ID
		}
		if page.NextMarker == nil || *page.NextMarker == "" || len(page.Entries) == 0 {
			return out, nil
		}
		if err := guard.Next(*page.NextMarker); err != nil {
			return nil, err
		}
		q.Set("marker", *page.NextMarker)
	}
}

// pushes reports whether push can work: a public URL and a signature key to verify deliveries.
func (s *session) pushes(url string) bool {
	return url != "" && (s.keys[0] != "" || s.keys[1] != "")
}

// Subscribe registers webhooks on the top-level folders of the user's drive (Box allows none on
// the root folder), owned by the user, and returns them with those registered before (Box's list
// is the truth: a folder made since gets one, a webhook Box dropped is left out). Box pushes
// per folder but has one enterprise stream: every webhook wakes it. Nothing for the tenant, nor
// without a public URL and a signature key.
func (s *session) Subscribe(ctx context.Context, d connector.Drive, pushURL string, _ []connector.Subscription) ([]connector.Subscription, error) {
	if d.VendorID == "" || !s.pushes(pushURL) {
		return nil, nil
	}
	have, err := s.webhooksOf(ctx, d.VendorID)
	if err != nil {
		return nil, err
	}
	var root apiItems
	q := url.Values{"limit": {strconv.Itoa(pageLimit)}, "usemarker": {"true"}, "fields": {itemFields}}
	if err := s.api.getJSON(ctx, "/folders/0/items", q, d.VendorID, &root); err != nil {
		if isStatus(err, http.StatusForbidden, http.StatusNotFound) || errors.Is(err, connector.ErrPermission) {
			return nil, fmt.Errorf("%w: box: listing %s's top-level folders: %v", connector.ErrInaccessible, d.Owner, err)
		}
		return nil, fmt.Errorf("box: listing %s's top-level folders: %w", d.Owner, err)
	}
	var out []connector.Subscription
	sub := func(id, folder string) connector.Subscription {
		return connector.Subscription{ID: id, Drive: d.VendorID, Stream: boxStream.Key, Resource: "folder:" + folder}
	}
	n := 0
	var conflicts []string
	for _, it := range root.Entries {
		if it.Type != "folder" || (it.OwnedBy != nil && it.OwnedBy.ID != "" && it.OwnedBy.ID != d.VendorID) {
			continue
		}
		if n++; n > maxWebhooksPerUser {
			break
		}
		if id, ok := have["folder:"+it.ID]; ok {
			out = append(out, sub(id, it.ID))
			continue
		}
		var made struct {
			ID string `json:"id"`
		}
		body := map[string]any{"target": map[string]string{"id": it.ID, "type": "folder"}, "address": pushURL, "triggers": webhookTriggers}
		if err := s.api.postJSON(ctx, "/webhooks", body, &made, d.VendorID); err != nil {
			if isStatus(err, http.StatusConflict) {
				conflicts = append(conflicts, it.ID) // made meanwhile: looked up below
				continue
			}
			return out, fmt.Errorf("box: registering a webhook on %s's folder %s: %w", d.Owner, it.ID, err)
		}
		out = append(out, sub(made.ID, it.ID))
	}
	if len(conflicts) > 0 {
		// Box says the folder has our webhook already (made by a concurrent round): its id is
		// in the user's list now, and it gets a row like any other.
		again, err := s.webhooksOf(ctx, d.VendorID)
		if err != nil {
			return out, err
		}
		for _, f := range conflicts {
			if id, ok := again["folder:"+f]; ok {
				out = append(out, sub(id, f))
			}
		}
	}
	return out, nil
}

// Renew checks that a webhook still exists (Box webhooks do not expire, but Box deletes one whose
// folder is deleted, without telling).
func (s *session) Renew(ctx context.Context, sub connector.Subscription) (connector.Subscription, error) {
	var w struct {
		ID string `json:"id"`
	}
	err := s.api.getJSON(ctx, "/webhooks/"+url.PathEscape(sub.ID), nil, sub.Drive, &w)
	if isStatus(err, http.StatusNotFound) {
		return sub, fmt.Errorf("%w: box webhook %s of user %s", connector.ErrSubscriptionGone, sub.ID, sub.Drive)
	}
	if err != nil {
		return sub, fmt.Errorf("box: checking webhook %s of user %s: %w", sub.ID, sub.Drive, err)
	}
	return sub, nil
}

// Unsubscribe deletes a webhook as the user who registered it.
func (s *session) Unsubscribe(ctx context.Context, sub connector.Subscription) error {
	if err := s.api.deleteWebhook(ctx, sub.ID, sub.Drive); err != nil {
		return fmt.Errorf("box: removing webhook %s of user %s: %w", sub.ID, sub.Drive, err)
	}
	return nil
}

// maxWebhooksPerUser is Box's limit of webhooks per app per user.
const maxWebhooksPerUser = 1000
