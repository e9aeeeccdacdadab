package googledrive

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
)

// changesKey is the key of each drive's changes stream.
const changesKey = "changes"

// Streams is the tenant-wide Reports API stream (reportstream.go); every drive also has its own
// changes stream (DriveStreams).
func (s *session) Streams() []connector.StreamSpec { return []connector.StreamSpec{reportsSpec()} }

// DriveStreams is the drive's changes feed. Its start page token is taken before the crawl (not
// FromCrawl): whatever changes during the crawl is read again from the feed.
func (s *session) DriveStreams(d connector.Drive) []connector.StreamSpec {
	if d.VendorID == "" {
		return nil
	}
	return []connector.StreamSpec{{Key: changesKey, Drive: d}}
}

// StreamStart is the drive's changes.getStartPageToken, as its user (or a member of the shared
// drive, with driveId).
func (s *session) StreamStart(ctx context.Context, st connector.StreamSpec) (string, error) {
	if st.Key == reportsKey && st.Drive.VendorID == "" {
		return s.reportsStart(), nil
	}
	if st.Key != changesKey || st.Drive.VendorID == "" {
		return "", fmt.Errorf("google drive: no stream %q", st.Key)
	}
	d := st.Drive
	who, err := s.actor(ctx, d)
	if err != nil {
		return "", err
	}
	ctx, svc := s.as(ctx, who)
	call := svc.drive.Changes.GetStartPageToken()
	if d.Kind == "shared" {
		call = call.DriveId(d.VendorID).SupportsAllDrives(true)
	}
	t, err := call.Context(ctx).Do()
	if err != nil {
		return "", s.driveErr(err, d, who, "reading the changes start")
	}
	if t.StartPageToken == "" {
		return "", fmt.Errorf("%w: google drive: changes.getStartPageToken answered no token for %s", connector.ErrMalformed, driveName(d))
	}
	// The token is taken now: a file created from now on is news even if the crawl indexes it.
	return cursor{token: t.StartPageToken, since: s.deps.Clock.Now()}.String(), nil
}

// changeFields are the change fields the stream asks for.
const changeFields = "nextPageToken,newStartPageToken,changes(changeType,fileId,removed,time,driveId,file(" + fileFields + "))"

// Changes reads one page of the drive's changes feed. A change is file state (Files, with Drive
// set from the file's owner or shared drive) or a removal: a file deleted, trashed, or no longer
// visible to the drive's user. Compared with the file as indexed (Deps.Files), a change is also
// the records of the actions it means (changeRecords, feed "changes"), which the Reports API's
// records of the same actions enrich when they arrive (ingest merge).
func (s *session) Changes(ctx context.Context, st connector.StreamSpec, pos string) (connector.ChangesPage, error) {
	if st.Key == reportsKey && st.Drive.VendorID == "" {
		return s.reportsChanges(ctx, pos)
	}
	if st.Key != changesKey || st.Drive.VendorID == "" {
		return connector.ChangesPage{}, fmt.Errorf("google drive: no stream %q", st.Key)
	}
	cur := parseCursor(pos)
	if cur.token == "" {
		return connector.ChangesPage{}, fmt.Errorf("%w: google drive: empty changes cursor for %s", connector.ErrMalformed, driveName(st.Drive))
	}
	d := st.Drive
	who, err := s.actor(ctx, d)
	if err != nil {
		return connector.ChangesPage{}, err
	}
	ctx, svc := s.as(ctx, who)
	call := svc.drive.Changes.List(cur.token).PageSize(filesPage).IncludeRemoved(true).Fields(googleapi.Field(changeFields))
	if d.Kind == "shared" {
		call = call.DriveId(d.VendorID).SupportsAllDrives(true).IncludeItemsFromAllDrives(true)
	}
	page, err := call.Context(ctx).Do()
	if err != nil {
		if ge, ok := googlekit.Err(err); ok && ge.Code == http.StatusBadRequest && pageTokenRefused(ge) {
			now := s.deps.Clock.Now()
			return connector.ChangesPage{Resync: &connector.Resync{Reason: connector.ResyncExpired, Since: now, Recrawl: true,
				Detail: fmt.Sprintf("Drive refused the changes page token of %s (%d %s: %s): what changed since cannot be read, so the drive is crawled again", driveName(d), ge.Code, googlekit.Reason(ge), ge.Message)}}, nil
		}
		return connector.ChangesPage{}, s.driveErr(err, d, who, "reading changes")
	}
	var out connector.ChangesPage
	var live []*drive.File
	var ids []string
	for _, c := range page.Changes {
		if c.ChangeType != "" && c.ChangeType != "file" {
			continue // a shared drive's own changes (changeType drive)
		}
		ids = append(ids, c.FileId)
		if c.File != nil && !c.File.Trashed {
			live = append(live, c.File)
		}
	}
	s.learn(live) // a folder renamed or moved on this page names the paths of the files on it
	known := map[string]connector.KnownFile{}
	if s.deps.Files != nil && len(ids) > 0 {
		if known, err = s.deps.Files.Lookup(ctx, ids); err != nil {
			return connector.ChangesPage{}, fmt.Errorf("google drive: reading the indexed state of %s's changed files: %w", driveName(d), err)
		}
	}
	for _, c := range page.Changes {
		if c.ChangeType != "" && c.ChangeType != "file" {
			continue
		}
		at, _ := time.Parse(time.RFC3339, c.Time)
		if at.IsZero() {
			at = s.deps.Clock.Now()
		}
		k, had := known[c.FileId]
		if c.Removed || c.File == nil || c.File.Trashed {
			s.forget(c.FileId)
			out.Removed = append(out.Removed, c.FileId)
			if c.File != nil && c.File.MimeType != mimeFolder {
				f := s.file(ctx, svc, d, c.File)
				out.Records = append(out.Records, changeRecords(d, at.UTC(), c.File, f, k, had, cur.since)...)
			} else if c.File == nil {
				out.Records = append(out.Records, changeRecords(d, at.UTC(), nil, connector.File{VendorID: c.FileId}, k, had, cur.since)...)
			}
			continue
		}
		if c.File.MimeType == mimeFolder {
			continue
		}
		f := s.file(ctx, svc, d, c.File)
		out.Files = append(out.Files, f)
		out.Records = append(out.Records, changeRecords(d, at.UTC(), c.File, f, k, had, cur.since)...)
	}
	next := cursor{since: cur.since}
	switch {
	case page.NextPageToken != "":
		next.token, out.More = page.NextPageToken, true
		out.Next = next.String()
	case page.NewStartPageToken != "":
		next.token = page.NewStartPageToken
		out.Next = next.String()
	default:
		return connector.ChangesPage{}, fmt.Errorf("%w: google drive: a changes page of %s without nextPageToken nor newStartPageToken", connector.ErrMalformed, driveName(d))
	}
	return out, nil
}

// pageTokenRefused: Drive's answer to a page token it cannot use (400 invalid, location
// pageToken; googleapi.ErrorItem does not decode the location, so the body is read).
func pageTokenRefused(ge *googleapi.Error) bool {
	var e struct {
		Error struct {
			Errors []struct {
				Location string `json:"location"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(ge.Body), &e) != nil {
		return false
	}
	for _, it := range e.Error.Errors {
		if it.Location == "pageToken" {
			return true
		}
	}
	return false
}

// forget drops a removed folder from the folder map.
func (s *session) forget(id string) {
	s.mu.Lock()
	delete(s.folders, id)
	s.mu.Unlock()
}
