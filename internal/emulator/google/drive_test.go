package google

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sort"
	"strings"
	"testing"

	"google.golang.org/api/drive/v3"
)

const fileFields = "nextPageToken, files(id,name,mimeType,parents,owners,size,md5Checksum,sha1Checksum,sha256Checksum,createdTime,modifiedTime,trashed,driveId,lastModifyingUser,webViewLink,permissions)"

func TestFilesListPagingAndFields(t *testing.T) {
	h := newHarness(t, Options{Users: 4, SuspendedUsers: 1, ArchivedUsers: 1, FilesPerUser: 1500, FoldersPerUser: 2})
	u := h.active()[0]
	s := h.drive(u.Email)
	var pages []int
	ids := map[string]bool{}
	tok := ""
	for guard := 0; guard < 10; guard++ {
		r, err := s.Files.List().PageSize(1000).PageToken(tok).Fields(fileFields).Do()
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(r.Files))
		for _, f := range r.Files {
			if ids[f.Id] {
				t.Fatalf("file %s listed twice", f.Id)
			}
			ids[f.Id] = true
			native := strings.HasPrefix(f.MimeType, "application/vnd.google-apps.")
			if native && (f.Md5Checksum != "" || f.Sha256Checksum != "" || f.Size != 0) {
				t.Errorf("a Docs editors file has checksums or a size: %+v", f)
			}
			if !native && (len(f.Md5Checksum) != 32 || len(f.Sha1Checksum) != 40 || len(f.Sha256Checksum) != 64 || f.Size == 0) {
				t.Errorf("a binary file lacks checksums or a size: %+v", f)
			}
			if len(f.Owners) != 1 || len(f.Parents) != 1 || f.CreatedTime == "" || f.WebViewLink == "" || f.LastModifyingUser == nil {
				t.Errorf("a file lacks owners, parents, times or links: %+v", f)
			}
		}
		if tok = r.NextPageToken; tok == "" {
			break
		}
	}
	if len(pages) < 2 || pages[0] != 1000 || pages[len(pages)-1] >= 1000 || len(ids) < 1500 {
		t.Errorf("pages %v, %d files", pages, len(ids))
	}
	_, err := s.Files.List().PageSize(1001).Do()
	apiErr(t, err, 400, "invalid")

	// The fields parameter selects; without it Drive answers its default fields only.
	if _, err := s.Files.List().PageSize(5).Fields("nextPageToken,files(id,md5Checksum)").Do(); err != nil {
		t.Fatal(err)
	}
	for _, f := range h.lastBody("/drive/v3/files")["files"].([]any) {
		for k := range f.(map[string]any) {
			if k != "id" && k != "md5Checksum" {
				t.Errorf("fields=files(id,md5Checksum) answered %q", k)
			}
		}
	}
	if _, err := s.Files.List().PageSize(5).Do(); err != nil {
		t.Fatal(err)
	}
	body := h.lastBody("/drive/v3/files")
	for k := range body["files"].([]any)[0].(map[string]any) {
		if k != "kind" && k != "id" && k != "name" && k != "mimeType" {
			t.Errorf("no fields parameter, yet the file has %q", k)
		}
	}

	// q: a folder's children, not trashed.
	folder := ""
	for _, f := range mustList(t, s.Files.List().Q("mimeType = 'application/vnd.google-apps.folder'").Fields("files(id)")) {
		folder = f.Id
	}
	kids := mustList(t, s.Files.List().Q("'"+folder+"' in parents and trashed=false").Fields("files(id,parents,trashed)").PageSize(1000))
	if len(kids) == 0 {
		t.Fatal("a folder has no children")
	}
	for _, f := range kids {
		if f.Parents[0] != folder || f.Trashed {
			t.Errorf("q returned %+v", f)
		}
	}
	// 'me' in owners: only the caller's own files, not those shared with them.
	mine := mustList(t, s.Files.List().Q("'me' in owners and trashed=false").Fields("files(id,owners(emailAddress))").PageSize(1000))
	if len(mine) == 0 {
		t.Error("'me' in owners gave no file")
	}
	for _, f := range mine {
		if len(f.Owners) != 1 || f.Owners[0].EmailAddress != u.Email {
			t.Errorf("'me' in owners answered %s owned by %+v", f.Id, f.Owners)
		}
	}
	_, err = s.Files.List().Q("fullText contains 'x'").Do()
	apiErr(t, err, 400, "invalid")
}

func mustList(t *testing.T, c *drive.FilesListCall) []*drive.File {
	t.Helper()
	r, err := c.Do()
	if err != nil {
		t.Fatal(err)
	}
	return r.Files
}

func TestFilesContentPermissionsAndDrives(t *testing.T) {
	h := newHarness(t, Options{Users: 8, SharedDrives: 3, FilesPerDrive: 6})
	a, b := h.active()[0], h.active()[1]
	content := []byte("quarterly numbers\n")
	id, err := h.emu.Upload(a.Email, "", "q1.csv", "text/csv", content)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := h.emu.Upload(a.Email, "", "Plan", MimeDoc, nil)
	h.emu.Share(a.Email, id, Share{Type: "user", Email: "pat@gmail.com", Role: "writer"})
	h.emu.Share(a.Email, id, Share{Type: "anyone"})
	h.emu.Share(a.Email, id, Share{Type: "domain", Discoverable: true})
	s := h.drive(a.Email)

	f, err := s.Files.Get(id).Fields("*").Do()
	if err != nil {
		t.Fatal(err)
	}
	m, sh := md5.Sum(content), sha256.Sum256(content)
	if f.Md5Checksum != hex.EncodeToString(m[:]) || f.Sha256Checksum != hex.EncodeToString(sh[:]) || f.Size != int64(len(content)) {
		t.Errorf("checksums %s %s size %d", f.Md5Checksum, f.Sha256Checksum, f.Size)
	}
	types := map[string]*drive.Permission{}
	for _, p := range f.Permissions {
		types[p.Type+":"+p.EmailAddress+p.Domain] = p
	}
	if p := types["anyone:"]; p == nil || p.AllowFileDiscovery || p.Id != "anyoneWithLink" {
		t.Errorf("no anyone-with-link permission: %v", sortedKeys(types))
	}
	if p := types["domain:example.com"]; p == nil || !p.AllowFileDiscovery {
		t.Errorf("no discoverable domain permission: %v", sortedKeys(types))
	}
	if p := types["user:pat@gmail.comgmail.com"]; p == nil || p.Role != "writer" {
		t.Errorf("no external writer: %v", sortedKeys(types))
	}
	pl, err := s.Permissions.List(id).Fields("*").Do()
	if err != nil || len(pl.Permissions) != 4 {
		t.Errorf("permissions.list: %d, %v", len(pl.Permissions), err)
	}

	// Content: binary files download; Docs editors files answer fileNotDownloadable and export.
	resp, err := s.Files.Get(id).Download()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, content) {
		t.Errorf("download %q", got)
	}
	_, err = s.Files.Get(doc).Download()
	apiErr(t, err, 403, "fileNotDownloadable")
	for _, mt := range []string{"text/plain", "application/pdf"} {
		resp, err := s.Files.Export(doc, mt).Download()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Type") != mt || len(b) == 0 || (mt == "application/pdf" && !bytes.HasPrefix(b, []byte("%PDF-"))) {
			t.Errorf("export %s: %s %.40q", mt, resp.Header.Get("Content-Type"), b)
		}
	}
	_, err = s.Files.Export(id, "text/plain").Download()
	apiErr(t, err, 403, "fileNotExportable")
	_, err = h.drive(b.Email).Files.Get(id).Do() // b may not see it... but the domain permission lets b read it
	if err != nil {
		t.Errorf("a domain-shared file is not readable in the domain: %v", err)
	}
	_, err = s.Files.Get("1nope").Do()
	apiErr(t, err, 404, "notFound")

	// Shared drives: every drive with useDomainAdminAccess, and their members.
	ad := h.drive(h.adminEmail())
	dl, err := ad.Drives.List().UseDomainAdminAccess(true).PageSize(100).Do()
	if err != nil || len(dl.Drives) != 3 {
		t.Fatalf("drives.list: %+v, %v", dl, err)
	}
	_, err = s.Drives.List().UseDomainAdminAccess(true).Do()
	apiErr(t, err, 403, "")
	_, err = ad.Drives.List().PageSize(101).Do()
	apiErr(t, err, 400, "invalid")
	sd := h.emu.SharedDrives()[0]
	mem, err := ad.Permissions.List(sd.ID).SupportsAllDrives(true).UseDomainAdminAccess(true).Fields("*").Do()
	if err != nil || len(mem.Permissions) != len(sd.Members) {
		t.Fatalf("drive members: %+v, %v (want %v)", mem, err, sd.Members)
	}
	var member string
	for email, role := range sd.Members {
		if role == "organizer" {
			member = email
		}
	}
	ms := h.drive(member)
	items := mustList(t, ms.Files.List().Corpora("drive").DriveId(sd.ID).IncludeItemsFromAllDrives(true).SupportsAllDrives(true).Fields(fileFields))
	if len(items) == 0 {
		t.Fatal("a shared drive lists no items")
	}
	for _, f := range items {
		if f.DriveId != sd.ID || len(f.Owners) != 0 || len(f.Permissions) != 0 {
			t.Errorf("a shared drive item: driveId %q, owners %d, permissions %d", f.DriveId, len(f.Owners), len(f.Permissions))
		}
	}
	_, err = ms.Files.Get(items[0].Id).Do()
	apiErr(t, err, 404, "notFound") // without supportsAllDrives
	_, err = ms.Files.List().Corpora("drive").DriveId(sd.ID).Do()
	apiErr(t, err, 403, "")
	all := mustList(t, ms.Files.List().Corpora("allDrives").IncludeItemsFromAllDrives(true).SupportsAllDrives(true).PageSize(1000).Fields("files(id,driveId)"))
	if len(all) <= len(items) {
		t.Errorf("allDrives lists %d, the drive alone %d", len(all), len(items))
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Id < all[j].Id })
}
