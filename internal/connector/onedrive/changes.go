package onedrive

import (
	"context"
	"fmt"
	"net/http"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
)

// preferSharing asks delta to mark items listed because their permissions changed
// ("@microsoft.graph.sharedChanged": "True"); Graph wants the three values together
// (driveitem-delta, "Scanning permissions hierarchies"; NOTES 3a).
const preferSharing = "deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges"

// DriveStreams is the drive's delta stream. It starts where the drive's crawl ends (FromCrawl:
// the crawl's last page hands over its deltaLink).
func (s *session) DriveStreams(d connector.Drive) []connector.StreamSpec {
	if d.VendorID == "" {
		return nil
	}
	return []connector.StreamSpec{{Key: deltaKey, Drive: d, FromCrawl: true}}
}

// StreamStart is a deltaLink from now (token=latest). Ingest takes none before a FromCrawl
// stream's crawl; it is here for a stream started anew without one.
func (s *session) StreamStart(ctx context.Context, st connector.StreamSpec) (string, error) {
	if st.Key == auditKey && st.Drive.VendorID == "" {
		return s.auditStart(ctx)
	}
	if st.Key != deltaKey || st.Drive.VendorID == "" {
		return "", fmt.Errorf("onedrive: no stream %q", st.Key)
	}
	d := st.Drive
	if err := readable(d); err != nil {
		return "", err
	}
	var page deltaPage
	if err := s.api.get(ctx, deltaPath(d)+"&token=latest", PermFilesReadAll, nil, &page); err != nil {
		return "", s.driveErr(err, d, "reading the delta start of")
	}
	if page.DeltaLink == "" {
		return "", fmt.Errorf("%w: onedrive: delta with token=latest answered no deltaLink for %s", connector.ErrMalformed, driveName(d))
	}
	return s.rel(page.DeltaLink)
}

// rel is a link Graph gave, relative to the Graph URL, as cursors keep it; one outside it is
// refused (graphkit.Rel).
func (s *session) rel(link string) (string, error) {
	r, err := graphkit.Rel(s.graph, link)
	if err != nil {
		return "", fmt.Errorf("onedrive: %w", err)
	}
	return r, nil
}

// Changes reads one page of the drive's delta stream from its cursor (a nextLink or deltaLink).
// Every item is file state (Files, the drive's own) or a deletion (Removed); compared with the
// file as indexed (Deps.Files), a file's state is also the records of the actions it means
// (itemRecords, feed "delta"). Folders are learned for paths, never files. A 410 (the link
// expired, or Graph wants a resync) is a Resync that crawls the drive again: delta cannot say
// what changed meanwhile, and deletions missed are found by the new crawl; so is a stored link
// from another Graph URL than the connection's now (graphkit.Foreign). Links are kept relative to
// the Graph URL (graphkit.Rel).
func (s *session) Changes(ctx context.Context, st connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
	if st.Key == auditKey && st.Drive.VendorID == "" {
		return s.auditChanges(ctx, cursor)
	}
	if st.Key != deltaKey || st.Drive.VendorID == "" {
		return connector.ChangesPage{}, fmt.Errorf("onedrive: no stream %q", st.Key)
	}
	d := st.Drive
	if err := readable(d); err != nil {
		return connector.ChangesPage{}, err
	}
	if cursor == "" {
		return connector.ChangesPage{}, fmt.Errorf("%w: onedrive: empty delta cursor for %s", connector.ErrMalformed, driveName(d))
	}
	cursor = splitCursor(cursor) // the link (an older cursor carried more lines: resolve.go)
	if graphkit.Foreign(s.graph, cursor) {
		return connector.ChangesPage{Resync: &connector.Resync{Reason: connector.ResyncExpired, Since: s.deps.Clock.Now(), Recrawl: true,
			Detail: fmt.Sprintf("The delta link of %s was taken from another Graph URL than the connection's %s: what changed since cannot be read, so the drive is crawled again", driveName(d), s.graph)}}, nil
	}
	var page deltaPage
	err := s.api.get(ctx, cursor, PermFilesReadAll, http.Header{"Prefer": {preferSharing}}, &page)
	if err != nil {
		if ge, ok := asGraphError(err); ok && ge.Status == http.StatusGone {
			// Any 410 on a delta call is a resync, whatever its code (NOTES, Corrections 1).
			return connector.ChangesPage{Resync: &connector.Resync{Reason: connector.ResyncExpired, Since: s.deps.Clock.Now(), Recrawl: true,
				Detail: fmt.Sprintf("Microsoft Graph refused the delta link of %s (410 %s: %s): what changed since cannot be read, so the drive is crawled again", driveName(d), ge.Code, ge.Message)}}, nil
		}
		return connector.ChangesPage{}, s.driveErr(err, d, "reading the delta of")
	}
	items := lastOccurrences(page.Value)
	s.learn(items)             // a folder renamed or moved on this page names the paths of the files on it
	s.res.learnItems(d, items) // a personal site named otherwise than its owner (resolve.go)
	var ids []string
	for _, it := range items {
		if !it.isFolder() {
			ids = append(ids, it.ID)
		}
	}
	known := map[string]connector.KnownFile{}
	if s.deps.Files != nil && len(ids) > 0 {
		if known, err = s.deps.Files.Lookup(ctx, ids); err != nil {
			return connector.ChangesPage{}, fmt.Errorf("onedrive: reading the indexed state of %s's changed files: %w", driveName(d), err)
		}
	}
	var out connector.ChangesPage
	now := s.deps.Clock.Now().UTC()
	for _, it := range items {
		k, had := known[it.ID]
		if it.Deleted != nil {
			if s.forget(it.ID) && !had {
				continue // a folder: its files come deleted too
			}
			out.Removed = append(out.Removed, it.ID)
			if had && !k.Deleted && (k.DriveID == "" || k.DriveID == d.VendorID) {
				out.Records = append(out.Records, deletedRecord(d, it, k, now))
			}
			continue
		}
		if it.isFolder() || it.File == nil {
			continue
		}
		f := s.file(ctx, d, it)
		recs, st, err := s.itemRecords(ctx, d, cursor, it, f, k, had)
		if err != nil {
			return connector.ChangesPage{}, err
		}
		f.State, f.AltID = st.encode(), st.UID
		out.Files = append(out.Files, f)
		out.Records = append(out.Records, recs...)
	}
	switch {
	case page.NextLink != "":
		out.Next, out.More = page.NextLink, true
	case page.DeltaLink != "":
		out.Next = page.DeltaLink
	default:
		return connector.ChangesPage{}, fmt.Errorf("%w: onedrive: a delta page of %s without nextLink nor deltaLink", connector.ErrMalformed, driveName(d))
	}
	if out.Next, err = s.rel(out.Next); err != nil {
		return connector.ChangesPage{}, err
	}
	return out, nil
}
