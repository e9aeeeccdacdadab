package discovery

import (
	"strings"
	"testing"
)

func TestValidatorBites(t *testing.T) {
	d, err := LoadFromModule("drive/v3/drive-api.json")
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := d.Find("GET", "/drive/v3/changes/startPageToken"); !ok || m.ID != "drive.changes.getStartPageToken" {
		t.Fatalf("startPageToken resolves to %+v", m)
	}
	if m, ok := d.Find("GET", "/drive/v3/files/abc"); !ok || m.ID != "drive.files.get" {
		t.Fatalf("files/abc resolves to %+v", m)
	}
	good := `{"kind":"drive#changeList","newStartPageToken":"7","changes":[{"kind":"drive#change","changeType":"file","fileId":"a","removed":false,"time":"2026-03-02T09:00:00.000Z","file":{"id":"a","size":"12","trashed":false,"permissions":[{"id":"1","type":"user","role":"owner"}]}}]}`
	if err := d.ValidateResponse("GET", "/drive/v3/changes", []byte(good)); err != nil {
		t.Fatalf("a valid answer fails: %v", err)
	}
	for _, c := range []struct{ body, want string }{
		{strings.Replace(good, `"newStartPageToken"`, `"newStartPageTokn"`, 1), `newStartPageTokn: property "newStartPageTokn" is not declared in ChangeList`},
		{strings.Replace(good, `"size":"12"`, `"size":12`, 1), `changes[0].file.size: 12 is a number, not string`},
		{strings.Replace(good, `"size":"12"`, `"size":"12b"`, 1), `changes[0].file.size: "12b" is not a int64`},
		{strings.Replace(good, `"removed":false`, `"removed":"false"`, 1), `changes[0].removed`},
		{strings.Replace(good, `"time":"2026-03-02T09:00:00.000Z"`, `"time":"yesterday"`, 1), `changes[0].time: "yesterday" is not an RFC 3339`},
		{strings.Replace(good, `"trashed":false`, `"trashed":null`, 1), `changes[0].file.trashed: null is not allowed`},
		{strings.Replace(good, `"role":"owner"`, `"role":"owner","colour":"red"`, 1), `changes[0].file.permissions[0].colour: property "colour" is not declared in Permission`},
	} {
		err := d.ValidateResponse("GET", "/drive/v3/changes", []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
	a, err := LoadFromModule("admin/directory/v1/admin-api.json")
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := a.Find("GET", "/admin/directory/v1/groups/g1/members"); !ok || m.ID != "directory.members.list" {
		t.Fatalf("members resolves to %+v", m)
	}
}
