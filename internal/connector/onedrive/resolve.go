package onedrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"regexp"
	"slices"
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
// sharepointIds.listItemUniqueId). So every file the crawl and the delta streams index carries
// its GUID as its alternative id (connector.File.AltID). The audit stream finds a record's drive
// by its site: SiteUrl's personal segment ("/personal/ada_contoso_com/") is SharePoint's segment
// of the owner's UPN, so the drive is found among the stored drives by owner pattern, or, for a
// site named after an older UPN, learned from items' webUrl or by listing the users. Then it
// finds the record's file in that drive's part of the file index by GUID
// (connector.IndexLookups.LookupAlt; the index is by drive, so a crawl's random GUIDs stay
// cheap to insert): both feeds' events of one action carry the same File.ID and merge. Nothing
// per file or per drive is kept beyond bounded caches, so the node's memory does not grow with
// the number of files or drives; deleted files stay in the index with their GUID.
//
// A GUID the index does not have yet (the file changed after the drive's stream last read) sends
// the resolver to the drive's delta feed from the stream's stored position (StreamCursor), or a
// whole enumeration of the drive when its stream has none yet (still crawling); what it finds is
// kept in a bounded cache until the stream indexes it. A record whose file Graph never lists
// with that GUID any more (made and deleted between two reads) keeps the GUID as its file id:
// stored once, never merged.

const (
	usersListed = 10 * time.Minute
	// cacheSize bounds each of the session's caches (two generations of it: cache.go).
	cacheSize = 4096
)

type siteRef struct{ drive, owner string }

// resolver is what the session keeps for audit records: bounded caches only.
type resolver struct {
	sites *cache[string, siteRef] // personal segment -> drive
	found *cache[string, fileRef] // GUID -> file, found by catch-up reads (not indexed yet then)

	mu        sync.Mutex
	usersRead time.Time
}

func newResolver() *resolver {
	return &resolver{sites: newCache[string, siteRef](cacheSize), found: newCache[string, fileRef](cacheSize)}
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

// learnItems remembers the personal site of drive d when its items' webUrl names another one
// than its owner's UPN makes (a site named before the UPN changed); the owner's own segment is
// found in the store.
func (r *resolver) learnItems(d connector.Drive, items []driveItem) {
	for _, it := range items {
		if it.Deleted != nil || it.WebURL == "" || (it.ParentReference != nil && it.ParentReference.DriveID != "" && it.ParentReference.DriveID != d.VendorID) {
			continue
		}
		if seg := personalSegment(it.WebURL); seg != "" && seg != segmentOf(d.Owner) {
			r.sites.put(strings.Clone(seg), siteRef{d.VendorID, d.Owner})
		}
		return // one item tells the drive's site
	}
}

// splitCursor is the delta link of a delta stream's cursor: an older cursor carried the drive's
// lately deleted files on a second line (the file index keeps them now).
func splitCursor(cursor string) string {
	link, _, _ := strings.Cut(cursor, "\n")
	return link
}

// lookups is the session's store lookups, or nil when Deps.Files has none (tests' indexes).
func (s *session) lookups() connector.IndexLookups {
	l, _ := s.deps.Files.(connector.IndexLookups)
	return l
}

// recordGUID is a record's file GUID, lower case.
func recordGUID(r auditRecord) string {
	return strings.ToLower(strings.Trim(r.ListItemUniqueID, "{}"))
}

// resolution is what one page of audit records resolved to: files by GUID, sites by segment.
type resolution struct {
	files map[string]fileRef
	sites map[string]siteRef
}

func (rs resolution) lookup(rec auditRecord) (fileRef, bool) {
	if g := recordGUID(rec); g != "" {
		if ref, ok := rs.files[g]; ok {
			return ref, true
		}
	}
	site, ok := rs.sites[personalSegment(rec.SiteURL)]
	if !ok {
		site = rs.sites[personalSegment(rec.ObjectID)]
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
// drives of GUIDs the index does not have yet). A record whose file is still unknown is left for
// the next poll when that poll reads its blob again (the drive's stream may index the file
// meanwhile: a file deleted before the stream saw it is in the index only once the stream has
// read the deletion); otherwise it is adapted with its GUID as the file id.
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
	rs, err := s.resolve(ctx, recs)
	if err != nil {
		return nil, err
	}
	o := auditOptions{ownApp: s.clientID, resolve: rs.lookup}
	for i, r := range recs {
		if again[i] && needsFile(r) {
			if _, ok := rs.lookup(r); !ok {
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

// resolve finds the files of recs: each record's drive by its personal site, then its file in the
// drive's part of the file index by GUID, then, for GUIDs the index lacks, by reading once the
// delta feed of each drive that holds one.
func (s *session) resolve(ctx context.Context, recs []auditRecord) (resolution, error) {
	rs := resolution{files: map[string]fileRef{}, sites: map[string]siteRef{}}
	wanted := map[string]map[string]bool{} // personal segment -> GUIDs of its records
	for _, r := range recs {
		g := recordGUID(r)
		if !needsFile(r) || g == "" {
			continue
		}
		if seg := personalSegment(cmpOr(r.SiteURL, r.ObjectID)); seg != "" {
			if wanted[seg] == nil {
				wanted[seg] = map[string]bool{}
			}
			wanted[seg][g] = true
		}
	}
	if len(wanted) == 0 {
		return rs, nil
	}
	if err := s.findSites(ctx, wanted, rs.sites); err != nil {
		return rs, err
	}
	l := s.lookups()
	for seg, want := range wanted {
		site := rs.sites[seg]
		if site.drive == "" {
			continue
		}
		if l != nil {
			known, err := l.LookupAlt(ctx, site.drive, slices.Collect(maps.Keys(want)))
			if err != nil {
				return rs, fmt.Errorf("onedrive: finding the files of audit records in the index: %w", err)
			}
			for g, k := range known {
				rs.files[g] = fileRef{item: k.VendorID, drive: cmpOr(k.DriveID, site.drive), owner: cmpOr(k.Owner, site.owner)}
				delete(want, g)
			}
		}
		for g := range want {
			if ref, ok := s.res.found.get(g); ok {
				rs.files[g] = ref
				delete(want, g)
			}
		}
		if len(want) == 0 {
			continue
		}
		d := connector.Drive{VendorID: site.drive, Kind: "user", Owner: site.owner}
		if err := s.readForGUIDs(ctx, d, want, rs.files); err != nil {
			if errors.Is(err, httpx.ErrThrottled) || errors.Is(err, context.Canceled) {
				return rs, err // the page is read again after the throttle: its records resolve then
			}
			s.log.Warn("onedrive: the drive of audit records could not be read to name their files", "drive", d.VendorID, "err", err)
		}
	}
	return rs, nil
}

// readForGUIDs reads drive d's delta feed to its end, from the drive stream's position (a whole
// enumeration while it has none), and adds the files among want it lists to found and to the
// session's cache of files found so (until the stream indexes them).
func (s *session) readForGUIDs(ctx context.Context, d connector.Drive, want map[string]bool, found map[string]fileRef) error {
	// Every file the stream has not indexed yet is after its position; a drive without one (still
	// crawling) is enumerated whole.
	link := ""
	if l := s.lookups(); l != nil {
		c, err := l.StreamCursor(ctx, d.VendorID, deltaKey)
		if err != nil {
			return err
		}
		link = splitCursor(c)
	}
	if link == "" {
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
		for _, it := range items {
			g := etagGUID(it.ETag)
			if it.Deleted != nil || it.isFolder() || !want[g] {
				continue
			}
			drive := d.VendorID
			if it.ParentReference != nil && it.ParentReference.DriveID != "" {
				drive = it.ParentReference.DriveID
			}
			ref := fileRef{item: it.ID, drive: drive, owner: d.Owner}
			found[g] = ref
			s.res.found.put(g, ref)
		}
		if page.NextLink == "" {
			if page.DeltaLink == "" {
				return fmt.Errorf("%w: onedrive: a delta page of %s without nextLink nor deltaLink", connector.ErrMalformed, driveName(d))
			}
			return nil
		}
		if err := guard.Next(page.NextLink); err != nil {
			return err
		}
		link = page.NextLink
	}
}

// findSites finds the drives of personal sites (segments of wanted) into sites: from the
// session's cache, then among the stored drives by owner pattern (the segment with every '_' any
// one character, checked exactly), then by listing the directory's users (at most every 10
// minutes) and asking the drive of each user whose UPN makes one of the segments.
func (s *session) findSites(ctx context.Context, wanted map[string]map[string]bool, sites map[string]siteRef) error {
	want := map[string]bool{}
	for seg := range wanted {
		if ref, ok := s.res.sites.get(seg); ok {
			sites[seg] = ref
			continue
		}
		if l := s.lookups(); l != nil && segmentOf(seg) == seg { // only letters, digits and '_': a LIKE pattern of itself
			ds, err := l.DrivesOwnedLike(ctx, seg, 20)
			if err != nil {
				return fmt.Errorf("onedrive: finding the drive of personal site %s: %w", seg, err)
			}
			for _, d := range ds {
				if segmentOf(d.Owner) == seg && !strings.HasPrefix(d.VendorID, "user:") {
					ref := siteRef{d.VendorID, d.Owner}
					s.res.sites.put(seg, ref)
					sites[seg] = ref
					break
				}
			}
			if _, ok := sites[seg]; ok {
				continue
			}
		}
		want[seg] = true
	}
	if len(want) == 0 {
		return nil
	}
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
				ref := siteRef{d.VendorID, d.Owner}
				s.res.sites.put(seg, ref)
				sites[seg] = ref
				delete(want, seg)
			}
		}
		return len(want) > 0, nil
	})
}
