package google

import (
	"slices"
	"testing"
	"time"
)

// TestAdminActions: a user added is listed and can act; group membership changes show in
// members.list; Drive turned off for a user answers 403 domainPolicy while the Directory still
// lists the user active.
func TestAdminActions(t *testing.T) {
	h := newHarness(t, Options{Users: 5})
	ad := h.admin(h.adminEmail())
	u := h.emu.AddUser("New Hire")
	if u.Email != "new.hire@example.com" || h.emu.AddUser("New Hire").Email != "new.hire2@example.com" {
		t.Fatalf("added %+v", u)
	}
	got, err := ad.Users.Get(u.Email).Do()
	if err != nil || got.Suspended || got.PrimaryEmail != u.Email {
		t.Fatalf("the new user: %+v %v", got, err)
	}
	if _, err := h.emu.Upload(u.Email, "", "first.docx", "", []byte("hello")); err != nil {
		t.Fatalf("the new user cannot act: %v", err)
	}
	if l, err := h.drive(u.Email).Files.List().Q("'me' in owners").Do(); err != nil || len(l.Files) != 1 {
		t.Fatalf("the new user's drive: %v %v", l, err)
	}
	g := h.emu.Groups()[2]
	members := func() []string {
		t.Helper()
		r, err := ad.Members.List(g.Email).Do()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range r.Members {
			out = append(out, m.Email)
		}
		return out
	}
	if err := h.emu.AddToGroup(g.Name, u.Email); err != nil || !slices.Contains(members(), u.Email) {
		t.Errorf("AddToGroup by name: %v, members %v", err, members())
	}
	if err := h.emu.RemoveFromGroup(g.Email, u.Email); err != nil || slices.Contains(members(), u.Email) {
		t.Errorf("RemoveFromGroup: %v, members %v", err, members())
	}
	if err := h.emu.RemoveFromGroup(g.Email, u.Email); err == nil {
		t.Error("removing a non-member: no error")
	}
	h.emu.SetDriveDisabled(u.Email, true)
	_, err = h.drive(u.Email).Files.List().Do()
	apiErr(t, err, 403, "domainPolicy")
	if got, err := ad.Users.Get(u.Email).Do(); err != nil || got.Suspended {
		t.Errorf("the Directory while Drive is off: %+v %v", got, err)
	}
	h.emu.SetDriveDisabled(u.Email, false)
	if _, err := h.drive(u.Email).Files.List().Do(); err != nil {
		t.Errorf("Drive back on: %v", err)
	}
}

// TestEarlyRetries: repeating a throttled request before Google's exponential backoff (1 s, then
// 2 s, ...) counts as early; waiting it out does not; other requests do not count.
func TestEarlyRetries(t *testing.T) {
	h := newHarness(t, Options{Users: 5, RateLimitPerMinute: 6, RateBurst: 1})
	s := h.drive(h.active()[0].Email)
	if _, err := s.Files.List().Do(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Files.List().Do() // throttled: the bucket refills every 10 s
	apiErr(t, err, 403, "userRateLimitExceeded")
	h.clk.Advance(500 * time.Millisecond)
	s.Files.List().Do() // early: before 1 s
	if n := h.emu.Stats().EarlyRetries; n != 1 {
		t.Fatalf("early retries %d, want 1", n)
	}
	h.clk.Advance(2 * time.Second) // 2 s after the second throttle in a row: allowed (and throttled)
	s.Files.List().Do()
	h.clk.Advance(3 * time.Second) // the third throttle wants 4 s: 3 s is early
	s.Files.List().Do()
	if n := h.emu.Stats().EarlyRetries; n != 2 {
		t.Errorf("early retries %d, want 2", n)
	}
	h.emu.SetRateLimit(-1, 0)
	h.clk.Advance(30 * time.Minute)
	if _, err := s.Files.List().Do(); err != nil {
		t.Errorf("limit off: %v", err)
	}
	if n := h.emu.Stats().EarlyRetries; n != 2 {
		t.Errorf("a request after the backoff counted early: %d", n)
	}
}
