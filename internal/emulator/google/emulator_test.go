package google

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	h := newHarness(t, Options{})
	u := h.active()[0]
	s := h.drive(u.Email)
	fl, err := s.Files.List().Fields("*").Do()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files", len(fl.Files))
	us, err := h.admin(h.adminEmail()).Users.List().Customer("my_customer").Do()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d users", len(us.Users))
}
