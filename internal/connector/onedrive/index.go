package onedrive

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
	"github.com/telltale-dev/telltale/internal/event"
)

// itemFields are the driveItem properties the crawl and the delta stream read. deleted must be
// selected to see deletions; shared is the item's sharing summary (its widest audience).
const itemFields = "id,name,eTag,size,file,folder,root,deleted,parentReference,createdDateTime,lastModifiedDateTime,createdBy,lastModifiedBy,shared,webUrl"

const (
	// folderCache bounds the session's folder names (two generations of it, about 100 bytes an
	// entry): a crawl page learns its folders and uses them at once; a folder no longer held is
	// asked of Graph when a path needs it.
	folderCache = 8192
	maxDepth    = 64
)

// driveItem is the part of Graph's driveItem the connector reads.
type driveItem struct {
	ID                   string       `json:"id"`
	Name                 string       `json:"name"`
	ETag                 string       `json:"eTag"` // "{GUID},version": the GUID is the SharePoint list item's UniqueId
	Size                 int64        `json:"size"`
	WebURL               string       `json:"webUrl"`
	CreatedDateTime      string       `json:"createdDateTime"`
	LastModifiedDateTime string       `json:"lastModifiedDateTime"`
	CreatedBy            *identitySet `json:"createdBy"`
	LastModifiedBy       *identitySet `json:"lastModifiedBy"`
	ParentReference      *struct {
		ID      string `json:"id"`
		DriveID string `json:"driveId"`
		Path    string `json:"path"`
	} `json:"parentReference"`
	File *struct {
		MimeType string `json:"mimeType"`
		Hashes   struct {
			QuickXorHash string `json:"quickXorHash"`
			SHA1Hash     string `json:"sha1Hash"`
			SHA256Hash   string `json:"sha256Hash"`
		} `json:"hashes"`
	} `json:"file"`
	Folder  *struct{} `json:"folder"`
	Root    *struct{} `json:"root"`
	Deleted *struct {
		State string `json:"state"`
	} `json:"deleted"`
	Shared *struct {
		Scope string `json:"scope"`
	} `json:"shared"`
	// SharedChanged is "True" on an item delta lists because its permissions changed (with
	// Prefer: deltashowsharingchanges).
	SharedChanged string `json:"@microsoft.graph.sharedChanged"`
}

func (it driveItem) parent() string {
	if it.ParentReference == nil {
		return ""
	}
	return it.ParentReference.ID
}

func (it driveItem) isFolder() bool { return it.Folder != nil || it.Root != nil }

// identitySet is Graph's identitySet: a user (id, displayName, sometimes email) or a SharePoint
// siteUser (loginName, a claims login that ends in the address).
type identitySet struct {
	User *struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		Email       string `json:"email"`
	} `json:"user"`
	SiteUser *struct {
		LoginName string `json:"loginName"`
	} `json:"siteUser"`
	Group *struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		Email       string `json:"email"`
	} `json:"group"`
}

type deltaPage struct {
	Value     []driveItem `json:"value"`
	NextLink  string      `json:"@odata.nextLink"`
	DeltaLink string      `json:"@odata.deltaLink"`
}

// folder is a folder's name and parent, for paths.
type folder struct {
	name, parent string
	root         bool // the drive's root: not part of a path
}

// deltaPath is the start of a drive's delta enumeration.
func deltaPath(d connector.Drive) string {
	return "/drives/" + url.PathEscape(d.VendorID) + "/root/delta?$select=" + itemFields
}

// Index reads one page of the drive's baseline crawl: a delta enumeration from scratch, whose
// pages list every item once (latest state), parents generally before children. Files are
// indexed; folders are learned for paths (delta items carry no parentReference.path). The cursor
// is Graph's nextLink alone, so a crawl resumes on any node from it; the last page hands the
// deltaLink over as the start of the drive's delta stream (FromCrawl): what changed during the
// crawl is in the crawl's state. Permissions are not read during the crawl (one call per file):
// an item's sharing summary (the shared facet) is kept, and who a file is shared with is read
// when the stream reports a sharing change. A 410 (the nextLink expired), or a stored nextLink
// from another Graph URL than the connection's now, starts the crawl again. Links are kept
// relative to the Graph URL (graphkit.Rel).
func (s *session) Index(ctx context.Context, d connector.Drive, cursor string) (connector.IndexPage, error) {
	if err := readable(d); err != nil {
		return connector.IndexPage{}, err
	}
	link := cursor
	if link == "" {
		link = deltaPath(d)
	}
	if graphkit.Foreign(s.graph, link) {
		s.log.Info("onedrive: the crawl's next link is from another Graph URL than the connection's; crawling again", "drive", d.VendorID, "graph_url", s.graph)
		return connector.IndexPage{}, nil
	}
	var page deltaPage
	if err := s.api.get(ctx, link, PermFilesReadAll, nil, &page); err != nil {
		if isStatus(err, http.StatusGone) {
			ge, _ := asGraphError(err)
			s.log.Info("onedrive: the crawl's next link expired; crawling again", "drive", d.VendorID, "err", ge)
			next := ""
			if r, rerr := s.rel(ge.Location); rerr == nil {
				next = r
			}
			return connector.IndexPage{Next: next}, nil
		}
		return connector.IndexPage{}, s.driveErr(err, d, "crawling")
	}
	items := lastOccurrences(page.Value)
	s.learn(items)
	s.res.learnItems(d, items)
	var out connector.IndexPage
	for _, it := range items {
		if it.Deleted != nil || it.isFolder() || it.File == nil {
			continue
		}
		f := s.file(ctx, d, it)
		f.Drive = "" // a crawl page's files are its drive's
		st := crawlState(it)
		f.State, f.AltID = st.encode(), st.UID // the GUID audit records name it by (resolve.go)
		out.Files = append(out.Files, f)
	}
	switch {
	case page.NextLink != "":
		next, err := s.rel(page.NextLink)
		if err != nil {
			return connector.IndexPage{}, err
		}
		out.Next = next
	case page.DeltaLink != "":
		l, err := s.rel(page.DeltaLink)
		if err != nil {
			return connector.IndexPage{}, err
		}
		out.Done = true
		out.StreamStart = map[string]string{deltaKey: l}

	default:
		return connector.IndexPage{}, fmt.Errorf("%w: onedrive: a delta page of %s without nextLink nor deltaLink", connector.ErrMalformed, driveName(d))
	}
	return out, nil
}

// readable refuses a drive discovery could only name (Graph refused to say which drive it is).
func readable(d connector.Drive) error {
	if strings.HasPrefix(d.VendorID, "user:") {
		return fmt.Errorf("%w: onedrive: %s: %s", connector.ErrInaccessible, driveName(d), d.Inaccessible)
	}
	return nil
}

// lastOccurrences keeps each item's last occurrence on a page, in the order of those last
// occurrences (Graph: "the same item may appear more than once in a delta feed ... use the last
// occurrence you see").
func lastOccurrences(items []driveItem) []driveItem {
	last := make(map[string]int, len(items))
	for i, it := range items {
		last[it.ID] = i
	}
	if len(last) == len(items) {
		return items
	}
	out := make([]driveItem, 0, len(last))
	for i, it := range items {
		if last[it.ID] == i {
			out = append(out, it)
		}
	}
	return out
}

// driveErr classifies a failure to read drive d: a drive Graph no longer has (404), or refuses
// (403), is inaccessible; the rest is the connection's.
func (s *session) driveErr(err error, d connector.Drive, what string) error {
	if ge, ok := asGraphError(err); ok && (ge.Status == http.StatusNotFound || ge.Status == http.StatusForbidden || ge.Status == http.StatusLocked) {
		return fmt.Errorf("%w: onedrive: %s %s: %v (a 403 usually means the app lacks %s with admin consent)", connector.ErrInaccessible, what, driveName(d), ge, PermFilesReadAll)
	}
	return fmt.Errorf("onedrive: %s %s: %w", what, driveName(d), refusedToken(err))
}

func driveName(d connector.Drive) string {
	if d.Owner != "" {
		return "the OneDrive of " + d.Owner + " (" + d.VendorID + ")"
	}
	return "drive " + d.VendorID
}

// learn keeps the folders among items in the folder cache.
func (s *session) learn(items []driveItem) {
	for _, it := range items {
		if it.Deleted != nil || !it.isFolder() {
			continue
		}
		s.folders.put(it.ID, folder{name: it.Name, parent: it.parent(), root: it.Root != nil})
	}
}

// forget drops a deleted folder from the folder cache; it reports whether id was a folder held.
func (s *session) forget(id string) bool {
	return s.folders.del(id)
}

// file is the connector's File of a delta item of drive d (its owner's).
func (s *session) file(ctx context.Context, d connector.Drive, it driveItem) connector.File {
	f := connector.File{VendorID: it.ID, Drive: d.VendorID, Name: it.Name, Size: it.Size, Owner: d.Owner, Modified: parseTime(it.LastModifiedDateTime)}
	if it.ParentReference != nil && it.ParentReference.DriveID != "" {
		f.Drive = it.ParentReference.DriveID
	}
	if it.File != nil {
		f.MimeType = it.File.MimeType
		f.Hash = event.Hash{QuickXor: it.File.Hashes.QuickXorHash,
			SHA1: event.HexDigest(it.File.Hashes.SHA1Hash, 40), SHA256: event.HexDigest(it.File.Hashes.SHA256Hash, 64)}
	}
	f.Path = s.dirPath(ctx, d, it.parent()) + "/" + it.Name
	return f
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// dirPath is a folder's path below the drive's root ("" for the root), from the folder cache,
// asking Graph for folders it does not hold (a crawl resumed by another node, one the cache
// dropped). A folder that cannot be read ends the path there.
func (s *session) dirPath(ctx context.Context, d connector.Drive, id string) string {
	var parts []string
	for depth := 0; depth < maxDepth && id != ""; depth++ {
		fo, ok := s.folders.get(id)
		if !ok {
			var it driveItem
			err := s.api.get(ctx, "/drives/"+url.PathEscape(d.VendorID)+"/items/"+url.PathEscape(id)+"?$select=id,name,folder,root,parentReference", PermFilesReadAll, nil, &it)
			if err != nil {
				s.log.Debug("onedrive: folder not readable for a path", "folder", id, "err", err)
				break
			}
			if it.Folder == nil && it.Root == nil {
				it.Folder = &struct{}{}
			}
			s.learn([]driveItem{it})
			fo = folder{name: it.Name, parent: it.parent(), root: it.Root != nil}
		}
		if fo.root {
			break
		}
		parts = append(parts, fo.name)
		id = fo.parent
	}
	if len(parts) == 0 {
		return ""
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/")
}

// Content downloads a file's current bytes: Graph answers /content with a 302 to a
// pre-authenticated URL, followed without the Authorization header.
func (s *session) Content(ctx context.Context, ref connector.ContentRef) (io.ReadCloser, error) {
	if ref.Part != "" {
		return nil, fmt.Errorf("onedrive: file %s has no part %q: OneDrive content is whole files", ref.File, ref.Part)
	}
	d := connector.Drive{VendorID: ref.Drive}
	if err := readable(d); err != nil {
		return nil, err
	}
	rc, err := s.api.stream(ctx, "/drives/"+url.PathEscape(ref.Drive)+"/items/"+url.PathEscape(ref.File)+"/content", PermFilesReadAll)
	if isStatus(err, http.StatusNotFound) {
		return nil, fmt.Errorf("onedrive: file %s of drive %s is gone: %w", ref.File, ref.Drive, err) // the file's, not the drive's
	}
	if err != nil {
		return nil, s.driveErr(err, d, "downloading file "+ref.File+" of")
	}
	return rc, nil
}
