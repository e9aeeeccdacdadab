package google

import (
	"strings"
	"testing"
)

func TestDirectoryPagingAtTheMaximumSizes(t *testing.T) {
	h := newHarness(t, Options{Users: 1050, SuspendedUsers: 30, ArchivedUsers: 5, FilesPerUser: 1, FoldersPerUser: 1, Groups: 230, SharedDrives: 1, FilesPerDrive: 1})
	s := h.admin(h.adminEmail())

	var pages []int
	seen := map[string]bool{}
	suspended, archived, admins := 0, 0, 0
	tok := ""
	for guard := 0; guard < 10; guard++ {
		r, err := s.Users.List().Customer("my_customer").MaxResults(500).PageToken(tok).Do()
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(r.Users))
		for _, u := range r.Users {
			if seen[u.Id] || u.PrimaryEmail == "" || u.Name == nil || u.Name.FullName == "" {
				t.Fatalf("user %+v repeated or incomplete", u)
			}
			seen[u.Id] = true
			if u.Suspended {
				suspended++
			}
			if u.Archived {
				archived++
			}
			if u.IsAdmin {
				admins++
			}
		}
		if tok = r.NextPageToken; tok == "" {
			break
		}
	}
	if len(pages) != 3 || pages[0] != 500 || pages[1] != 500 || pages[2] != 50 || suspended != 30 || archived != 5 || admins != 1 {
		t.Errorf("pages %v, %d suspended, %d archived, %d admins", pages, suspended, archived, admins)
	}
	if _, err := s.Users.List().Domain("example.com").MaxResults(501).Do(); err == nil {
		t.Error("maxResults 501 was accepted (the discovery document says at most 500)")
	} else {
		apiErr(t, err, 400, "invalid")
	}
	u := h.active()[3]
	got, err := s.Users.Get(u.Email).Do()
	if err != nil || got.Id != u.ID || got.PrimaryEmail != u.Email {
		t.Errorf("users.get: %+v, %v", got, err)
	}
	_, err = s.Users.Get("nobody@example.com").Do()
	apiErr(t, err, 404, "notFound")

	// Groups: 200 per page at most (a larger maxResults is clamped).
	var gpages []int
	tok = ""
	for {
		r, err := s.Groups.List().Customer("my_customer").MaxResults(1000).PageToken(tok).Do()
		if err != nil {
			t.Fatal(err)
		}
		gpages = append(gpages, len(r.Groups))
		if tok = r.NextPageToken; tok == "" {
			break
		}
	}
	if len(gpages) != 2 || gpages[0] != 200 || gpages[1] != 30 {
		t.Errorf("group pages %v", gpages)
	}

	// Members: 200 per page; nested groups with includeDerivedMembership.
	h.emu.mu.Lock()
	g0 := h.emu.groups[0]
	for _, u := range h.emu.users[:260] {
		if !h.emu.inGroupDirect(u.email, g0) {
			g0.members = append(g0.members, u.email)
		}
	}
	direct, nested := len(g0.members), h.emu.groups[1]
	h.emu.mu.Unlock()
	count := func(derived bool) (n int, pageSizes []int, hasNestedUser bool) {
		tok := ""
		for {
			r, err := s.Members.List(g0.email).MaxResults(200).IncludeDerivedMembership(derived).PageToken(tok).Do()
			if err != nil {
				t.Fatal(err)
			}
			pageSizes = append(pageSizes, len(r.Members))
			for _, m := range r.Members {
				n++
				for _, nm := range nested.members {
					if m.Email == nm && !h.emu.inGroupDirect(nm, g0) {
						hasNestedUser = true
					}
				}
			}
			if tok = r.NextPageToken; tok == "" {
				return
			}
		}
	}
	n, sizes, nestedUser := count(false)
	if n != direct || sizes[0] != 200 || nestedUser {
		t.Errorf("direct members: %d of %d in pages %v (nested user listed: %v)", n, direct, sizes, nestedUser)
	}
	if n2, _, nestedUser := count(true); n2 <= n && !nestedUser {
		t.Errorf("includeDerivedMembership lists no nested member: %d", n2)
	}

	// Only an administrator may call the Directory API.
	_, err = h.admin(h.active()[0].Email).Users.List().Customer("my_customer").Do()
	ge := apiErr(t, err, 403, "forbidden")
	if !strings.Contains(string(ge.Body), `"status":"PERMISSION_DENIED"`) || ge.Message != "Not Authorized to access this resource/api" {
		t.Errorf("a non-admin's 403: %s", ge.Body)
	}
}
