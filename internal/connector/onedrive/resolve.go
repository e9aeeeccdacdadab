package onedrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Which file an audit record is about (docs/connectors/onedrive.md, "One file id on both feeds").
//
// The delta feed names files by Graph's driveItem id; an Audit.SharePoint record names them by
// URL (ObjectId, which changes with every rename and move) and by the SharePoint list item's
// UniqueId (ListItemUniqueId), which never changes. Graph gives the same UniqueId as the GUID of
// every OneDrive for Business driveItem's eTag ("{GUID},version"; also its
// sharepointIds.listItemUniqueId). So the connector learns GUID -> driveItem id from every item
// its crawls, delta pages and its own catch-up reads see, and names the audit event's file by the
// driveItem id: both feeds' events of one action then carry the same File.ID and merge. The
// record's drive is its site: SiteUrl's personal segment ("/personal/ada_contoso_com/") is
// learned from items' webUrl and drives' owners (SharePoint's segment of the owner's UPN).
//
// A GUID not learned yet (the file changed after the drive's stream last read, or the process
// restarted) sends the resolver to the drive's delta feed: from the last delta link it holds for
// the drive (incremental), or a full enumeration of the drive when it holds none (once per drive
// per process). A record whose file Graph never lists with that GUID any more (made and deleted
// between two reads) keeps the GUID as its file id: stored once, never merged.

const (
	maxUIDs     = 1 << 20 // GUIDs remembered (about 150 bytes each); past it the map starts again
	usersListed = 10 * time.Minute
)

type siteRef struct{ drive, owner string }

// resolver is the session's memory of GUIDs, sites and delta links.
type resolver struct {
	mu        sync.Mutex
	uids      map[string]fileRef
	sites     map[string]siteRef // personal segment -> drive
	links     map[string]string  // drive -> a delta link to catch up from
	whole     map[string]bool    // drives whose every item this resolver has seen (a whole enumeration)
	gone      []goneFile         // files lately deleted, oldest first: carried in the audit cursor
	crawling  map[string]bool    // drives whose crawl this resolver saw start
	usersRead time.Time
}

func newResolver() *resolver {
	return &resolver{uids: map[string]fileRef{}, sites: map[string]siteRef{}, links: map[string]string{},
		whole: map[string]bool{}, crawling: map[string]bool{}}
}

var etagRe = regexp.MustCompile(`\{([0-9A-Fa-f-]{36})\}`)

// etagGUID is the UniqueId in a driveItem's eTag ("\"{A1B2...},3\""), lower case.
func etagGUID(etag string) string {
	m := etagRe.FindStringSubmatch(etag)
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1])
}

// learnDrive remembers a drive's personal site by its owner.
func (r *resolver) learnDrive(d connector.Drive) {
	if d.VendorID == "" || d.Owner == "" || strings.HasPrefix(d.VendorID, "user:") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sites[segmentOf(d.Owner)] = siteRef{d.VendorID, d.Owner}
}

// learnItems remembers the GUIDs and site of a page of drive d's items.
func (r *resolver) learnItems(d connector.Drive, items []driveItem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range items {
		if it.Deleted != nil || it.isFolder() {
			continue
		}
		drive := d.VendorID
		if it.ParentReference != nil && it.ParentReference.DriveID != "" {
			drive = it.ParentReference.DriveID
		}
		if g := etagGUID(it.ETag); g != "" {
			if len(r.uids) >= maxUIDs {
				r.uids = map[string]fileRef{}
			}
			r.uids[g] = fileRef{item: it.ID, drive: drive, owner: d.Owner}
		}
		if seg := personalSegment(it.WebURL); seg != "" && drive == d.VendorID {
			r.sites[seg] = siteRef{drive, d.Owner}
		}
	}
}

// goneFile is a deleted file's GUID and driveItem: no enumeration lists it any more, so the
// drive's delta cursor carries the last ones (goneCursor) across restarts, for the audit records
// of their last actions.
type goneFile struct {
	UID   string    `json:"u"`
	Item  string    `json:"i"`
	Drive string    `json:"d"`
	Owner string    `json:"o,omitempty"`
	At    time.Time `json:"t"`
}

const (
	maxGone      = 20000 // in the session
	maxGoneDrive = 200   // in a drive's cursor
	goneFor      = 24 * time.Hour
)

// learnKnown remembers the GUID of an indexed file delta reports deleted (it carries no eTag)
// from its indexed state.
func (r *resolver) learnKnown(d connector.Drive, id string, k connector.KnownFile, now time.Time) {
	st, ok := decodeState(k.State)
	if !ok || st.UID == "" {
		return
	}
	ref := fileRef{item: id, drive: cmpOr(k.DriveID, d.VendorID), owner: cmpOr(k.Owner, d.Owner)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remember(st.UID, ref)
	r.gone = append(r.gone, goneFile{UID: st.UID, Item: ref.item, Drive: ref.drive, Owner: ref.owner, At: now.UTC().Truncate(time.Second)})
	if len(r.gone) > maxGone {
		r.gone = r.gone[len(r.gone)-maxGone:]
	}
}

func (r *resolver) remember(uid string, ref fileRef) {
	if len(r.uids) >= maxUIDs {
		r.uids = map[string]fileRef{}
	}
	r.uids[uid] = ref
}

// goneCursor is a delta stream's cursor: Graph's delta link, then, on a second line, the drive's
// files deleted within goneFor as JSON (their GUIDs: no enumeration names them any more, and an
// audit record of their last actions may come after a restart).
func (r *resolver) goneCursor(d connector.Drive, link string, now time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keep []goneFile
	for _, g := range r.gone {
		if g.Drive == d.VendorID && now.Sub(g.At) <= goneFor {
			keep = append(keep, g)
		}
	}
	if len(keep) > maxGoneDrive {
		keep = keep[len(keep)-maxGoneDrive:]
	}
	if len(keep) == 0 {
		return link
	}
	b, _ := json.Marshal(keep)
	return link + "\n" + string(b)
}

// splitCursor reads a delta stream's cursor: the link, and the deleted files it carries (known
// to the resolver from then on).
func (r *resolver) splitCursor(cursor string) string {
	link, rest, ok := strings.Cut(cursor, "\n")
	if !ok {
		return cursor
	}
	var gone []goneFile
	if json.Unmarshal([]byte(rest), &gone) != nil {
		return link
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	have := map[string]bool{}
	for _, g := range r.gone {
		have[g.UID] = true
	}
	for _, g := range gone {
		if _, ok := r.uids[g.UID]; !ok {
			r.remember(g.UID, fileRef{item: g.Item, drive: g.Drive, owner: g.Owner})
		}
		if !have[g.UID] {
			r.gone = append(r.gone, g)
		}
	}
	if len(r.gone) > maxGone {
		r.gone = r.gone[len(r.gone)-maxGone:]
	}
	return link
}

// learnLink keeps a delta link of drive d to catch up from; whole says every item before it was
// seen by this resolver (an enumeration from the start, in this process).
func (r *resolver) learnLink(d connector.Drive, link string, whole bool) {
	if link == "" {
		return
	}
	r.mu.Lock()
	r.links[d.VendorID] = link
	if whole {
		r.whole[d.VendorID] = true
	}
	r.mu.Unlock()
}

// crawlPage notes a crawl page of d: a crawl started here (cursor "") that ends (done) saw the
// whole drive.
func (r *resolver) crawlPage(d connector.Drive, cursor, deltaLink string) {
	r.mu.Lock()
	if cursor == "" {
		r.crawling[d.VendorID] = true
	}
	whole := r.crawling[d.VendorID]
	if deltaLink != "" {
		delete(r.crawling, d.VendorID)
	}
	r.mu.Unlock()
	r.learnLink(d, deltaLink, whole)
}

func (r *resolver) lookup(rec auditRecord) (fileRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	site := r.sites[personalSegment(rec.SiteURL)]
	if site.drive == "" {
		site = r.sites[personalSegment(rec.ObjectID)]
	}
	g := strings.ToLower(strings.Trim(rec.ListItemUniqueID, "{}"))
	if ref, ok := r.uids[g]; ok && g != "" {
		return ref, true
	}
	return fileRef{drive: site.drive, owner: site.owner}, false
}

// rawAudit is one record as listed: its bytes and whether the next poll lists its blob again
// (within the overlap).
type rawAudit struct {
	raw       json.RawMessage
	seenAgain bool
}

// adaptAudit decodes and adapts a page's records, resolving their files first (catching up the
// drives of GUIDs not known yet). A record whose file is still unknown is left for the next poll
// when that poll reads its blob again (the drive's stream may learn the file meanwhile: a file
// deleted before this process saw it is named by its indexed state only once the stream has read
// the deletion); otherwise it is adapted with its GUID as the file id.
func (s *session) adaptAudit(ctx context.Context, raws []rawAudit) ([]connector.Record, error) {
	var out []connector.Record
	var recs []auditRecord
	var again []bool
	for _, ra := range raws {
		raw := ra.raw
		r, err := decodeAudit(raw)
		if err != nil {
			h := fnv.New64a()
			h.Write(raw)
			out = append(out, connector.Record{VendorID: "undecodable:" + strconv.FormatUint(h.Sum64(), 36), Skip: SkipUndecodable})
			s.log.Warn("onedrive: an audit record could not be read", "err", err)
			continue
		}
		recs = append(recs, r)
		again = append(again, ra.seenAgain)
	}
	if err := s.catchUp(ctx, recs); err != nil {
		return nil, err
	}
	o := auditOptions{ownApp: s.clientID, resolve: s.res.lookup}
	for i, r := range recs {
		if again[i] && needsFile(r) {
			if _, ok := s.res.lookup(r); !ok {
				continue // read again at the next poll
			}
		}
		out = append(out, adaptAuditRecord(r, o))
	}
	return out, nil
}

// needsFile: the record maps to a file action and names its file by GUID.
func needsFile(r auditRecord) bool {
	rule, ok := auditRules[r.Operation]
	return ok && rule.action != "" && r.ListItemUniqueID != "" && (r.Workload == "" || r.Workload == "OneDrive") && !strings.EqualFold(r.ItemType, "Folder")
}

// catchUp reads, once, the delta feed of each drive that holds a file of recs the resolver does
// not know, and lists the users when a record's site is unknown.
func (s *session) catchUp(ctx context.Context, recs []auditRecord) error {
	missing := map[string]bool{} // personal segments with unknown files
	for _, r := range recs {
		if !needsFile(r) {
			continue
		}
		if _, ok := s.res.lookup(r); !ok {
			if seg := personalSegment(cmpOr(r.SiteURL, r.ObjectID)); seg != "" {
				missing[seg] = true
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var unknownSites []string
	s.res.mu.Lock()
	for seg := range missing {
		if s.res.sites[seg].drive == "" {
			unknownSites = append(unknownSites, seg)
		}
	}
	s.res.mu.Unlock()
	if len(unknownSites) > 0 {
		if err := s.findSites(ctx, unknownSites); err != nil {
			return err
		}
	}
	for seg := range missing {
		s.res.mu.Lock()
		site := s.res.sites[seg]
		s.res.mu.Unlock()
		if site.drive == "" {
			continue
		}
		d := connector.Drive{VendorID: site.drive, Kind: "user", Owner: site.owner}
		if err := s.readForGUIDs(ctx, d); err != nil {
			if errors.Is(err, httpx.ErrThrottled) || errors.Is(err, context.Canceled) {
				return err // the page is read again after the throttle: its records resolve then
			}
			s.log.Warn("onedrive: the drive of audit records could not be read to name their files", "drive", d.VendorID, "err", err)
		}
	}
	return nil
}

// readForGUIDs reads drive d's delta feed from the resolver's link (a full enumeration without
// one) to its end, learning every item's GUID.
func (s *session) readForGUIDs(ctx context.Context, d connector.Drive) error {
	s.res.mu.Lock()
	link, whole := s.res.links[d.VendorID], s.res.whole[d.VendorID]
	s.res.mu.Unlock()
	if link == "" || !whole {
		// Files this process never saw (made before it started) are only in a whole enumeration.
		link = deltaPath(d)
	}
	guard := paging.New("graph delta for audit files", 0)
	for restarted := false; ; {
		var page deltaPage
		err := s.api.get(ctx, link, PermFilesReadAll, nil, &page)
		if isStatus(err, http.StatusGone) && !restarted {
			restarted, link = true, deltaPath(d)
			continue
		}
		if err != nil {
			return err
		}
		items := lastOccurrences(page.Value)
		s.learn(items)
		s.res.learnItems(d, items)
		var gone []string
		for _, it := range items {
			if it.Deleted != nil {
				gone = append(gone, it.ID)
			}
		}
		if len(gone) > 0 && s.deps.Files != nil {
			known, err := s.deps.Files.Lookup(ctx, gone)
			if err != nil {
				return err
			}
			for id, k := range known {
				s.res.learnKnown(d, id, k, s.deps.Clock.Now())
			}
		}
		if page.NextLink == "" {
			if page.DeltaLink == "" {
				return fmt.Errorf("%w: onedrive: a delta page of %s without nextLink nor deltaLink", connector.ErrMalformed, driveName(d))
			}
			s.res.learnLink(d, page.DeltaLink, true)
			return nil
		}
		if err := guard.Next(page.NextLink); err != nil {
			return err
		}
		link = page.NextLink
	}
}

// findSites finds the drives of personal sites the resolver does not know: it lists the
// directory's users (at most every 10 minutes) and asks for the drive of each user whose UPN
// makes one of the segments.
func (s *session) findSites(ctx context.Context, segs []string) error {
	now := s.deps.Clock.Now()
	s.res.mu.Lock()
	recent := !s.res.usersRead.IsZero() && now.Sub(s.res.usersRead) < usersListed
	if !recent {
		s.res.usersRead = now
	}
	s.res.mu.Unlock()
	if recent {
		return nil
	}
	want := map[string]bool{}
	for _, seg := range segs {
		want[seg] = true
	}
	if len(want) == 0 {
		return nil
	}
	return s.directory().EachPage(ctx, "listing users to place audit records", func(users []graphUser) (bool, error) {
		for _, u := range users {
			seg := segmentOf(u.UPN())
			if !want[seg] {
				continue
			}
			d, ok, err := s.userDrive(ctx, u)
			if err != nil {
				return false, err
			}
			if ok && !strings.HasPrefix(d.VendorID, "user:") {
				s.res.learnDrive(d)
				delete(want, seg)
			}
		}
		return len(want) > 0, nil
	})
}
