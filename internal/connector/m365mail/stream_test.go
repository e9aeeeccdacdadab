package m365mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/httpx"
)

var bg = context.Background()

// drain reads a stream from pos until a page has no More, and returns its records and the last
// position.
func drain(t *testing.T, s *session, st connector.StreamSpec, pos string) ([]connector.Record, []*connector.Resync, string) {
	t.Helper()
	var recs []connector.Record
	var resyncs []*connector.Resync
	for range 100 {
		p, err := s.Changes(bg, st, pos)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, p.Records...)
		if p.Resync != nil {
			resyncs = append(resyncs, p.Resync)
		}
		pos = p.Next
		if !p.More {
			return recs, resyncs, pos
		}
	}
	t.Fatal("the stream pages forever")
	return nil, nil, ""
}

func sha(rc io.ReadCloser, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sharedFile is a file of u's OneDrive (a reference attachment links it).
func sharedFile(t *testing.T, f *fixture, u memu.User) memu.Item {
	t.Helper()
	for _, it := range f.emu.Items(u.DriveID) {
		if !it.Folder && !it.Root && !it.Deleted {
			return it
		}
	}
	t.Fatalf("%s has no file", u.UPN)
	return memu.Item{}
}

// TestStream: the start skips mail sent before it; every attachment of each mail sent after is one
// record (file and attached message file-emailed, a cloud link file-shared) with sender,
// recipients, subject and sent time; a mail without attachments is skipped; Content serves the
// bytes the emulator's ground truth hashed.
func TestStream(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 6, UnlicensedUsers: 1, DisabledUsers: 1})
	s := f.open(t)
	u, peer := f.mailboxes()[1], f.mailboxes()[2]
	st := s.DriveStreams(f.drive(u))[0]
	if st.Key != sentKey || st.FromCrawl {
		t.Fatalf("stream %+v", st)
	}
	if _, err := f.emu.SendMail(u.UPN, memu.Mail{To: []string{peer.UPN}, Attachments: []memu.Attachment{{Kind: memu.AttachFile}}}); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Minute)
	pos, err := s.StreamStart(bg, st)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := parseCursor(pos); err != nil || !strings.HasPrefix(c.L, "/users/"+u.ID+"/") || c.T != f.clk.Now().Unix() {
		t.Errorf("start %q (%v): want a deltaLink relative to the Graph URL and the time", pos, err)
	}
	if recs, _, _ := drain(t, s, st, pos); len(recs) != 0 {
		t.Fatalf("mail sent before the start is reported: %+v", recs)
	}
	f.clk.Advance(time.Minute)
	item := sharedFile(t, f, u)
	id, err := f.emu.SendMail(u.UPN, memu.Mail{To: []string{peer.UPN, "Someone@Gmail.com"}, Cc: []string{"cc@partner.example"}, Bcc: []string{"hidden@gmail.com"},
		Subject: "Q3 numbers", Attachments: []memu.Attachment{
			{Kind: memu.AttachFile, Name: "plan.xlsx"}, {Kind: memu.AttachItem, Subject: "Fwd: terms"}, {Kind: memu.AttachReference, ItemID: item.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Second)
	if _, err := f.emu.SendMail(u.UPN, memu.Mail{To: []string{peer.UPN}, Subject: "no attachment"}); err != nil {
		t.Fatal(err)
	}
	recs, _, pos2 := drain(t, s, st, pos)
	sent := f.emu.SentMails()
	var truth memu.SentMail
	for _, m := range sent {
		if m.ID == id {
			truth = m
		}
	}
	var events []connector.Record
	skipped := 0
	for _, r := range recs {
		if r.Drive != u.ID {
			t.Errorf("record %s of drive %q, want the user id %s", r.VendorID, r.Drive, u.ID)
		}
		if r.Skip != "" {
			skipped++
			if r.Skip != SkipNoAttachment {
				t.Errorf("skip %q", r.Skip)
			}
			continue
		}
		events = append(events, r)
	}
	if skipped != 1 || len(events) != 3 {
		t.Fatalf("records %+v: want 3 attachments and 1 skipped mail", recs)
	}
	wantRcpt := []string{strings.ToLower(peer.UPN), "someone@gmail.com", "cc@partner.example", "hidden@gmail.com"}
	for i, r := range events {
		a := truth.Attachments[i]
		e := r.Events[0]
		if r.VendorID != id+"/"+a.ID || e.File.ID != r.VendorID {
			t.Errorf("record id %s, file id %s, want %s", r.VendorID, e.File.ID, id+"/"+a.ID)
		}
		if err := e.Validate(); err != nil {
			t.Error(err)
		}
		if e.Event.Observer != event.ObserverMicrosoft365Mail || e.User.Email != strings.ToLower(u.UPN) || e.Email.Sender != strings.ToLower(u.UPN) ||
			!slices.Equal(e.Email.Recipients, wantRcpt) || e.Email.Subject != "Q3 numbers" || e.Email.MessageID != truth.InternetMessageID ||
			!e.Timestamp.Equal(truth.At) || e.File.Name == "" {
			t.Errorf("attachment %d: %+v", i, e)
		}
		switch a.Kind {
		case memu.AttachFile, memu.AttachItem:
			if e.Event.Action != event.ActionEmailed || e.File.Size != int64(a.Size) {
				t.Errorf("%s: action %s size %d, want file-emailed %d", a.Kind, e.Event.Action, e.File.Size, a.Size)
			}
			got, err := sha(s.Content(bg, connector.ContentRef{Drive: r.Drive, File: e.File.ID}))
			if err != nil || got != a.SHA256 {
				t.Errorf("%s content: %s %v, want sha256 %s", a.Kind, got, err, a.SHA256)
			}
		case memu.AttachReference:
			if e.Event.Action != event.ActionShared || e.File.URL != a.URL || a.URL == "" || !slices.Equal(e.Sharing.SharedWith, wantRcpt) || e.File.Name != a.Name {
				t.Errorf("reference: %+v, want a file-shared of %s at %s", e, a.Name, a.URL)
			}
		}
	}
	if events[1].Events[0].File.MimeType != "message/rfc822" {
		t.Errorf("attached message's type %q", events[1].Events[0].File.MimeType)
	}
	// Nothing new: nothing reported.
	if recs, _, _ := drain(t, s, st, pos2); len(recs) != 0 {
		t.Errorf("an idle mailbox reports %d records", len(recs))
	}
	// Deleted between delta and the attachments' listing: skipped as gone.
	gone, err := f.emu.SendMail(u.UPN, memu.Mail{To: []string{peer.UPN}, Attachments: []memu.Attachment{{Kind: memu.AttachFile}}})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.before = func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, gone+"/attachments") {
			f.emu.DeleteMail(u.UPN, gone)
		}
	}
	f.mu.Unlock()
	if recs, _, _ := drain(t, s, st, pos2); len(recs) != 1 || recs[0].Skip != SkipGone || recs[0].VendorID != gone {
		t.Errorf("a message deleted before its attachments were read: %+v", recs)
	}
}

// TestResync: a delta link Graph no longer knows (410 SyncStateNotFound) is a typed Resync that
// lists again what was sent since an hour before the last read (duplicates are ingest's to
// drop), and nothing sent before; the stream goes on from the new round.
func TestResync(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 4, UnlicensedUsers: -1, DisabledUsers: -1})
	s := f.open(t)
	u, peer := f.mailboxes()[1], f.mailboxes()[2]
	st := s.DriveStreams(f.drive(u))[0]
	send := func(subject string) string {
		id, err := f.emu.SendMail(u.UPN, memu.Mail{To: []string{peer.UPN}, Subject: subject, Attachments: []memu.Attachment{{Kind: memu.AttachFile}}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	old := send("before the start")
	f.clk.Advance(3 * time.Hour)
	pos, err := s.StreamStart(bg, st)
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Minute)
	first := send("first")
	recs, _, pos := drain(t, s, st, pos)
	if len(recs) != 1 || !strings.HasPrefix(recs[0].VendorID, first+"/") {
		t.Fatalf("records %+v", recs)
	}
	f.clk.Advance(2 * time.Hour)
	f.emu.ExpireDeltaTokens()
	second := send("while the link expired")
	recs, resyncs, pos := drain(t, s, st, pos)
	if len(resyncs) != 1 || resyncs[0].Reason != connector.ResyncExpired || resyncs[0].Recrawl || !strings.Contains(resyncs[0].Detail, "410 SyncStateNotFound") {
		t.Fatalf("resyncs %+v", resyncs)
	}
	var c cursor
	json.Unmarshal([]byte(pos), &c)
	var ids []string
	for _, r := range recs {
		ids = append(ids, strings.Split(r.VendorID, "/")[0])
	}
	if !slices.Contains(ids, second) || slices.Contains(ids, old) {
		t.Errorf("after the resync: %v, want %s and not %s (sent before the last read)", ids, second, old)
	}
	if got := resyncs[0].Since; got.After(f.clk.Now().Add(-2*time.Hour)) || got.Before(f.clk.Now().Add(-4*time.Hour)) {
		t.Errorf("resync since %s, now %s", got, f.clk.Now())
	}
	third := send("after")
	recs, resyncs, _ = drain(t, s, st, pos)
	if len(resyncs) != 0 || len(recs) != 1 || !strings.HasPrefix(recs[0].VendorID, third+"/") {
		t.Errorf("after the resync the stream goes on: %+v %+v", recs, resyncs)
	}
}

// TestMailboxLimits: attachments downloaded at once stay within Exchange's 4 concurrent requests
// per mailbox (no 429 MailboxConcurrency); past the mailbox's requests per 10 minutes, the 429
// ApplicationThrottled is a throttle error reported with its end (R3.7), and collection works
// again after it.
func TestMailboxLimits(t *testing.T) {
	for _, limit := range []int{0, 6} {
		f := newFixture(t, memu.Options{Users: 4, UnlicensedUsers: -1, DisabledUsers: -1, MailboxRequestsPer10Min: limit})
		var throttled time.Time
		var tmu sync.Mutex
		s := f.openWith(t, f.config(), connector.Deps{Clock: f.clk, Sleep: f.clk.Sleep, OnThrottle: func(until time.Time) {
			tmu.Lock()
			throttled = until
			tmu.Unlock()
		}})
		u, peer := f.mailboxes()[1], f.mailboxes()[2]
		st := s.DriveStreams(f.drive(u))[0]
		pos, err := s.StreamStart(bg, st)
		if err != nil {
			t.Fatal(err)
		}
		var atts []memu.Attachment
		for range 8 {
			atts = append(atts, memu.Attachment{Kind: memu.AttachFile})
		}
		if _, err := f.emu.SendMail(u.UPN, memu.Mail{To: []string{peer.UPN}, Attachments: atts}); err != nil {
			t.Fatal(err)
		}
		recs, _, _ := drain(t, s, st, pos)
		if len(recs) != 8 {
			t.Fatalf("%d records", len(recs))
		}
		f.mu.Lock()
		f.slow = 30 * time.Millisecond // the downloads overlap
		f.mu.Unlock()
		var wg sync.WaitGroup
		errs := make([]error, len(recs))
		for i, r := range recs {
			wg.Go(func() {
				_, errs[i] = sha(s.Content(bg, connector.ContentRef{Drive: r.Drive, File: r.VendorID}))
			})
		}
		wg.Wait()
		if limit == 0 {
			for _, err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if n := f.emu.Stats().MailThrottled; n != 0 {
				t.Errorf("%d requests answered 429 MailboxConcurrency: more than 4 at once on one mailbox", n)
			}
			continue
		}
		n := 0
		for _, err := range errs {
			if err != nil {
				n++
				if !errors.Is(err, httpx.ErrThrottled) {
					t.Errorf("over the mailbox's limit: %v, want a throttle", err)
				}
			}
		}
		tmu.Lock()
		if n == 0 || throttled.IsZero() || !throttled.After(f.clk.Now()) {
			t.Errorf("%d downloads throttled, reported until %s", n, throttled)
		}
		tmu.Unlock()
		f.clk.Advance(11 * time.Minute)
		if _, err := sha(s.Content(bg, connector.ContentRef{Drive: recs[0].Drive, File: recs[0].VendorID})); err != nil {
			t.Errorf("after the window: %v", err)
		}
	}
}

// TestMailboxPacing: a mailbox's requests are paced (on the injected clock) below Exchange's
// requests per 10 minutes: past the burst, each waits its turn instead of drawing a 429.
func TestMailboxPacing(t *testing.T) {
	defer func(r float64, b int) { mailboxPerMinute, mailboxBurst = r, b }(mailboxPerMinute, mailboxBurst)
	mailboxPerMinute, mailboxBurst = 60, 5
	f := newFixture(t, memu.Options{Users: 4, UnlicensedUsers: -1, DisabledUsers: -1, MailboxRequestsPer10Min: 30})
	s := f.openWith(t, f.config(), connector.Deps{Clock: f.clk, Sleep: f.clk.Sleep})
	u := f.mailboxes()[1]
	st := s.DriveStreams(f.drive(u))[0]
	start := f.clk.Now()
	for range 25 {
		if _, err := s.StreamStart(bg, st); err != nil {
			t.Fatal(err)
		}
	}
	if waited := f.clk.Now().Sub(start); waited < 19*time.Second {
		t.Errorf("25 requests at 60 a minute after a burst of 5 took %s", waited)
	}
	if n := f.emu.Stats().MailThrottled; n != 0 {
		t.Errorf("%d requests throttled", n)
	}
}

// TestCursorOfAnotherGraphURL: a stored position whose link was taken from another Graph URL (a
// cursor kept whole before links were kept relative, then the connection moved: a proxy, an
// emulator on another port) resyncs like an expired link, without a request to that URL: the
// messages sent since the position's time are listed again, and the stream goes on.
func TestCursorOfAnotherGraphURL(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 4, UnlicensedUsers: -1, DisabledUsers: -1})
	s := f.open(t)
	u, peer := f.mailboxes()[1], f.mailboxes()[2]
	st := s.DriveStreams(f.drive(u))[0]
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	pos, err := s.StreamStart(bg, st)
	if err != nil {
		t.Fatal(err)
	}
	var c cursor
	if err := json.Unmarshal([]byte(pos), &c); err != nil || !strings.HasPrefix(c.L, "/") {
		t.Fatalf("the stream's start %q (%v): its link is not relative to the Graph URL", pos, err)
	}
	f.clk.Advance(time.Minute)
	id, err := f.emu.SendMail(u.UPN, memu.Mail{To: []string{peer.UPN}, Subject: "moved", Attachments: []memu.Attachment{{Kind: memu.AttachFile}}})
	if err != nil {
		t.Fatal(err)
	}
	c.L = other.URL + "/v1.0" + c.L // as a cursor of a connection then at other.URL kept it
	recs, resyncs, _ := drain(t, s, st, c.String())
	if len(resyncs) != 1 || resyncs[0].Reason != connector.ResyncExpired || !strings.Contains(resyncs[0].Detail, "another Graph URL") {
		t.Errorf("resyncs %+v, want one for a link of another Graph URL", resyncs)
	}
	if len(recs) != 1 || !strings.HasPrefix(recs[0].VendorID, id+"/") {
		t.Errorf("records %+v, want the message sent since the position", recs)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d requests went to the other Graph URL", n)
	}
}

// TestLinksOutsideGraphRefusedAtOnce: Graph reached through a proxy that leaves Graph's own host
// in its links: the stream's start fails as malformed when Graph hands such a deltaLink over, so
// no position holds it (a stored one would resync at every read, never saying why).
func TestLinksOutsideGraphRefusedAtOnce(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 4, UnlicensedUsers: -1, DisabledUsers: -1})
	target, _ := url.Parse(f.srv.URL)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }})
	defer proxy.Close()
	cfg := f.config()
	cfg.Settings["graph_url"] = proxy.URL + "/v1.0"
	s := f.openWith(t, cfg, connector.Deps{Clock: f.clk, Sleep: f.clk.Sleep})
	st := s.DriveStreams(f.drive(f.mailboxes()[1]))[0]
	pos, err := s.StreamStart(bg, st)
	if !errors.Is(err, connector.ErrMalformed) || !strings.Contains(err.Error(), "a link outside "+proxy.URL) || pos != "" {
		t.Errorf("a stream start whose deltaLink is outside the Graph URL: %q, %v", pos, err)
	}
}
