package google

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/drive/v3"
)

func startToken(t *testing.T, s *drive.Service, driveID string) string {
	t.Helper()
	c := s.Changes.GetStartPageToken()
	if driveID != "" {
		c = c.DriveId(driveID).SupportsAllDrives(true)
	}
	r, err := c.Do()
	if err != nil {
		t.Fatal(err)
	}
	return r.StartPageToken
}

func TestChangesFollowActionsPerUser(t *testing.T) {
	h := newHarness(t, Options{Users: 8})
	a, b, c := h.active()[0], h.active()[1], h.active()[2]
	svc := map[string]*drive.Service{a.Email: h.drive(a.Email), b.Email: h.drive(b.Email), c.Email: h.drive(c.Email)}
	tok := map[string]string{}
	for email, s := range svc {
		tok[email] = startToken(t, s, "")
	}
	start := tok[a.Email]
	var id, other, perm string
	// step acts, then reads every user's feed from where it was: want(a, b) are the changes a and b
	// must see (file ids, "(removed)" for a removal); c, never shared anything, sees none.
	step := func(what string, act func() error, wantA, wantB func() []string) []*drive.Change {
		t.Helper()
		if err := act(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want := map[string][]string{a.Email: wantA(), b.Email: wantB()}
		var mine []*drive.Change
		for email, s := range svc {
			got, next := changesFrom(t, s, tok[email], "")
			tok[email] = next
			if !slices.Equal(fileIDs(got), want[email]) {
				t.Errorf("%s: %s sees %v, want %v", what, email, fileIDs(got), want[email])
			}
			if email == a.Email {
				mine = got
			}
		}
		return mine
	}
	none := func() []string { return nil }
	one := func(s *string, suffix string) func() []string {
		return func() []string { return []string{*s + suffix} }
	}
	var err error
	ch := step("upload", func() error {
		id, err = h.emu.Upload(a.Email, "", "deal.pdf", "application/pdf", []byte("v1"))
		return err
	}, one(&id, ""), none)
	if f := ch[0].File; f.Md5Checksum != "6654c734ccab8f440ff0825eb443dc7f" || f.Size != 2 || f.Owners[0].EmailAddress != a.Email {
		t.Errorf("the uploaded file in the change: %+v", f)
	}
	step("share with b", func() error {
		perm, err = h.emu.Share(a.Email, id, Share{Type: "user", Email: b.Email, Role: "writer"})
		return err
	}, one(&id, ""), one(&id, ""))
	ch = step("edit by b", func() error { return h.emu.Edit(b.Email, id, []byte("v2 by b")) }, one(&id, ""), one(&id, ""))
	if f := ch[0].File; f.LastModifyingUser.EmailAddress != b.Email || f.Size != 7 || f.Version != 2 {
		t.Errorf("the edited file in the change: %+v", f)
	}
	ch = step("rename", func() error { return h.emu.Rename(a.Email, id, "deal-final.pdf") }, one(&id, ""), one(&id, ""))
	if ch[0].File.Name != "deal-final.pdf" {
		t.Errorf("renamed to %q", ch[0].File.Name)
	}
	step("download and view", func() error {
		h.emu.Download(b.Email, id)
		return h.emu.View(a.Email, id)
	}, none, none)
	step("copy by b", func() error { other, err = h.emu.Copy(b.Email, id); return err }, none, one(&other, ""))
	step("unshare b", func() error { return h.emu.Unshare(a.Email, id, perm) }, one(&id, ""), one(&id, "(removed)"))
	step("move", func() error {
		return h.emu.Move(a.Email, id, "")
	}, one(&id, ""), none)
	ch = step("trash", func() error { return h.emu.Trash(a.Email, id) }, one(&id, ""), none)
	if !ch[0].File.Trashed || ch[0].Removed {
		t.Errorf("trashed: %+v", ch[0])
	}
	ch = step("delete", func() error { return h.emu.Delete(a.Email, id) }, one(&id, "(removed)"), none)
	if ch[0].File != nil {
		t.Errorf("a removed change carries its file: %+v", ch[0].File)
	}

	// From the start, a's feed shows the file once, at its latest change; includeRemoved=false
	// leaves the removal out; paging by one ends with newStartPageToken.
	all, end := changesFrom(t, svc[a.Email], start, "")
	if want := []string{id + "(removed)"}; !slices.Equal(fileIDs(all), want) {
		t.Errorf("a's whole feed %v, want %v", fileIDs(all), want)
	}
	r, err := svc[a.Email].Changes.List(start).IncludeRemoved(false).Do()
	if err != nil || len(r.Changes) != 0 || r.NewStartPageToken != end {
		t.Errorf("includeRemoved=false: %d changes, %v", len(r.Changes), err)
	}
	for i := 0; i < 3; i++ {
		h.emu.Upload(a.Email, "", "", "text/plain", nil)
	}
	n, from := 0, end
	for {
		r, err := svc[a.Email].Changes.List(from).PageSize(1).Do()
		if err != nil {
			t.Fatal(err)
		}
		n += len(r.Changes)
		if r.NewStartPageToken != "" {
			if r.NextPageToken != "" {
				t.Errorf("the last page has both tokens")
			}
			break
		}
		if r.NextPageToken == "" || len(r.Changes) != 1 {
			t.Fatalf("a middle page: %+v", r)
		}
		from = r.NextPageToken
	}
	if n != 3 {
		t.Errorf("paging by one read %d changes", n)
	}
	_, err = svc[a.Email].Changes.List(start).PageSize(1001).Do()
	apiErr(t, err, 400, "invalid")
	// The ground truth has every action, downloads and views too.
	var names []string
	for _, act := range h.emu.Activities()[:12] {
		names = append(names, act.Name)
	}
	if want := []string{"upload", "change_user_access", "edit", "rename", "download", "view", "source_copy", "copy", "change_user_access", "move", "trash", "delete"}; !slices.Equal(names, want) {
		t.Errorf("activities %v", names)
	}
}

func TestChangesOfASharedDrive(t *testing.T) {
	h := newHarness(t, Options{Users: 8, SharedDrives: 2})
	sd := h.emu.SharedDrives()[0]
	var member, outsider string
	for email, role := range sd.Members {
		if role == "organizer" {
			member = email
		}
	}
	for _, u := range h.active() {
		if _, in := sd.Members[u.Email]; !in && outsider == "" {
			h.emu.mu.Lock()
			if h.emu.driveRole(h.emu.byEmail[u.Email], h.emu.drivesBy[sd.ID]) == "" {
				outsider = u.Email
			}
			h.emu.mu.Unlock()
		}
	}
	s := h.drive(member)
	tok := startToken(t, s, sd.ID)
	own := startToken(t, s, "")
	id, err := h.emu.Upload(member, sd.ID, "drive.pdf", "application/pdf", nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, tok := changesFrom(t, s, tok, sd.ID)
	if len(ch) != 1 || ch[0].FileId != id || ch[0].DriveId != sd.ID || ch[0].File.DriveId != sd.ID || len(ch[0].File.Owners) != 0 {
		t.Errorf("the drive's changes after an upload: %v", fileIDs(ch))
	}
	h.emu.Edit(member, id, nil)
	ch, tok = changesFrom(t, s, tok, sd.ID)
	if len(ch) != 1 || ch[0].FileId != id || ch[0].File.Version != 2 {
		t.Errorf("the drive's changes after an edit: %v", fileIDs(ch))
	}
	h.emu.Delete(member, id)
	if ch, _ = changesFrom(t, s, tok, sd.ID); !slices.Equal(fileIDs(ch), []string{id + "(removed)"}) {
		t.Errorf("the drive's changes after a delete: %v", fileIDs(ch))
	}
	if mine, _ := changesFrom(t, s, own, ""); len(mine) != 0 {
		t.Errorf("the user's own feed shows shared drive items without includeItemsFromAllDrives: %v", fileIDs(mine))
	}
	if outsider != "" {
		_, err := h.drive(outsider).Changes.GetStartPageToken().DriveId(sd.ID).SupportsAllDrives(true).Do()
		apiErr(t, err, 404, "notFound")
	}
}

func TestExpiredPageToken(t *testing.T) {
	h := newHarness(t, Options{Users: 6, ChangeRetention: 24 * time.Hour})
	a := h.active()[0]
	s := h.drive(a.Email)
	tok := startToken(t, s, "")
	h.emu.Upload(a.Email, "", "one.txt", "text/plain", nil)
	if _, err := s.Changes.List(tok).Do(); err != nil {
		t.Fatal(err)
	}
	h.emu.ExpireNextPageToken()
	_, err := s.Changes.List(tok).Do()
	ge := apiErr(t, err, 400, "invalid")
	if ge.Message != "Invalid Value" {
		t.Errorf("message %q", ge.Message)
	}
	if _, err := s.Changes.List(tok).Do(); err != nil {
		t.Errorf("ExpireNextPageToken expired more than one read: %v", err)
	}
	h.clk.Advance(25 * time.Hour)
	_, err = h.drive(a.Email).Changes.List(tok).Do()
	apiErr(t, err, 400, "invalid")
	if st := h.emu.Stats(); st.ExpiredPageTokens != 2 {
		t.Errorf("ExpiredPageTokens %d", st.ExpiredPageTokens)
	}
	_, err = h.drive(a.Email).Changes.List("abc").Do()
	apiErr(t, err, 400, "invalid")
}

// pushSink records push notifications.
type pushSink struct {
	mu  sync.Mutex
	got []http.Header
}

func (p *pushSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.got = append(p.got, r.Header.Clone())
	p.mu.Unlock()
}

func (p *pushSink) wait(t *testing.T, n int) []http.Header {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		got := append([]http.Header(nil), p.got...)
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d push notifications, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestWatchPushesChanges(t *testing.T) {
	h := newHarness(t, Options{Users: 6})
	a, b := h.active()[0], h.active()[1]
	sink, control := &pushSink{}, &pushSink{}
	ss, cs := httptest.NewServer(sink), httptest.NewServer(control)
	defer ss.Close()
	defer cs.Close()
	s := h.drive(a.Email)
	tok := startToken(t, s, "")
	exp := t0.Add(2 * time.Hour)
	ch, err := s.Changes.Watch(tok, &drive.Channel{Id: "chan-1", Type: "web_hook", Address: ss.URL + "/push", Token: "secret-1", Expiration: exp.UnixMilli()}).Do()
	if err != nil {
		t.Fatal(err)
	}
	if ch.ResourceId == "" || ch.Expiration != exp.UnixMilli() || ch.Token != "secret-1" || ch.ResourceUri == "" {
		t.Errorf("channel %+v", ch)
	}
	got := sink.wait(t, 1)
	if got[0].Get("X-Goog-Resource-State") != "sync" || got[0].Get("X-Goog-Message-Number") != "1" {
		t.Errorf("the first message: %v", got[0])
	}
	id, _ := h.emu.Upload(a.Email, "", "a.txt", "text/plain", nil)
	h.emu.Edit(a.Email, id, nil)
	h.emu.Upload(b.Email, "", "b.txt", "text/plain", nil) // not in a's feed
	h.emu.Download(a.Email, id)                           // not in any feed
	got = sink.wait(t, 3)
	for i, hd := range got {
		want := map[string]string{"X-Goog-Channel-Id": "chan-1", "X-Goog-Channel-Token": "secret-1", "X-Goog-Resource-Id": ch.ResourceId,
			"X-Goog-Resource-Uri": ch.ResourceUri, "X-Goog-Message-Number": strconv.Itoa(i + 1),
			"X-Goog-Channel-Expiration": exp.Format(http.TimeFormat)}
		if i > 0 {
			want["X-Goog-Resource-State"] = "change"
		}
		for k, v := range want {
			if hd.Get(k) != v {
				t.Errorf("message %d: %s %q, want %q", i+1, k, hd.Get(k), v)
			}
		}
	}
	// channels.stop ends the deliveries; a control channel on b's feed shows the emulator still pushes.
	if err := s.Channels.Stop(&drive.Channel{Id: "chan-1", ResourceId: ch.ResourceId}).Do(); err != nil {
		t.Fatal(err)
	}
	err = s.Channels.Stop(&drive.Channel{Id: "chan-1", ResourceId: ch.ResourceId}).Do()
	apiErr(t, err, 404, "notFound")
	sb := h.drive(b.Email)
	if _, err := sb.Changes.Watch(startToken(t, sb, ""), &drive.Channel{Id: "control", Type: "web_hook", Address: cs.URL}).Do(); err != nil {
		t.Fatal(err)
	}
	control.wait(t, 1)
	shared, _ := h.emu.Upload(a.Email, "", "both.txt", "text/plain", nil)
	h.emu.Share(a.Email, shared, Share{Type: "user", Email: b.Email})
	control.wait(t, 2)
	if n := len(sink.wait(t, 3)); n != 3 {
		t.Errorf("a stopped channel delivered %d messages", n)
	}
	// An expired channel delivers nothing more.
	h.clk.Advance(7 * 24 * time.Hour)
	h.emu.Edit(a.Email, shared, nil)
	h.emu.mu.Lock()
	left := len(h.emu.channels)
	h.emu.mu.Unlock()
	if left != 0 {
		t.Errorf("%d channels still live after expiry", left)
	}
	if n := len(control.wait(t, 2)); n != 2 {
		t.Errorf("an expired channel delivered: %d", n)
	}
	_, err = h.drive(a.Email).Changes.Watch(tok, &drive.Channel{Id: "control", Type: "web_hook", Address: cs.URL}).Do()
	if err != nil {
		t.Errorf("a channel id is reusable once its channel expired: %v", err)
	}
	if st := h.emu.Stats(); st.PushDeliveries < 5 || st.PushFailures != 0 {
		t.Errorf("push stats %+v", st)
	}
}
