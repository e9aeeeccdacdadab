package googledrive

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	gemu "github.com/telltale-dev/telltale/internal/emulator/google"
)

// receiver is Telltale's public push endpoint as the emulator sees it: it answers 200 and hands
// over each notification's headers.
type receiver struct {
	url string
	got chan http.Header
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{got: make(chan http.Header, 256)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.got <- req.Header.Clone()
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/api/v1/webhooks/google_drive/1"
	return r
}

// next is the next notification, failing after a few seconds without one.
func (r *receiver) next(t *testing.T) http.Header {
	t.Helper()
	select {
	case h := <-r.got:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no push notification arrived")
		return nil
	}
}

// none checks that no notification arrives for a moment.
func (r *receiver) none(t *testing.T, why string) {
	t.Helper()
	select {
	case h := <-r.got:
		t.Errorf("%s: a notification arrived: channel %s, state %s", why, h.Get("X-Goog-Channel-ID"), h.Get("X-Goog-Resource-State"))
	case <-time.After(300 * time.Millisecond):
	}
}

func pushSession(t *testing.T, f *fixture, r *receiver, conn int64) connector.Session {
	t.Helper()
	s, err := New().Open(context.Background(), connector.Config{ConnectionID: conn,
		Credentials: map[string]string{"service_account_key": string(f.emu.ServiceAccountKey(f.tokenURL()))},
		Settings:    map[string]string{"admin_email": f.admin(), "drive_url": f.srv.URL + "/drive/v3/", "directory_url": f.srv.URL + "/"}},
		connector.Deps{Clock: f.clk, AllowLoopback: true, PushURL: r.url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func refusedFor(t *testing.T, s connector.Session, h http.Header, reason, what string) {
	t.Helper()
	_, err := s.Deliver(context.Background(), connector.Push{Header: h})
	var wr *connector.WebhookRefusal
	if !errors.As(err, &wr) || !errors.Is(err, connector.ErrForged) {
		t.Errorf("%s: Deliver answered %v, want a refusal", what, err)
		return
	}
	if wr.Reason != reason {
		t.Errorf("%s: refused as %q (%s), want %q", what, wr.Reason, wr.Detail, reason)
	}
}

// TestPushChannels (issue 14): a drive's changes channel is made once (what Telltale holds is not
// made again), its sync message is a handshake, each change is a delivery that names the
// channel, and forged, unknown, replayed, stale or malformed notifications are refused with their
// reason; Renew replaces the channel and stops the old one; Unsubscribe stops deliveries.
func TestPushChannels(t *testing.T) {
	f := newFixture(t, gemu.Options{Seed: 5, Users: 5, FilesPerUser: 3})
	r := newReceiver(t)
	s := pushSession(t, f, r, 7)
	p := s.(connector.Pusher)
	ctx := context.Background()
	user := f.active()[0].Email
	d := connector.Drive{VendorID: user, Kind: "user", Owner: user}

	if subs, err := p.Subscribe(ctx, connector.Drive{}, r.url, nil); err != nil || len(subs) != 0 {
		t.Errorf("tenant: %+v %v, want nothing (the Reports API has no push)", subs, err)
	}
	if subs, err := p.Subscribe(ctx, d, "", nil); err != nil || len(subs) != 0 {
		t.Errorf("no public URL: %+v %v, want nothing", subs, err)
	}
	subs, err := p.Subscribe(ctx, d, r.url, nil)
	if err != nil || len(subs) != 1 {
		t.Fatalf("Subscribe: %+v %v", subs, err)
	}
	sub := subs[0]
	rid, who := parseDetail(sub.Detail)
	if !strings.HasPrefix(sub.ID, channelPrefix) || sub.Stream != changesKey || sub.Drive != user || rid == "" || who != user {
		t.Errorf("subscription %+v: want a Telltale channel id, stream changes, the drive, its resourceId and its user", sub)
	}
	if want := f.clk.Now().Add(channelLife); !sub.Expires.Equal(want.Truncate(time.Millisecond)) {
		t.Errorf("expires %s, want a week from now (%s), Drive's longest for changes", sub.Expires, want)
	}

	// The sync message: a handshake, acting on nothing.
	sync := r.next(t)
	if sync.Get("X-Goog-Resource-State") != "sync" || sync.Get("X-Goog-Channel-ID") != sub.ID || sync.Get("X-Goog-Resource-ID") != rid {
		t.Fatalf("first message %v, want the channel's sync", sync)
	}
	if dl, err := s.Deliver(ctx, connector.Push{Header: sync}); err != nil || dl.ID != "" || dl.Reply == nil || len(dl.Notices) != 0 {
		t.Errorf("sync: %+v %v, want a handshake (no ID, a reply, no notice)", dl, err)
	}

	// What Telltale holds is not made again.
	again, err := p.Subscribe(ctx, d, r.url, subs)
	if err != nil || len(again) != 1 || again[0].ID != sub.ID {
		t.Errorf("Subscribe with the channel held: %+v %v, want the same channel", again, err)
	}
	r.none(t, "Subscribe with a live channel held")
	if !strings.HasSuffix(sub.Resource, " to "+r.url) {
		t.Errorf("resource %q does not say where the channel pushes", sub.Resource)
	}

	// A change: a delivery naming the channel.
	if _, err := f.emu.Upload(user, "", "push.txt", "", []byte("pushed")); err != nil {
		t.Fatal(err)
	}
	change := r.next(t)
	dl, err := s.Deliver(ctx, connector.Push{Header: change})
	if err != nil || dl.ID == "" || len(dl.Notices) != 1 || dl.Notices[0].Subscription != sub.ID || dl.Reply != nil {
		t.Fatalf("change: %+v %v, want a delivery for channel %s", dl, err, sub.ID)
	}
	if !dl.FreshUntil.After(f.clk.Now()) {
		t.Errorf("FreshUntil %s is not after now", dl.FreshUntil)
	}

	// Refusals.
	refusedFor(t, s, change, connector.WebhookReplayed, "the same message again")
	older := change.Clone()
	older.Set("X-Goog-Message-Number", "1")
	refusedFor(t, s, older, connector.WebhookReplayed, "an older message number")
	forged := change.Clone()
	forged.Set("X-Goog-Message-Number", "1000")
	forged.Set("X-Goog-Channel-Token", "forged")
	refusedFor(t, s, forged, connector.WebhookBadSignature, "a forged token")
	forged.Del("X-Goog-Channel-Token")
	refusedFor(t, s, forged, connector.WebhookBadSignature, "no token")
	unknown := change.Clone()
	unknown.Set("X-Goog-Message-Number", "1001")
	unknown.Set("X-Goog-Channel-ID", "4ba78bf0-6a47-11e2-bcfd-0800200c9a77")
	refusedFor(t, s, unknown, connector.WebhookUnknownSubscription, "a channel id Telltale did not make")
	other := change.Clone()
	other.Set("X-Goog-Message-Number", "1002")
	other.Set("X-Goog-Channel-ID", newChannelID(f.clk.Now().Add(time.Hour)))
	refusedFor(t, s, other, connector.WebhookBadSignature, "a Telltale-like channel id with another channel's token")
	for _, hdr := range []string{"X-Goog-Channel-ID", "X-Goog-Resource-State", "X-Goog-Message-Number", "X-Goog-Resource-ID"} {
		m := change.Clone()
		m.Set("X-Goog-Message-Number", "1003")
		m.Del(hdr)
		refusedFor(t, s, m, connector.WebhookMalformed, "without "+hdr)
	}
	for _, bad := range [][2]string{{"X-Goog-Message-Number", "x"}, {"X-Goog-Message-Number", "0"}, {"X-Goog-Resource-State", "exploded"}} {
		m := change.Clone()
		m.Set(bad[0], bad[1])
		refusedFor(t, s, m, connector.WebhookMalformed, bad[0]+": "+bad[1])
	}
	// Another connection (same key, another id) has other tokens.
	s2 := pushSession(t, f, r, 8)
	m := change.Clone()
	m.Set("X-Goog-Message-Number", "1004")
	refusedFor(t, s2, m, connector.WebhookBadSignature, "a delivery for another connection")
	// Nothing refused counted as seen: the genuine next message is taken.
	m = change.Clone()
	m.Set("X-Goog-Message-Number", "1005")
	if dl, err := s.Deliver(ctx, connector.Push{Header: m}); err != nil || dl.ID == "" {
		t.Errorf("a newer genuine message after refusals: %+v %v", dl, err)
	}

	// Renew: a new channel, the old one stopped.
	renewed, err := p.Renew(ctx, sub)
	if err != nil || renewed.ID == sub.ID || !strings.HasPrefix(renewed.ID, channelPrefix) || renewed.Drive != user {
		t.Fatalf("Renew: %+v %v, want a new channel for the drive", renewed, err)
	}
	if h := r.next(t); h.Get("X-Goog-Channel-ID") != renewed.ID || h.Get("X-Goog-Resource-State") != "sync" {
		t.Errorf("after Renew: %v, want the new channel's sync", h)
	}
	if err := f.emu.Rename(user, mustFile(t, f, user, "push.txt"), "pushed.txt"); err != nil {
		t.Fatal(err)
	}
	h := r.next(t)
	if h.Get("X-Goog-Channel-ID") != renewed.ID {
		t.Errorf("a change after Renew came through channel %s, want only the new %s", h.Get("X-Goog-Channel-ID"), renewed.ID)
	}
	if dl, err := s.Deliver(ctx, connector.Push{Header: h}); err != nil || dl.Notices[0].Subscription != renewed.ID {
		t.Errorf("the new channel's change: %+v %v", dl, err)
	}
	r.none(t, "the replaced channel")
	if err := p.Unsubscribe(ctx, sub); err != nil {
		t.Errorf("Unsubscribe of the replaced channel (gone: 404): %v", err)
	}

	// Unsubscribe: no more deliveries.
	if err := p.Unsubscribe(ctx, renewed); err != nil {
		t.Fatal(err)
	}
	before := f.emu.Stats().PushDeliveries
	if err := f.emu.Edit(user, mustFile(t, f, user, "pushed.txt"), []byte("after")); err != nil {
		t.Fatal(err)
	}
	r.none(t, "after Unsubscribe")
	if n := f.emu.Stats().PushDeliveries; n != before {
		t.Errorf("%d deliveries after Unsubscribe", n-before)
	}
	if err := p.Unsubscribe(ctx, renewed); err != nil {
		t.Errorf("Unsubscribe again: %v, want nil (already gone)", err)
	}

	// A week later the channel's deliveries are stale, whatever their number.
	f.clk.Advance(channelLife + channelSlack + time.Minute)
	m = change.Clone()
	m.Set("X-Goog-Message-Number", "5000")
	refusedFor(t, s, m, connector.WebhookStale, "a delivery after the channel's expiry")
	// An expired channel is not made again by holding it, and is not asked to stop.
	if err := p.Unsubscribe(ctx, sub); err != nil {
		t.Errorf("Unsubscribe of an expired channel: %v", err)
	}
	fresh, err := p.Subscribe(ctx, d, r.url, []connector.Subscription{renewed})
	if err != nil || len(fresh) != 1 || fresh[0].ID == renewed.ID {
		t.Errorf("Subscribe holding only an expired channel: %+v %v, want a new one", fresh, err)
	}
}

// TestPushAddressChanged: a channel held for another address (the public URL changed) is stopped
// and made again to the new one.
func TestPushAddressChanged(t *testing.T) {
	f := newFixture(t, gemu.Options{Seed: 8, Users: 4, FilesPerUser: 2})
	r, moved := newReceiver(t), newReceiver(t)
	s := pushSession(t, f, r, 3)
	p := s.(connector.Pusher)
	ctx := context.Background()
	user := f.active()[0].Email
	d := connector.Drive{VendorID: user, Kind: "user", Owner: user}
	old, err := p.Subscribe(ctx, d, r.url, nil)
	if err != nil || len(old) != 1 {
		t.Fatalf("Subscribe: %+v %v", old, err)
	}
	r.next(t) // sync
	subs, err := p.Subscribe(ctx, d, moved.url, old)
	if err != nil || len(subs) != 1 || subs[0].ID == old[0].ID {
		t.Fatalf("Subscribe to a new address holding the old channel: %+v %v, want a new channel", subs, err)
	}
	moved.next(t) // the new channel's sync
	if _, err := f.emu.Upload(user, "", "moved.txt", "", nil); err != nil {
		t.Fatal(err)
	}
	if h := moved.next(t); h.Get("X-Goog-Channel-ID") != subs[0].ID {
		t.Errorf("change through %s, want the new channel", h.Get("X-Goog-Channel-ID"))
	}
	r.none(t, "the old address after the channel was moved")
}

// TestPushRefusalsDocumented: every reason Deliver refuses with is in the document's table.
func TestPushRefusalsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/connectors/google_drive.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{connector.WebhookMalformed, connector.WebhookUnknownSubscription, connector.WebhookBadSignature,
		connector.WebhookStale, connector.WebhookReplayed} {
		if !strings.Contains(string(b), "| `"+r+"` |") {
			t.Errorf("docs/connectors/google_drive.md does not explain the push refusal %s", r)
		}
	}
}

// TestPushSharedDrive: a shared drive's channel is made as a member on the drive's own feed.
func TestPushSharedDrive(t *testing.T) {
	f := newFixture(t, gemu.Options{Seed: 6, Users: 6, FilesPerUser: 2, SharedDrives: 1, FilesPerDrive: 2})
	r := newReceiver(t)
	s := pushSession(t, f, r, 9)
	ctx := context.Background()
	sd := f.emu.SharedDrives()[0]
	var writer string
	users := map[string]bool{}
	for _, u := range f.emu.Users() {
		users[u.Email] = !u.Suspended && !u.Archived
	}
	for email, role := range sd.Members {
		if users[email] && role != "reader" && role != "commenter" {
			writer = email
		}
	}
	if writer == "" {
		t.Fatalf("shared drive %s has no user who can write: %v", sd.ID, sd.Members)
	}
	subs, err := s.(connector.Pusher).Subscribe(ctx, connector.Drive{VendorID: sd.ID, Kind: "shared", Name: sd.Name}, r.url, nil)
	if err != nil || len(subs) != 1 {
		t.Fatalf("Subscribe: %+v %v", subs, err)
	}
	if _, who := parseDetail(subs[0].Detail); sd.Members[who] == "" {
		t.Errorf("channel made as %q, not a member of the shared drive", who)
	}
	if h := r.next(t); h.Get("X-Goog-Resource-State") != "sync" {
		t.Fatalf("first message %v, want sync", h)
	}
	if _, err := f.emu.Upload(writer, sd.ID, "team.txt", "", []byte("team")); err != nil {
		t.Fatal(err)
	}
	h := r.next(t)
	dl, err := s.Deliver(ctx, connector.Push{Header: h})
	if err != nil || len(dl.Notices) != 1 || dl.Notices[0].Subscription != subs[0].ID {
		t.Errorf("shared drive change: %+v %v", dl, err)
	}
	// A change in a user's My Drive is not this channel's.
	if _, err := f.emu.Upload(f.active()[0].Email, "", "mine.txt", "", []byte("mine")); err != nil {
		t.Fatal(err)
	}
	r.none(t, "a My Drive change on the shared drive's channel")
}

// mustFile is the id of email's file named name.
func mustFile(t *testing.T, f *fixture, email, name string) string {
	t.Helper()
	for id, file := range f.owned(t, email) {
		if file.Name == name {
			return id
		}
	}
	t.Fatalf("%s has no file %s", email, name)
	return ""
}
