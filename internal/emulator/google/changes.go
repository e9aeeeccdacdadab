package google

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// change is one entry of the changes log. before and after are the ids of the users whose corpus
// had the file before and after the change: a user sees the change if either holds them, as a
// removal if after does not.
type change struct {
	seq           int64
	at            time.Time
	fileID, drive string
	before, after map[string]bool
}

// corpus is the set of user ids that have f in their corpus now. Called with e.mu held.
func (e *Emulator) corpus(f *file) map[string]bool {
	m := map[string]bool{}
	for _, u := range e.users {
		if e.role(u, f) != "" {
			m[u.id] = true
		}
	}
	return m
}

// mutate applies fn to f and logs the change it makes, and the activity. Called with e.mu held.
func (e *Emulator) mutate(actor *user, f *file, name string, detail map[string]string, fn func()) {
	before, vis := e.corpus(f), e.visibility(f)
	fn()
	ch := &change{seq: e.nextSeq, at: e.clk.Now(), fileID: f.id, drive: f.drive, before: before, after: e.corpus(f)}
	e.nextSeq++
	e.changes = append(e.changes, ch)
	e.record(actor, f, name, true, detail)
	if aclEvent(name) {
		e.acts[len(e.acts)-1].OldVisibility = vis
	}
	e.notify(ch)
}

// record adds an Activity. Called with e.mu held.
func (e *Emulator) record(actor *user, f *file, name string, feed bool, detail map[string]string) {
	a := Activity{ID: fmt.Sprintf("act-%d", len(e.acts)+1), Name: name, At: e.clk.Now(), Actor: actor.email,
		FileID: f.id, FileName: f.name, DriveID: f.drive, Feed: feed, Detail: detail}
	if f.owner != nil {
		a.Owner = f.owner.email
	}
	e.reportFacts(&a, actor, f)
	a.Qualifier = e.uniqueQualifier(len(e.acts))
	e.acts = append(e.acts, a)
}

// sees says whether the user uid following a feed (driveID "" for the user's own, with includeAll
// for shared drive items too) gets ch, and whether as a removal. Called with e.mu held.
func (e *Emulator) sees(u *user, ch *change, driveID string, includeAll bool) (ok, removed bool) {
	f := e.files[ch.fileID]
	if driveID != "" {
		if ch.drive != driveID {
			return false, false
		}
		return true, f == nil || f.deleted
	}
	if ch.drive != "" && !includeAll {
		return false, false
	}
	if !ch.before[u.id] && !ch.after[u.id] {
		return false, false
	}
	return true, !ch.after[u.id] || f == nil || e.role(u, f) == ""
}

// changesStart is changes.getStartPageToken: the position after the last change (per user, or per
// shared drive with driveId and supportsAllDrives).
func (e *Emulator) changesStart(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	e.mu.Lock()
	defer e.mu.Unlock()
	if aerr := e.checkDriveFeed(c, q); aerr != nil {
		return 0, nil, aerr
	}
	return 200, map[string]any{"kind": "drive#startPageToken", "startPageToken": e.issue(c, q.Get("driveId"), e.nextSeq)}, nil
}

// issue returns the page token of position seq, given to the caller of a feed now: under
// Options.ChangeRetention a token not given again within it is refused (positionExpired). Called
// with e.mu held.
func (e *Emulator) issue(c *call, driveID string, seq int64) string {
	tok := strconv.FormatInt(seq, 10)
	if e.issued == nil {
		e.issued = map[string]time.Time{}
	}
	e.issued[issuedKey(c, driveID, tok)] = e.clk.Now()
	return tok
}

func issuedKey(c *call, driveID, tok string) string {
	who := ""
	if c.user != nil {
		who = c.user.email
	}
	return who + "|" + driveID + "|" + tok
}

// positionExpired: the token was last given to this caller longer than ChangeRetention ago.
// Called with e.mu held.
func (e *Emulator) positionExpired(c *call, driveID, tok string) bool {
	at, ok := e.issued[issuedKey(c, driveID, tok)]
	return ok && e.o.ChangeRetention > 0 && at.Before(e.clk.Now().Add(-e.o.ChangeRetention))
}

// checkDriveFeed checks driveId: a shared drive the caller is a member of, with supportsAllDrives.
// Called with e.mu held.
func (e *Emulator) checkDriveFeed(c *call, q url.Values) *apiError {
	if c.user == nil {
		return gerr(403, "forbidden", "The service account has no Drive of its own: impersonate a user (domain-wide delegation).")
	}
	id := q.Get("driveId")
	if id == "" {
		return nil
	}
	d := e.drivesBy[id]
	if d == nil || e.driveRole(c.user, d) == "" || !boolParam(q, "supportsAllDrives", false) {
		return gerr(404, "notFound", "Shared drive not found: %s", id).at("driveId", "parameter")
	}
	return nil
}

// errBadPageToken is what Drive answers for a page token it cannot use: 400 "Invalid Value",
// reason invalid, location pageToken (brekkylab/backlot#337 quotes it for a corrupted or expired
// token; Drive's discovery document says change page tokens do not expire, so the emulator only
// expires them under Options.ChangeRetention or ExpireNextPageToken).
func errBadPageToken() *apiError { return invalidValue("pageToken") }

// changesList is changes.list from a page token.
func (e *Emulator) changesList(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	n, aerr := pageSize(q, "pageSize", 100, 1000, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if aerr := e.checkDriveFeed(c, q); aerr != nil {
		return 0, nil, aerr
	}
	tok, err := strconv.ParseInt(q.Get("pageToken"), 10, 64)
	if err != nil || tok < 1 || tok > e.nextSeq {
		return 0, nil, errBadPageToken()
	}
	i := sort.Search(len(e.changes), func(i int) bool { return e.changes[i].seq >= tok })
	if e.expire.Expired() || e.positionExpired(c, q.Get("driveId"), q.Get("pageToken")) ||
		(e.o.ChangeRetention > 0 && i < len(e.changes) && e.changes[i].at.Before(e.clk.Now().Add(-e.o.ChangeRetention))) {
		e.stats.ExpiredPageTokens++
		return 0, nil, errBadPageToken()
	}
	driveID := q.Get("driveId")
	includeAll := boolParam(q, "includeItemsFromAllDrives", false) && boolParam(q, "supportsAllDrives", false)
	includeRemoved := boolParam(q, "includeRemoved", true)
	// The feed keeps the most recent change of each file only (Drive: a file changed again shows
	// once, at its latest change, in its current state).
	latest := map[string]int64{}
	for j := i; j < len(e.changes); j++ {
		if ok, _ := e.sees(c.user, e.changes[j], driveID, includeAll); ok {
			latest[e.changes[j].fileID] = e.changes[j].seq
		}
	}
	list := []any{}
	out := map[string]any{"kind": "drive#changeList"}
	for ; i < len(e.changes); i++ {
		ch := e.changes[i]
		if latest[ch.fileID] != ch.seq {
			continue
		}
		ok, removed := e.sees(c.user, ch, driveID, includeAll)
		if !ok || (removed && !includeRemoved) {
			continue
		}
		if len(list) == n {
			out["nextPageToken"] = e.issue(c, driveID, ch.seq)
			break
		}
		m := map[string]any{"kind": "drive#change", "changeType": "file", "fileId": ch.fileID, "time": ts(ch.at), "removed": removed}
		if ch.drive != "" {
			m["driveId"] = ch.drive
		}
		if !removed {
			m["file"] = e.fileJSON(e.files[ch.fileID], c.user)
		}
		list = append(list, m)
	}
	if _, more := out["nextPageToken"]; !more {
		out["newStartPageToken"] = e.issue(c, driveID, e.nextSeq)
	}
	out["changes"] = list
	return 200, withDefaultFields(c, out, defaultChangeFields), nil
}

// channel is a push notification channel on a changes feed (changes.watch).
type channel struct {
	id, resourceID, token, address, uri string
	expires                             time.Time
	user                                *user
	drive                               string
	includeAll                          bool
	msg                                 int64
	queue                               chan string // resource states to deliver, in order
	done                                chan struct{}
}

// changesWatch is changes.watch: a web_hook channel on the caller's changes feed. Its sync message
// is delivered at once, then a change message for every change the feed shows.
// Channel expiration: default 1 hour, at most a week (Drive's guide "Notifications for resource
// changes": changes channels last up to 604,800 s).
func (e *Emulator) changesWatch(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	var body struct {
		ID, Type, Address, Token, Expiration string
	}
	if err := json.NewDecoder(io.LimitReader(c.r.Body, 1<<20)).Decode(&body); err != nil {
		return 0, nil, gerr(400, "parseError", "Parse Error")
	}
	switch {
	case body.ID == "":
		return 0, nil, gerr(400, "required", "Required").at("id", "parameter")
	case body.Type != "web_hook" && body.Type != "webhook":
		return 0, nil, gerr(400, "invalid", "Invalid value for type: %s", body.Type).at("type", "parameter")
	case body.Address == "":
		return 0, nil, gerr(400, "required", "Required").at("address", "parameter")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if aerr := e.checkDriveFeed(c, q); aerr != nil {
		return 0, nil, aerr
	}
	if _, err := strconv.ParseInt(q.Get("pageToken"), 10, 64); err != nil {
		return 0, nil, errBadPageToken()
	}
	if _, dup := e.channels[body.ID]; dup {
		return 0, nil, gerr(400, "channelIdNotUnique", "Channel id %s not unique", body.ID)
	}
	now := e.clk.Now()
	exp := now.Add(time.Hour)
	if body.Expiration != "" {
		ms, err := strconv.ParseInt(body.Expiration, 10, 64)
		if err != nil {
			return 0, nil, gerr(400, "invalid", "Invalid value for expiration").at("expiration", "parameter")
		}
		exp = time.UnixMilli(ms).UTC()
		if max := now.Add(7 * 24 * time.Hour); exp.After(max) {
			exp = max
		}
		if !exp.After(now) {
			return 0, nil, gerr(400, "invalid", "Invalid expiration: it is in the past").at("expiration", "parameter")
		}
	}
	ch := &channel{id: body.ID, resourceID: base64ID(e.bytesFor(20)), token: body.Token, address: body.Address,
		expires: exp, user: c.user, drive: q.Get("driveId"),
		includeAll: boolParam(q, "includeItemsFromAllDrives", false) && boolParam(q, "supportsAllDrives", false),
		queue:      make(chan string, 4096), done: make(chan struct{})}
	uq := url.Values{"alt": {"json"}, "pageToken": {q.Get("pageToken")}}
	for _, k := range []string{"driveId", "supportsAllDrives", "includeItemsFromAllDrives"} {
		if v := q.Get(k); v != "" {
			uq.Set(k, v)
		}
	}
	ch.uri = c.base + "/drive/v3/changes?" + uq.Encode()
	e.channels[ch.id] = ch
	e.wg.Add(1)
	go e.deliver(ch)
	ch.queue <- "sync"
	return 200, map[string]any{"kind": "api#channel", "id": ch.id, "resourceId": ch.resourceID, "resourceUri": ch.uri,
		"token": ch.token, "expiration": strconv.FormatInt(ch.expires.UnixMilli(), 10)}, nil
}

func base64ID(b []byte) string {
	const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = abc[int(c)%len(abc)]
	}
	return string(out)
}

// channelsStop is channels.stop: 204, or 404 for an unknown channel.
func (e *Emulator) channelsStop(c *call) (int, any, *apiError) {
	var body struct{ ID, ResourceID string }
	if err := json.NewDecoder(io.LimitReader(c.r.Body, 1<<20)).Decode(&body); err != nil {
		return 0, nil, gerr(400, "parseError", "Parse Error")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.channels[body.ID]
	if ch == nil || ch.resourceID != body.ResourceID {
		return 0, nil, gerr(404, "notFound", "Channel '%s' not found for project '%s'", body.ID, "telltale-emu")
	}
	e.dropChannel(ch)
	return 204, nil, nil
}

// dropChannel ends a channel's deliveries. Called with e.mu held.
func (e *Emulator) dropChannel(ch *channel) {
	delete(e.channels, ch.id)
	close(ch.done)
}

// notify queues a change message on every live channel whose feed shows ch. Called with e.mu held.
func (e *Emulator) notify(ch *change) {
	now := e.clk.Now()
	for _, c := range e.channels {
		if !now.Before(c.expires) {
			e.dropChannel(c) // an expired channel delivers nothing more
			continue
		}
		if ok, _ := e.sees(c.user, ch, c.drive, c.includeAll); ok {
			select {
			case c.queue <- "change":
			default: // a full queue: the notification is lost, as pushes may be
			}
		}
	}
}

// deliver POSTs a channel's messages in order, each with Drive's headers
// (https://developers.google.com/drive/api/guides/push: X-Goog-Channel-ID, X-Goog-Channel-Token,
// X-Goog-Channel-Expiration, X-Goog-Resource-State sync|change, X-Goog-Resource-ID,
// X-Goog-Resource-URI, X-Goog-Message-Number), and no body.
func (e *Emulator) deliver(ch *channel) {
	defer e.wg.Done()
	for {
		var state string
		select {
		case <-e.ctx.Done():
			return
		case <-ch.done:
			return
		case state = <-ch.queue:
		}
		e.mu.Lock()
		if !e.clk.Now().Before(ch.expires) {
			if e.channels[ch.id] == ch {
				e.dropChannel(ch)
			}
			e.mu.Unlock()
			return
		}
		ch.msg++
		n := ch.msg
		e.mu.Unlock()
		if e.hooks.Losing() {
			continue
		}
		req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, ch.address, nil)
		if err != nil {
			continue
		}
		h := req.Header
		h.Set("X-Goog-Channel-ID", ch.id)
		if ch.token != "" {
			h.Set("X-Goog-Channel-Token", ch.token)
		}
		h.Set("X-Goog-Channel-Expiration", ch.expires.UTC().Format(http.TimeFormat))
		h.Set("X-Goog-Resource-State", state)
		h.Set("X-Goog-Resource-ID", ch.resourceID)
		h.Set("X-Goog-Resource-URI", ch.uri)
		h.Set("X-Goog-Message-Number", strconv.FormatInt(n, 10))
		resp, err := e.hc.Do(req)
		ok := err == nil && resp.StatusCode/100 == 2
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		e.mu.Lock()
		if ok {
			e.stats.PushDeliveries++
		} else {
			e.stats.PushFailures++
		}
		e.mu.Unlock()
	}
}
