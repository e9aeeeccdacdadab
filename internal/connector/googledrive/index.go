package googledrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
	"github.com/telltale-dev/telltale/internal/event"
)

const (
	filesPage  = 1000 // files.list and changes.list pageSize (NOTES 2b)
	mimeFolder = "application/vnd.google-apps.folder"
	// fileFields are the file fields the crawl and the changes feed ask for.
	fileFields = "id,name,mimeType,parents,owners(emailAddress),size,md5Checksum,sha256Checksum,sha1Checksum,createdTime,modifiedTime," +
		"trashed,trashedTime,trashingUser(emailAddress),driveId,lastModifyingUser(emailAddress),permissions(id,type,role,emailAddress,domain,deleted)"
	// maxFolders bounds the session's folder map (about 100 bytes an entry); past it the map
	// starts again.
	maxFolders = 200000
	maxDepth   = 64
)

// ErrNotDownloadable: a Google Docs editors file (Docs, Sheets, Slides, ...) has no bytes to
// download (Drive answers 403 fileNotDownloadable) and no checksum: it is not hashed.
var ErrNotDownloadable = errors.New("google drive: a Docs editors file has no binary content")

// folder is a folder's name and parent, for paths.
type folder struct {
	name, parent string
	root         bool // My Drive's root (no parent): not part of a path
}

// crawl is a drive's crawl cursor: files.list's page token. Paths are resolved from parents
// through the session's folder map, filled from the folders each page lists and, for a folder not
// listed yet, by files.get, so the cursor stays a page token whatever the drive's size.
type crawl struct {
	Page    string `json:"p,omitempty"`
	Started bool   `json:"s"`
}

// Index lists one page of a drive's files as its owner (for a shared drive, as a member): for a
// user drive the files the user owns (files shared with them are their owners' drives'), for a
// shared drive all of its files. Trashed files are left out (the changes feed reports a trashed
// file as removed); folders are not files but name the paths.
func (s *session) Index(ctx context.Context, d connector.Drive, cursor string) (connector.IndexPage, error) {
	var cr crawl
	if cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &cr); err != nil {
			return connector.IndexPage{}, fmt.Errorf("%w: google drive crawl cursor: %v", connector.ErrMalformed, err)
		}
	}
	who, err := s.actor(ctx, d)
	if err != nil {
		return connector.IndexPage{}, err
	}
	ctx, svc := s.as(ctx, who)
	call := svc.drive.Files.List().PageSize(filesPage).Fields(googleapi.Field("nextPageToken,files(" + fileFields + ")"))
	if d.Kind == "shared" {
		call = call.Corpora("drive").DriveId(d.VendorID).IncludeItemsFromAllDrives(true).SupportsAllDrives(true).Q("trashed = false")
	} else {
		call = call.Corpora("user").Q("'me' in owners and trashed = false")
	}
	if cr.Page != "" {
		call = call.PageToken(cr.Page)
	}
	page, err := call.Context(ctx).Do()
	if err != nil {
		return connector.IndexPage{}, s.driveErr(err, d, who, "listing files")
	}
	s.learn(page.Files)
	var out connector.IndexPage
	for _, f := range page.Files {
		if f.MimeType == mimeFolder {
			continue
		}
		x := s.file(ctx, svc, d, f)
		x.Drive = "" // a crawl page's files are its drive's (connector.File)
		out.Files = append(out.Files, x)
	}
	if page.NextPageToken == "" {
		out.Done = true
	}
	b, _ := json.Marshal(crawl{Page: page.NextPageToken, Started: true})
	out.Next = string(b)
	return out, nil
}

// driveErr classifies a failure to read drive d as who: the user cannot be impersonated any more
// (suspended meanwhile) or the shared drive is gone makes the drive inaccessible.
func (s *session) driveErr(err error, d connector.Drive, who, what string) error {
	err = googlekit.Plain(err)
	if ge, ok := googlekit.Err(err); ok && ge.Code == http.StatusForbidden && googlekit.Reason(ge) == "domainPolicy" {
		return fmt.Errorf("%w: google drive: %s of %s: Drive is turned off for %s (%d domainPolicy: %s): turn it on in the Admin console (Apps > Google Workspace > Drive and Docs > Service status) for the user's organizational unit",
			connector.ErrInaccessible, what, driveName(d), who, ge.Code, ge.Message)
	}
	if errors.Is(err, googlekit.ErrBadSubject) {
		if d.Kind == "shared" {
			s.mu.Lock()
			delete(s.members, d.VendorID) // the member left or was suspended: choose again
			s.mu.Unlock()
		}
		return fmt.Errorf("%w: google drive: %s of %s: %v", connector.ErrInaccessible, what, driveName(d), err)
	}
	if d.Kind == "shared" && googlekit.IsCode(err, http.StatusNotFound) {
		s.mu.Lock()
		delete(s.members, d.VendorID)
		s.mu.Unlock()
		return fmt.Errorf("%w: google drive: shared drive %s is gone, or %s is no longer its member: %v", connector.ErrInaccessible, driveName(d), who, err)
	}
	return s.g.Classify(err, "%s of %s as %s", what, driveName(d), who)
}

func driveName(d connector.Drive) string {
	if d.Kind == "shared" {
		return "shared drive " + cmpOr(d.Name, d.VendorID) + " (" + d.VendorID + ")"
	}
	return "the drive of " + d.VendorID
}

// learn keeps the folders among fs in the folder map.
func (s *session) learn(fs []*drive.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range fs {
		if f.MimeType != mimeFolder {
			continue
		}
		if len(s.folders) >= maxFolders {
			s.folders = map[string]folder{}
		}
		s.folders[f.Id] = folderOf(f)
	}
}

func folderOf(f *drive.File) folder {
	fo := folder{name: f.Name, root: len(f.Parents) == 0}
	if len(f.Parents) > 0 {
		fo.parent = f.Parents[0]
	}
	return fo
}

// file is the connector's File of a Drive file. Drive is set from the file itself (its owner's
// email, or its shared drive), so that a state the changes feed reports for a file shared with
// the drive's user stays its owner's.
func (s *session) file(ctx context.Context, svc *services, d connector.Drive, f *drive.File) connector.File {
	out := connector.File{VendorID: f.Id, Name: f.Name, Size: f.Size, MimeType: f.MimeType,
		Hash: event.Hash{MD5: event.HexDigest(f.Md5Checksum, 32), SHA256: event.HexDigest(f.Sha256Checksum, 64), SHA1: event.HexDigest(f.Sha1Checksum, 40)}}
	if len(f.Owners) > 0 {
		out.Owner = strings.ToLower(f.Owners[0].EmailAddress)
	}
	switch {
	case f.DriveId != "":
		out.Drive = f.DriveId
	case out.Owner != "":
		out.Drive = out.Owner
	}
	if t, err := time.Parse(time.RFC3339, f.ModifiedTime); err == nil {
		out.Modified = t.UTC()
	}
	dir := ""
	if len(f.Parents) > 0 {
		dir = s.dirPath(ctx, svc, d, f.Parents[0])
	}
	out.Path = dir + "/" + f.Name
	out.State = stateOf(f).encode()
	return out
}

// dirPath is a folder's path from the drive's root ("" for the root), from the folder map, asking
// Drive for folders it does not hold. A folder that cannot be read (shared from a folder the user
// cannot see) ends the path there.
func (s *session) dirPath(ctx context.Context, svc *services, d connector.Drive, id string) string {
	var parts []string
	for depth := 0; depth < maxDepth && id != "" && id != d.VendorID; depth++ {
		s.mu.Lock()
		fo, ok := s.folders[id]
		s.mu.Unlock()
		if !ok {
			f, err := svc.drive.Files.Get(id).SupportsAllDrives(true).Fields("id,name,mimeType,parents,driveId").Context(ctx).Do()
			if err != nil {
				s.log.Debug("google drive: folder not readable for a path", "folder", id, "err", err)
				break
			}
			fo = folderOf(f)
			if f.DriveId != "" && f.DriveId == f.Id {
				fo.root = true
			}
			s.learn([]*drive.File{{Id: id, Name: f.Name, MimeType: mimeFolder, Parents: f.Parents}})
			if fo.root {
				s.mu.Lock()
				s.folders[id] = fo
				s.mu.Unlock()
			}
		}
		if fo.root {
			break
		}
		parts = append(parts, fo.name)
		id = fo.parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	if len(parts) == 0 {
		return ""
	}
	return "/" + strings.Join(parts, "/")
}

// Content downloads a file's bytes (alt=media) as the drive's user, or a member for a shared
// drive. Docs editors files answer 403 fileNotDownloadable: ErrNotDownloadable, which ingest
// counts as a file it could not hash.
func (s *session) Content(ctx context.Context, ref connector.ContentRef) (io.ReadCloser, error) {
	if ref.Part != "" {
		return nil, fmt.Errorf("google drive: file %s has no part %q: Drive content is whole files", ref.File, ref.Part)
	}
	d := connector.Drive{VendorID: ref.Drive, Kind: "user"}
	if !strings.Contains(ref.Drive, "@") {
		d.Kind = "shared"
	}
	who, err := s.actor(ctx, d)
	if err != nil {
		return nil, err
	}
	ctx, svc := s.as(ctx, who)
	resp, err := svc.drive.Files.Get(ref.File).SupportsAllDrives(true).Context(ctx).Download()
	if err != nil {
		if ge, ok := googlekit.Err(err); ok && googlekit.Reason(ge) == "fileNotDownloadable" {
			return nil, fmt.Errorf("%w: file %s of %s (%s)", ErrNotDownloadable, ref.File, ref.Drive, ge.Message)
		}
		return nil, s.driveErr(err, d, who, "downloading file "+ref.File)
	}
	return resp.Body, nil
}
