package googledrive

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/drive/v3"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
)

// Push channels (docs/connectors/google_drive.md, "Push channels"). Each followed drive gets one
// web_hook channel on its changes feed (changes.watch), made as the drive's user (a shared drive:
// as a member, with driveId). A delivery only wakes the drive's changes stream: the feed stays the
// record, so a lost, refused or late notification costs latency, never activity.
//
// Drive channels cannot be listed, renewed nor asked about: Telltale's rows are the only list.
// The channel id is chosen here (random, with the requested expiry in it) before changes.watch is
// called, and the channel's token is derived from that id and the connection's sealed key, so a
// delivery is verified without any state. Known gap: a channel made at Google whose row was never
// saved (the node died between changes.watch and the row) cannot be found again; it delivers, as
// a subscription Telltale does not hold, until it expires (at most channelLife).

// channelLife is the expiry Telltale asks for: Drive's longest for a changes channel, one week
// (files.watch channels last at most a day; without an expiration a channel lasts an hour).
const channelLife = 7 * 24 * time.Hour

// channelDefaultLife is how long Drive keeps a channel whose answer names no expiration.
const channelDefaultLife = time.Hour

// channelSlack is how long after its channel's expiry a delivery is still taken (clock skew, a
// delivery in flight).
const channelSlack = 5 * time.Minute

// channelPrefix starts every channel id Telltale makes: "tt1-<expiry, Unix s>-<32 hex digits>"
// (Drive allows ids up to 64 characters of [A-Za-z0-9-_+/=]).
const channelPrefix = "tt1-"

// maxChannelsSeen bounds the message numbers remembered per session (one per channel).
const maxChannelsSeen = 100000

// newChannelID is a fresh channel id that expires at exp.
func newChannelID(exp time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("google drive: no randomness for a channel id: " + err.Error())
	}
	return channelPrefix + strconv.FormatInt(exp.Unix(), 10) + "-" + hex.EncodeToString(b[:])
}

// channelExpiry reads the expiry a channel id of Telltale's carries; ok false for any other id.
func channelExpiry(id string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(id, channelPrefix)
	if !ok {
		return time.Time{}, false
	}
	at, random, ok := strings.Cut(rest, "-")
	if !ok || len(random) != 32 {
		return time.Time{}, false
	}
	if _, err := hex.DecodeString(random); err != nil {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// channelKeyOf is the key channel tokens are signed with: derived from the service account's
// private key (sealed in the connection's credentials) and the connection, never stored.
func channelKeyOf(privateKey []byte, conn int64) []byte {
	h := sha256.New()
	h.Write([]byte("telltale google drive channel token v1\x00"))
	h.Write([]byte(strconv.FormatInt(conn, 10) + "\x00"))
	h.Write(privateKey)
	return h.Sum(nil)
}

// channelToken is the token of channel id: HMAC-SHA256 of the id, base64url (43 characters; Drive
// allows 256).
func (s *session) channelToken(id string) string {
	mac := hmac.New(sha256.New, s.chanKey)
	mac.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

var _ connector.Pusher = (*session)(nil)

// Subscribe makes the drive's changes channel unless have holds a live one to pushURL (Drive
// channels cannot be listed: what Telltale holds is the truth). Expired channels are left out
// (forgotten: Drive dropped them); live ones to another address (the public URL changed) are
// stopped and left out. Nothing for the tenant (the Reports API has no push) nor without a URL.
func (s *session) Subscribe(ctx context.Context, d connector.Drive, pushURL string, have []connector.Subscription) ([]connector.Subscription, error) {
	if d.VendorID == "" || pushURL == "" {
		return nil, nil
	}
	now := s.deps.Clock.Now()
	var live []connector.Subscription
	for _, h := range have {
		if h.Stream != changesKey || !h.Expires.After(now) {
			continue
		}
		if !strings.HasSuffix(h.Resource, resourceTo+pushURL) {
			// Made for another address (the public URL changed): it would push where Telltale no
			// longer listens. Stopped, and made again below.
			if err := s.stop(ctx, h); err != nil {
				s.log.Warn("stopping a channel to an old address failed; it stops at its expiry", "channel", h.ID, "expires", h.Expires, "err", err)
			}
			continue
		}
		live = append(live, h)
	}
	if len(live) > 0 {
		return live, nil
	}
	sub, err := s.watch(ctx, d, pushURL)
	if err != nil {
		return nil, err
	}
	return []connector.Subscription{sub}, nil
}

// Renew replaces a channel: Drive cannot extend one, so a new channel is made (a new id, from the
// feed's current position) and the old one stopped; the answer has the new ID, which ingest keeps
// instead of the old. Both may deliver for a moment (Drive documents that overlap): each only
// wakes the stream. A failure to stop the old channel is logged, not returned (it stops by itself
// at its expiry); a drive no longer readable answers ErrSubscriptionGone (the round settles it).
func (s *session) Renew(ctx context.Context, sub connector.Subscription) (connector.Subscription, error) {
	if s.deps.PushURL == "" {
		return sub, fmt.Errorf("google drive: renewing channel %s: this node has no public URL for push notifications", sub.ID)
	}
	d := driveOf(sub)
	made, err := s.watch(ctx, d, s.deps.PushURL)
	if errors.Is(err, connector.ErrInaccessible) {
		if err := s.stop(ctx, sub); err != nil {
			s.log.Warn("stopping the channel of a drive no longer readable failed; it stops at its expiry", "channel", sub.ID, "expires", sub.Expires, "err", err)
		}
		return sub, fmt.Errorf("%w: %w", connector.ErrSubscriptionGone, err)
	}
	if err != nil {
		return sub, err
	}
	if err := s.stop(ctx, sub); err != nil {
		s.log.Warn("stopping a replaced channel failed; it stops at its expiry", "channel", sub.ID, "expires", sub.Expires, "err", err)
	}
	return made, nil
}

// Unsubscribe stops a channel (channels.stop with its id and resourceId, as the user who made
// it). A channel Drive no longer has (404, expired, or its user gone) is not an error.
func (s *session) Unsubscribe(ctx context.Context, sub connector.Subscription) error {
	return s.stop(ctx, sub)
}

// driveOf is the drive a subscription follows: a user's drive is named by the user's email.
func driveOf(sub connector.Subscription) connector.Drive {
	if strings.Contains(sub.Drive, "@") {
		return connector.Drive{VendorID: sub.Drive, Kind: "user", Owner: sub.Drive}
	}
	return connector.Drive{VendorID: sub.Drive, Kind: "shared"}
}

// resourceTo ends a subscription's Resource before the address the channel pushes to.
const resourceTo = " to "

// channelDetail is a subscription's Detail: the channel's resourceId (channels.stop needs it) and
// the user it was made as, "<resourceId> <email>".
func channelDetail(resourceID, who string) string { return resourceID + " " + who }

func parseDetail(detail string) (resourceID, who string) {
	resourceID, who, _ = strings.Cut(detail, " ")
	return resourceID, who
}

// watch makes a changes channel on the drive's feed from its current position, with the longest
// expiry Drive allows.
func (s *session) watch(ctx context.Context, d connector.Drive, address string) (connector.Subscription, error) {
	who, err := s.actor(ctx, d)
	if err != nil {
		return connector.Subscription{}, err
	}
	ctx, svc := s.as(ctx, who)
	start := svc.drive.Changes.GetStartPageToken()
	if d.Kind == "shared" {
		start = start.DriveId(d.VendorID).SupportsAllDrives(true)
	}
	t, err := start.Context(ctx).Do()
	if err != nil {
		return connector.Subscription{}, s.driveErr(err, d, who, "reading the changes position to watch")
	}
	if t.StartPageToken == "" {
		return connector.Subscription{}, fmt.Errorf("%w: google drive: changes.getStartPageToken answered no token for %s", connector.ErrMalformed, driveName(d))
	}
	now := s.deps.Clock.Now()
	exp := now.Add(channelLife)
	id := newChannelID(exp)
	call := svc.drive.Changes.Watch(t.StartPageToken, &drive.Channel{Id: id, Type: "web_hook", Address: address,
		Token: s.channelToken(id), Expiration: exp.UnixMilli()})
	if d.Kind == "shared" {
		call = call.DriveId(d.VendorID).SupportsAllDrives(true).IncludeItemsFromAllDrives(true)
	}
	ch, err := call.Context(ctx).Do()
	if err != nil {
		return connector.Subscription{}, s.driveErr(err, d, who, "watching changes")
	}
	if ch.ResourceId == "" {
		// Without it the channel cannot be stopped; it stops at its expiry.
		return connector.Subscription{}, fmt.Errorf("%w: google drive: changes.watch of %s answered no resourceId (channel %s stops at its expiry)", connector.ErrMalformed, driveName(d), id)
	}
	expires := now.Add(channelDefaultLife)
	if ch.Expiration > 0 {
		expires = time.UnixMilli(ch.Expiration).UTC()
	}
	return connector.Subscription{ID: id, Drive: d.VendorID, Stream: changesKey, Resource: "changes of " + driveName(d) + resourceTo + address,
		Detail: channelDetail(ch.ResourceId, who), Expires: expires}, nil
}

// stop is channels.stop for sub. A channel already expired is not asked about.
func (s *session) stop(ctx context.Context, sub connector.Subscription) error {
	if !sub.Expires.IsZero() && !s.deps.Clock.Now().Before(sub.Expires) {
		return nil // Drive dropped it at its expiry
	}
	rid, who := parseDetail(sub.Detail)
	d := driveOf(sub)
	if who == "" {
		var err error
		if who, err = s.actor(ctx, d); err != nil {
			return err
		}
	}
	ctx, svc := s.as(ctx, who)
	err := svc.drive.Channels.Stop(&drive.Channel{Id: sub.ID, ResourceId: rid}).Context(ctx).Do()
	switch {
	case err == nil, googlekit.IsCode(err, http.StatusNotFound):
		return nil
	case errors.Is(err, googlekit.ErrBadSubject):
		return nil // the user is gone (deleted, suspended): Drive delivers nothing for them
	}
	return s.driveErr(err, d, who, "stopping channel "+sub.ID)
}

// pushSeen remembers, per channel, the highest message number delivered (within this process), so
// that a replayed or older one is refused.
type pushSeen struct {
	mu sync.Mutex
	m  map[string]seenChannel
}

type seenChannel struct {
	last    int64
	expires time.Time
}

// next records message n of channel id and reports whether it is newer than any seen.
func (p *pushSeen) next(id string, n int64, expires, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]seenChannel{}
	}
	if c, ok := p.m[id]; ok && n <= c.last {
		return false
	}
	if len(p.m) >= maxChannelsSeen {
		for k, c := range p.m {
			if now.After(c.expires) {
				delete(p.m, k)
			}
		}
		if len(p.m) >= maxChannelsSeen {
			// Never reached with live channels (one per drive, 55,000 drives at most); ingest's
			// delivery ids still drop exact repeats.
			p.m = map[string]seenChannel{}
		}
	}
	p.m[id] = seenChannel{last: n, expires: expires}
	return true
}

// resourceStates are the X-Goog-Resource-State values of a changes channel's activity (sync is the
// handshake); files channels' states are taken too, they mean the same: poll.
var resourceStates = map[string]bool{"change": true, "update": true, "add": true, "remove": true, "trash": true, "untrash": true}

// Deliver verifies a Drive channel notification (no body; headers only). X-Goog-Channel-Token
// must be the channel id's HMAC under the connection's key (computed first, whatever else is
// wrong, so the time to answer says nothing); the id must be one Telltale makes, not past its
// expiry; X-Goog-Message-Number must be greater than the last one this process took from the
// channel (a replay, or an older message arriving late, is refused: the newer one woke the
// stream already). The sync message that starts a channel is the handshake (answered 200, acts on
// nothing); a change wakes the channel's drive stream. Refusals never touch a cursor: polling
// collects whatever a refused notification announced.
func (s *session) Deliver(_ context.Context, p connector.Push) (connector.Delivery, error) {
	h := p.Header
	id := h.Get("X-Goog-Channel-ID")
	want := s.channelToken(id)
	got := h.Get("X-Goog-Channel-Token")
	signed := got != "" && hmac.Equal([]byte(got), []byte(want))
	refuse := func(reason, format string, a ...any) (connector.Delivery, error) {
		return connector.Delivery{}, &connector.WebhookRefusal{Reason: reason, Detail: "google drive: " + fmt.Sprintf(format, a...)}
	}
	state := h.Get("X-Goog-Resource-State")
	num := h.Get("X-Goog-Message-Number")
	n, nerr := strconv.ParseInt(num, 10, 64)
	switch {
	case id == "":
		return refuse(connector.WebhookMalformed, "no X-Goog-Channel-ID")
	case state == "":
		return refuse(connector.WebhookMalformed, "no X-Goog-Resource-State")
	case state != "sync" && !resourceStates[state]:
		return refuse(connector.WebhookMalformed, "X-Goog-Resource-State %s is not a changes channel's", connector.EchoHeader(state))
	case nerr != nil || n < 1:
		return refuse(connector.WebhookMalformed, "X-Goog-Message-Number %s is not a positive integer", connector.EchoHeader(num))
	case h.Get("X-Goog-Resource-ID") == "":
		return refuse(connector.WebhookMalformed, "no X-Goog-Resource-ID")
	}
	exp, ours := channelExpiry(id)
	now := s.deps.Clock.Now()
	switch {
	case !ours:
		return refuse(connector.WebhookUnknownSubscription, "channel %s was not made by Telltale", connector.EchoHeader(id))
	case got == "":
		return refuse(connector.WebhookBadSignature, "channel %s: no X-Goog-Channel-Token", id)
	case !signed:
		return refuse(connector.WebhookBadSignature, "channel %s: X-Goog-Channel-Token is not this connection's token for it", id)
	case now.After(exp.Add(channelSlack)):
		return refuse(connector.WebhookStale, "channel %s expired at %s", id, exp.Format(time.RFC3339))
	case !s.pushSeen.next(id, n, exp.Add(channelSlack), now):
		return refuse(connector.WebhookReplayed, "channel %s: message %d is not newer than the last one taken (replayed, or older than one that woke the stream already)", id, n)
	}
	if state == "sync" {
		return connector.Delivery{Reply: &connector.Reply{}}, nil
	}
	return connector.Delivery{ID: "channel:" + id + ":" + strconv.FormatInt(n, 10), FreshUntil: exp.Add(channelSlack),
		Notices: []connector.Notice{{Subscription: id}}}, nil
}
