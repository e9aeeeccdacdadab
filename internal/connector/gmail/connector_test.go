package gmail

import (
	"bytes"
	"context"
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	gemu "github.com/telltale-dev/telltale/internal/emulator/google"
)

// fixture is a Gmail session against a fresh emulator.
type fixture struct {
	emu *gemu.Emulator
	clk *clock.Fake
	url string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	emu := gemu.New(gemu.Options{Seed: 5, Clock: clk, Users: 6, SuspendedUsers: 1, Groups: 2, FilesPerUser: 1,
		RateLimitPerMinute: -1, PushServiceAccount: pushSA})
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return &fixture{emu: emu, clk: clk, url: srv.URL}
}

func (f *fixture) admin() string { return f.emu.Users()[0].Email }

func (f *fixture) active() []string {
	var out []string
	for _, u := range f.emu.Users()[1:] {
		if !u.Suspended && !u.Archived {
			out = append(out, u.Email)
		}
	}
	return out
}

func (f *fixture) open(t *testing.T, subject string, settings map[string]string, pushURL string) *session {
	t.Helper()
	sets := map[string]string{"admin_email": subject, "token_url": f.url + "/token", "gmail_url": f.url + "/",
		"directory_url": f.url + "/", "jwks_url": f.url + "/oauth2/v3/certs"}
	for k, v := range settings {
		sets[k] = v
	}
	ss, err := New().Open(context.Background(), connector.Config{Settings: sets,
		Credentials: map[string]string{"service_account_key": string(f.emu.ServiceAccountKey(f.url + "/token"))}},
		connector.Deps{AllowLoopback: true, Clock: f.clk, PushURL: pushURL})
	if err != nil {
		t.Fatal(err)
	}
	return ss.(*session)
}

func mustSay(t *testing.T, err error, kind error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", words)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %v is not %v", err, kind)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestVerify: the customer id when all is well; otherwise what to fix: the scopes to delegate and
// the client id, an admin who is not one, the Gmail API not enabled.
func TestVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if tenant, err := f.open(t, f.admin(), nil, "").Verify(ctx); err != nil || tenant != "C01emu7x9" {
		t.Fatalf("Verify: %q, %v; want the customer id", tenant, err)
	}
	t.Run("gmail.readonly not delegated", func(t *testing.T) {
		f.emu.SetDelegation([]string{gemu.ScopeDirectoryUserRO, gemu.ScopeDirectoryGroupRO})
		defer f.emu.SetDelegation(nil)
		_, err := f.open(t, f.admin(), nil, "").Verify(ctx)
		mustSay(t, err, connector.ErrPermission, "Domain Wide Delegation", "client ID 104857600000000000001", strings.Join(Scopes, ","))
	})
	t.Run("not an admin", func(t *testing.T) {
		_, err := f.open(t, f.active()[0], nil, "").Verify(ctx)
		mustSay(t, err, connector.ErrPermission, "super administrator", f.active()[0])
	})
	t.Run("an API not enabled", func(t *testing.T) {
		for _, api := range []string{"gmail", "admin"} {
			f.emu.DisableAPI(api, true)
			_, err := f.open(t, f.admin(), nil, "").Verify(ctx)
			mustSay(t, err, connector.ErrPermission, "not enabled in the service account's Cloud project", "has not been used in project",
				"Gmail API and Admin SDK API", "APIs & Services > Library")
			f.emu.DisableAPI(api, false)
		}
	})
	t.Run("push without its service account", func(t *testing.T) {
		_, err := New().Open(ctx, connector.Config{Settings: map[string]string{"admin_email": f.admin(), "pubsub_topic": pushTopic},
			Credentials: map[string]string{"service_account_key": string(f.emu.ServiceAccountKey(f.url + "/token"))}}, connector.Deps{})
		mustSay(t, err, nil, "push_service_account is required")
	})
}

// TestDiscover: active mailboxes only (suspended counted), by users and by groups.
func TestDiscover(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.admin(), nil, "")
	var got []connector.Drive
	res, err := s.Discover(context.Background(), connector.Scope{Kind: "all"}, func(ds []connector.Drive) error { got = append(got, ds...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	inactive := 0
	for _, u := range f.emu.Users() {
		if u.Suspended || u.Archived {
			inactive++
		}
	}
	if len(got) != len(f.active())+1 || res.SkippedInactive != inactive || inactive == 0 {
		t.Fatalf("%d mailboxes, %d skipped: %+v", len(got), res.SkippedInactive, got)
	}
	for _, d := range got {
		if d.Kind != "mailbox" || d.VendorID != d.Owner || !strings.Contains(d.VendorID, "@") {
			t.Errorf("mailbox %+v", d)
		}
	}
	got = nil
	if _, err := s.Discover(context.Background(), connector.Scope{Kind: "users", Users: []string{strings.ToUpper(f.active()[1])}},
		func(ds []connector.Drive) error { got = append(got, ds...); return nil }); err != nil || len(got) != 1 || got[0].VendorID != f.active()[1] {
		t.Errorf("users scope: %+v %v", got, err)
	}
}

// readAll collects the stream's pages until no more.
func readAll(t *testing.T, s *session, st connector.StreamSpec, pos string) ([]connector.Record, []*connector.Resync, string) {
	t.Helper()
	var recs []connector.Record
	var rs []*connector.Resync
	for range 100 {
		p, err := s.Changes(context.Background(), st, pos)
		if err != nil {
			t.Fatal(err)
		}
		recs, pos = append(recs, p.Records...), p.Next
		if p.Resync != nil {
			rs = append(rs, p.Resync)
		}
		if !p.More {
			return recs, rs, pos
		}
	}
	t.Fatal("the stream never ends")
	return nil, nil, ""
}

// TestStreamAndContent: sent attachments are records from the history (drafts and received mail
// are not); each attachment's content, read as ingest's hash queue names it (event file id and
// mailbox) or by attachment id, hashes to the ground truth; a 404 on the history is a typed
// resync that loses nothing sent in the gap.
func TestStreamAndContent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, bob := f.active()[0], f.active()[1]
	s := f.open(t, f.admin(), nil, "")
	st := s.DriveStreams(connector.Drive{VendorID: alice, Kind: "mailbox", Owner: alice})[0]
	pos, err := s.StreamStart(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	atts := []gemu.MailAttachment{{Name: "plan.pdf", MimeType: "application/pdf", Content: bytes.Repeat([]byte("%PDF "), 500)},
		{Name: "n.csv", MimeType: "text/csv", Content: []byte("a,b\n")}}
	id1, _ := f.emu.SendMail(alice, []string{bob, "x@partner.example"}, nil, []string{"y@gmail.com"}, "one", atts)
	f.emu.SaveDraft("", alice, []string{"z@gmail.com"}, nil, nil, "draft", atts)
	f.emu.SendMail(bob, []string{alice}, nil, nil, "to alice", atts) // received by alice
	recs, rs, pos := readAll(t, s, st, pos)
	if len(rs) != 0 || len(recs) != 2 || recs[0].VendorID != id1+"/1" || recs[1].VendorID != id1+"/2" || recs[0].Drive != alice {
		t.Fatalf("records %+v", recs)
	}
	truth := map[string]gemu.SentAttachment{}
	for _, m := range f.emu.SentMails() {
		for _, a := range m.Attachments {
			truth[m.ID+"/"+a.PartID] = a
		}
	}
	check := func(s *session, ref connector.ContentRef, want gemu.SentAttachment) {
		t.Helper()
		rc, err := s.Content(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		md, sh := md5.Sum(b), sha256.Sum256(b)
		if hex.EncodeToString(md[:]) != want.MD5 || hex.EncodeToString(sh[:]) != want.SHA256 || int64(len(b)) != want.Size {
			t.Errorf("%+v: %d bytes that do not hash to the ground truth", ref, len(b))
		}
	}
	for _, r := range recs {
		e := r.Events[0]
		check(s, connector.ContentRef{Drive: r.Drive, File: e.File.ID}, truth[r.VendorID])
		// A session that did not read the message (another node, a restart) reads its parts once.
		check(f.open(t, f.admin(), nil, ""), connector.ContentRef{Drive: r.Drive, File: e.File.ID}, truth[r.VendorID])
		check(s, connector.ContentRef{Drive: r.Drive, File: id1, Part: truth[r.VendorID].AttachmentID}, truth[r.VendorID])
	}

	// The history expires; what is sent meanwhile is read through messages.list.
	f.clk.Advance(10 * time.Minute)
	id2, _ := f.emu.SendMail(alice, []string{"x@partner.example"}, nil, nil, "two", atts[:1])
	f.emu.ExpireHistory(alice)
	id3, _ := f.emu.SendMail(alice, []string{"x@partner.example"}, nil, nil, "three", atts[:1])
	recs, rs, pos = readAll(t, s, st, pos)
	if len(rs) != 1 || rs[0].Reason != connector.ResyncExpired || !strings.Contains(rs[0].Detail, "404") {
		t.Fatalf("resyncs %+v", rs)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.VendorID]++
	}
	if got[id2+"/1"] != 1 || got[id3+"/1"] != 1 {
		t.Errorf("after the resync: %v, want %s and %s", got, id2, id3)
	}
	// And the stream goes on from the history.
	id4, _ := f.emu.SendMail(alice, []string{"x@partner.example"}, nil, nil, "four", atts[:1])
	recs, rs, _ = readAll(t, s, st, pos)
	if len(rs) != 0 || len(recs) != 1 || recs[0].VendorID != id4+"/1" {
		t.Errorf("after the resync, the history: %+v %+v", recs, rs)
	}
}

// push is one Pub/Sub push as the emulator sent it.
type push struct {
	header http.Header
	body   []byte
}

// TestDeliver: a genuine Pub/Sub push wakes the mailbox's watch; forged, expired, misaddressed or
// malformed ones are refused with the reason; a rotated key is fetched once.
func TestDeliver(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.active()[0]
	var mu sync.Mutex
	var got []push
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, push{r.Header.Clone(), b})
		mu.Unlock()
	}))
	defer recv.Close()
	hook := recv.URL + "/api/v1/webhooks/gmail/1"
	f.emu.SetPushEndpoint(pushTopic, hook, "")
	s := f.open(t, f.admin(), map[string]string{"pubsub_topic": pushTopic, "push_service_account": pushSA}, hook)
	subs, err := s.Subscribe(ctx, connector.Drive{VendorID: alice, Kind: "mailbox", Owner: alice}, hook, nil)
	if err != nil || len(subs) != 1 || subs[0].ID != alice || subs[0].Stream != historyKey || !subs[0].Expires.After(f.clk.Now().Add(6*24*time.Hour)) {
		t.Fatalf("Subscribe: %+v %v", subs, err)
	}
	next := func() push {
		t.Helper()
		for range 500 {
			mu.Lock()
			if len(got) > 0 {
				p := got[0]
				got = got[1:]
				mu.Unlock()
				return p
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no push arrived")
		return push{}
	}
	f.emu.SendMail(alice, []string{"x@gmail.com"}, nil, nil, "hi", nil)
	p := next()
	d, err := s.Deliver(ctx, connector.Push{Header: p.header, Body: p.body})
	if err != nil || !strings.HasPrefix(d.ID, "pubsub:") || len(d.Notices) != 1 || d.Notices[0].Subscription != alice || !d.FreshUntil.After(f.clk.Now()) {
		t.Fatalf("genuine push: %+v %v", d, err)
	}
	refused := func(name, reason string, s *session, h http.Header, body []byte) {
		t.Helper()
		_, err := s.Deliver(ctx, connector.Push{Header: h, Body: body})
		var wr *connector.WebhookRefusal
		if !errors.As(err, &wr) || wr.Reason != reason || !errors.Is(err, connector.ErrForged) {
			t.Errorf("%s: %v, want a %s refusal", name, err, reason)
		}
	}
	tok := strings.TrimPrefix(p.header.Get("Authorization"), "Bearer ")
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	parts := strings.Split(tok, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var cl map[string]any
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(cb, &cl)
	// A token signed with another key under Google's key id.
	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	signAs := func(hdr []byte, claims map[string]any) string {
		c, _ := json.Marshal(claims)
		signed := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(c)
		sum := sha256.Sum256([]byte(signed))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, forger, crypto.SHA256, sum[:])
		return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	sign := func(claims map[string]any) string { return signAs(hdr, claims) }
	refused("forged", connector.WebhookBadSignature, s, bearer(sign(cl)), p.body)
	// Claims changed under the genuine signature.
	cl2 := map[string]any{}
	for k, v := range cl {
		cl2[k] = v
	}
	cl2["aud"] = "https://attacker.example/"
	c2, _ := json.Marshal(cl2)
	refused("claims changed", connector.WebhookBadSignature, s, bearer(parts[0]+"."+base64.RawURLEncoding.EncodeToString(c2)+"."+parts[2]), p.body)
	refused("no bearer", connector.WebhookMalformed, s, http.Header{}, p.body)
	refused("not a JWT", connector.WebhookMalformed, s, bearer("abc"), p.body)
	refused("malformed envelope", connector.WebhookMalformed, s, p.header, []byte(`{"message":{"data":"!!"}}`))
	refused("not an envelope", connector.WebhookMalformed, s, p.header, []byte(`[1]`))
	other := f.open(t, f.admin(), map[string]string{"pubsub_topic": pushTopic, "push_service_account": pushSA, "push_audience": "https://telltale.example/hook"}, hook)
	refused("wrong audience", connector.WebhookBadSignature, other, p.header, p.body)
	other = f.open(t, f.admin(), map[string]string{"pubsub_topic": pushTopic, "push_service_account": "someone@x.iam.gserviceaccount.com"}, hook)
	refused("wrong service account", connector.WebhookBadSignature, other, p.header, p.body)
	refused("no topic", connector.WebhookNoKeys, f.open(t, f.admin(), nil, hook), p.header, p.body)
	f.clk.Advance(2 * time.Hour)
	refused("expired", connector.WebhookStale, s, p.header, p.body)

	// A rotated key: the unknown kid fetches the key set again (at most once a minute).
	before := f.emu.Stats().CertsRequests
	f.emu.RotatePushKey()
	f.emu.SendMail(alice, []string{"x@gmail.com"}, nil, nil, "again", nil)
	p = next()
	if _, err := s.Deliver(ctx, connector.Push{Header: p.header, Body: p.body}); err != nil {
		t.Fatalf("after a key rotation: %v", err)
	}
	for range 3 {
		refused("unknown kid", connector.WebhookBadSignature, s, bearer(signAs([]byte(`{"alg":"RS256","kid":"unknown"}`), cl)), p.body)
	}
	if n := f.emu.Stats().CertsRequests - before; n != 1 {
		t.Errorf("%d key set fetches after a rotation and unknown key ids, want 1 (at most once a minute)", n)
	}

	// Unsubscribe stops the pushes.
	if err := s.Unsubscribe(ctx, subs[0]); err != nil {
		t.Fatal(err)
	}
	delivered := f.emu.Stats().PushDeliveries
	f.emu.SendMail(alice, []string{"x@gmail.com"}, nil, nil, "after stop", nil)
	time.Sleep(100 * time.Millisecond)
	if f.emu.Stats().PushDeliveries != delivered {
		t.Error("a push after users.stop")
	}
}
