package sqldb_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// searchNow is the "now" relative query times resolve against: the end of eventgen's window.
var searchNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// searchEvents returns a fixed event set: eventgen's realistic events plus deterministic edits
// that reach every corner the compiler has (missing values, a stored path, a directory ending in
// "/", LIKE metacharacters in names, non-ASCII, upper case, severities, trust, several recipients,
// an event whose connection row does not exist).
func searchEvents() []*event.FileEvent {
	g := eventgen.New(eventgen.Options{Seed: 4, People: 40, Days: 30, End: searchNow, Connections: []eventgen.Conn{
		{ID: 1, Name: "Box Prod", Observer: event.ObserverBox},
		{ID: 2, Name: "Google Drive", Observer: event.ObserverGoogleDrive},
		{ID: 3, Name: "Gmail EU", Observer: event.ObserverGmail},
	}})
	sev := event.Severities()
	var out []*event.FileEvent
	for i := range 1500 {
		e := g.Next()
		switch {
		case i%19 == 0:
			e.File.Name = strings.ToUpper(e.File.Name) // the path stays lower case: stored in the doc
		case i%23 == 0:
			e.File.Name = fmt.Sprintf("100%%_done [v%d].xlsx", i)
			e.File.Directory, e.File.Path = "/Odd", fmt.Sprintf("/Odd/Path/100%%_done [v%d].xlsx", i)
		case i%29 == 0:
			e.File.Name = fmt.Sprintf("Ärger-Überblick-%d.docx", i)
			e.File.Path = e.File.Directory + "/" + e.File.Name
		case i%31 == 0:
			e.File.Size, e.File.Owner, e.User.Email = 0, "", ""
		case i%37 == 0:
			e.File.Directory = "/Root/"
			e.File.Path = "/Root/" + e.File.Name
		case i%41 == 0:
			e.Event.Action = event.ActionEmailed
			e.Email.Recipients = []string{"Bob@GMAIL.com", "carol@partner.example"}
			e.Sharing.SharedWith = []string{"dave@Vendor.Example", "Partner.Example"}
			e.Sharing.Tenants = []event.DestinationTenant{{To: "Partner.Example", Tenant: "Partner.Example"}}
		case i%43 == 0:
			e.Event.ConnectionID, e.Event.ConnectionName = 99, ""
		case i%47 == 0:
			e.File.Path = ""
		case i%59 == 0:
			e.File.Name = fmt.Sprintf(`back\slash_%d.TXT`, i)
			e.File.Path = e.File.Directory + "/" + e.File.Name
		case i%61 == 0:
			e.File.Name = fmt.Sprintf("Überblick-ÄRGER-%d.pdf", i)
			e.File.Path = e.File.Directory + "/" + e.File.Name
		case i%67 == 0:
			e.File.Name = "Q3" // shorter than a trigram
		case i%71 == 0:
			e.File.Name = fmt.Sprintf(`He said "hi" %d.txt`, i)
		}
		if i%13 == 0 {
			e.Risk.Severity = sev[(i/13)%len(sev)]
			// a score (0 is left out of the doc) and indicators, one or two, some shared
			e.Risk.Score = (i / 13) % 12
			inds := event.Indicators()
			e.Risk.Indicators = []string{inds[(i/13)%len(inds)]}
			if i%2 == 0 {
				e.Risk.Indicators = append(e.Risk.Indicators, event.IndicatorOffHours)
			}
		}
		if i%17 == 0 {
			e.Risk.Trusted = true
		}
		if i%53 == 0 {
			e.Sharing.LinkScope = event.LinkNone
		}
		if i%11 == 0 { // OneDrive's quickXorHash: 20 bytes as base64, some shared by several events
			e.File.Hash.QuickXor = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("quick xor hash %5d", i%3)))
		}
		if err := e.Validate(); err != nil {
			panic(err)
		}
		out = append(out, &e)
	}
	return out
}

func openSearchStores(t *testing.T) map[string]*sqldb.DB {
	ctx := context.Background()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg, err := postgres.Open(ctx, pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return map[string]*sqldb.DB{"sqlite": lite.DB, "postgres": pg.DB}
}

// loadSearchEvents stores the events in three batches (three inserted times) and reads them back.
func loadSearchEvents(t *testing.T, db *sqldb.DB) []event.FileEvent {
	ctx := context.Background()
	for _, c := range []store.Connection{
		{Name: "Box Prod", Service: "box"}, {Name: "Google Drive", Service: "google_drive"}, {Name: "Gmail EU", Service: "gmail"},
	} {
		c.ServiceType, c.Status, c.ScopeKind = "cloud", "connected", "all"
		if _, err := db.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	evs := searchEvents()
	for start := 0; start < len(evs); start += 500 {
		if _, err := db.InsertEvents(ctx, evs[start:min(start+500, len(evs))], false); err != nil {
			t.Fatal(err)
		}
		// the next batch gets a later inserted time: wait for the clock to move on
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			if time.Since(evs[start].Event.Inserted) > time.Millisecond {
				break
			}
		}
	}
	all, err := db.ListEvents(ctx, store.EventFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(evs) {
		t.Fatalf("stored %d events, read %d", len(evs), len(all))
	}
	return all
}

// searchQueries returns 100+ queries over every field, operator and combination, with values
// taken from the data so that most of them match something.
func searchQueries(all []event.FileEvent) []string {
	counts := map[string]int{}
	var sha, md5, sha1, qx, owner, exactName, exactPath, ts, ins string
	for _, e := range all {
		counts[e.User.Email]++
		if qx == "" && e.File.Hash.QuickXor != "" {
			qx = e.File.Hash.QuickXor
		}
		if sha == "" && e.File.Hash.SHA256 != "" {
			sha, md5 = e.File.Hash.SHA256, e.File.Hash.MD5
		}
		if sha1 == "" && e.File.Hash.SHA1 != "" {
			sha1 = e.File.Hash.SHA1
		}
		if owner == "" && e.File.Owner != "" && e.File.Owner != e.User.Email {
			owner = e.File.Owner
		}
	}
	actor := ""
	for a, n := range counts {
		if a != "" && (n > counts[actor] || n == counts[actor] && a < actor) {
			actor = a
		}
	}
	mid := all[len(all)/2]
	exactName, exactPath = mid.File.Name, mid.File.Path
	ts = mid.Timestamp.Format(time.RFC3339Nano)
	ins = all[700].Event.Inserted.Format(time.RFC3339Nano)
	qs := []string{
		"",
		"actor:" + actor, "user:" + strings.ToUpper(actor), "actor:alice*", "actor:*@corp.example", "actor:?lice*",
		"NOT actor:" + actor, "actor:*", "NOT actor:*", "-actor:*",
		"owner:" + owner, "owner:*", "-owner:*", "owner:b*",
		"file_id:" + mid.File.ID, "file.id:*", "NOT file_id:" + mid.File.ID,
		"action:file-shared", "action:shared", "action:downloaded OR action:viewed", "NOT action:file-modified",
		"service:box", "service:google_drive", "service:gmail OR service:box",
		"connection:1", `connection:"box prod"`, "connection:box*", "connection:99", "connection:Gmail*", "NOT connection:2",
		"connection:*", "NOT connection:*",
		"name:" + exactName, `name:"` + strings.ToUpper(exactName) + `"`, "name:*.xlsx", "name:*.XLSX", "plan", "budget xlsx",
		`"customer-list"`, "name:budget-???.pdf", `name:*%*`, `name:*_*`, `name:*\**`, `"[v"`, "name:*ärger*", "name:*Ärger*",
		"name:ÄRGER*", "file:*-9?.docx",
		// name patterns through the trigram indexes: escaped % and _ inside a 3-character run, a
		// backslash, case folding (ASCII only), non-ASCII runs, runs shorter than 3, exact names
		`name:*100%_done*`, `name:*0%_d*`, `name:"*%_done [v*"`, `name:"*done [v2?0]*"`, `name:*K\\SLASH*`, `name:*\\slash\_*`,
		`name:back\\slash_59.txt`, `name:*\\*`, "name:*BuDgEt*", "name:*überblick*", "name:*Überblick*", "name:*ärger-*",
		"name:*ÄRGER-*", "name:*rger-*", "name:*pl*", "name:*q3*", "name:q3", "name:Q?", "name:*a*", "name:??", "name:budget-?2*",
		"name:*get-1*.xlsx", "NOT name:*budget*", "name:*budget* OR name:*forecast*", "name:*lan*", "name:*.x?sx",
		`name:"*said \"hi*"`, `name:"*\"HI\" 7*"`,
		"path:/Finance/*", "path:/finance/*", "path:/Odd/*", "path:/Root/*", "path:*/payroll/*", "path:" + exactPath,
		"NOT path:*", "path:*", "path:/Root//*",
		"folder:/HR/2026", "dir:/Sales*", "directory:/Root/", "NOT dir:*",
		"md5:" + md5, "sha256:" + sha, "sha1:" + sha1, "hash:" + md5, "hash:" + sha1, "hash:" + strings.ToUpper(sha),
		"NOT sha256:" + sha, "NOT hash:" + sha1,
		"quick_xor:" + qx, "file.hash.quick_xor:" + qx, "hash:" + qx, `hash:"` + qx + `"`, "NOT quick_xor:" + qx,
		"quick_xor:" + strings.ToLower(qx), "hash:" + qx + " OR hash:" + md5,
		"size>100KB", "size<=2KiB", "size:0", "size>=1MB size<2MB", "size<1.5MB", "NOT size>10KB", "size:" + fmt.Sprint(mid.File.Size),
		"category:spreadsheet", "category:source_code", "category:source-code OR category:executable", "type:image",
		"NOT category:document",
		"recipient:*@gmail.com", "to:*@GMAIL.COM", "recipient:*", "NOT recipient:*", "recipient:bob@gmail.com",
		"shared_with:*@corp.example", "recipient:dave@vendor.example",
		"domain:gmail.com", "domain:*.example", "domain:GMAIL.com", "NOT domain:corp.example", "domain:vendor.example",
		"tenant:partner.example", "tenant:*", "NOT tenant:*", "tenant:other.example", "dest_tenant:PARTNER.*",
		"exposure:public_link", "exposure:public", "exposure:outside_trusted_domains OR exposure:organization_link",
		"NOT exposure:public_link",
		"link:anyone", "link:specific", "link:none", "NOT link:none",
		"severity>=high", "severity:critical", "severity<moderate", "severity<none", "NOT severity>=low", "severity>none",
		"severity<=low", "NOT severity:none",
		"trusted:true", "NOT trusted:true", "trusted:false",
		"risk.score>=7", "score:0", "risk.score<3", "NOT risk.score>=4", "risk.score>0 risk.score<=5", "risk_score:11",
		"risk.indicator:off_hours", "indicator:public_link OR indicator:first_use", "NOT risk.indicator:off_hours",
		"risk.indicator:category-source-code", "risk.severity:high risk.indicator:off_hours", "risk.severity>=moderate OR risk.score>=9",
		"NOT (risk.indicator:off_hours OR risk.score<2)",
		"id>100", "id<=50", "id:7", "id>=1400 OR id<3",
		"observed:7d", "after:2026-10-15", "before:2026-10-10", "after:2026-10-01 before:2026-10-08", "observed:2026-10-20",
		"observed>2026-10-20", "observed<=2026-10-20", "observed:2026-10-20T10:00Z", "observed>=2026-10-20T10:00:00+02:00",
		"observed<24h", "observed:" + ts, "observed>" + ts, "observed<=" + ts, "observed:2026-10-20T10:00:00",
		"inserted_after:" + ins, "inserted_before:" + ins, "inserted:" + ins, "inserted>" + ins, "inserted:1h",
		"actor:" + actor + " action:file-shared exposure:public_link after:2026-10-01 name:*.xlsx",
		"(action:file-shared OR action:file-emailed) domain:gmail.com",
		"NOT (service:box OR trusted:true)",
		"-action:file-viewed -action:file-modified size>50KB",
		"(plan OR budget) AND NOT category:pdf",
		"actor:" + actor + " (observed:7d OR severity>=high)",
		"NOT NOT trusted:true",
		"(a OR b) (c OR d)",
		"severity>=moderate OR exposure:public_link OR domain:gmail.com",
		"NOT (NOT actor:* OR NOT owner:*)",
		"connection:1 -name:*.docx size>=10KB before:2026-10-25",
		`name:"x'; DROP TABLE file_events; --"`, `actor:"' OR 1=1 --" OR owner:"\\'"`, `path:"*'*"`,
	}
	for _, a := range event.Actions() {
		qs = append(qs, "action:"+string(a)+" service:box")
	}
	for _, c := range []string{"pdf", "image", "archive", "video"} {
		qs = append(qs, "category:"+c+" NOT action:file-viewed")
	}
	return qs
}

// TestSearchAgreesWithMatch: for every query, SearchEvents on both drivers returns exactly the
// events search.Match accepts, in the same order, through keyset paging in each sort order.
func TestSearchAgreesWithMatch(t *testing.T) {
	for name, db := range openSearchStores(t) {
		t.Run(name, func(t *testing.T) {
			all := loadSearchEvents(t, db)
			for _, common := range []int64{20000, 1} {
				// On SQLite, 1 makes every name term with a trigram prefilter "common": pages
				// scan without the prefilter and counts are driven by the FTS5 candidates.
				restore := sqldb.SetCommonCandidates(common)
				t.Run(fmt.Sprint("common=", common), func(t *testing.T) { agree(t, db, all) })
				restore()
			}
		})
	}
}

// agree runs every query of searchQueries on db and compares with search.Match: the pages (in two
// sort orders, through the cursor) and the capped count.
func agree(t *testing.T, db *sqldb.DB, all []event.FileEvent) {
	ctx := context.Background()
	qs := searchQueries(all)
	if len(qs) < 100 {
		t.Fatalf("only %d queries", len(qs))
	}
	type mode struct {
		sort  store.SearchSort
		desc  bool
		limit int
	}
	others := []mode{{store.SortObserved, true, 500}, {store.SortInserted, false, 500}, {store.SortInserted, true, 1000}}
	nonEmpty, runs := 0, 0
	allIDs := expected(all, search.Query{}, store.SortID, false)
	for i, text := range qs {
		q, err := search.Parse(text, searchNow)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		// every query ascending by observed time in small pages, and in one other order
		for _, mode := range []mode{{store.SortObserved, false, 97}, others[i%len(others)]} {
			runs++
			want := expected(all, q, mode.sort, mode.desc)
			if len(want) > 0 {
				nonEmpty++
			}
			got := pageThrough(t, db, q, store.SearchOptions{Sort: mode.sort, Desc: mode.desc, Limit: mode.limit}, len(all))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("query %q (canonical %q) sort %s desc=%v: SQL and Match differ (-match +sql):\n%s",
					text, q.String(), mode.sort, mode.desc, diff)
			}
			if n, capped, err := db.CountSearch(ctx, q, 1000, false); err != nil || n != int64(min(len(want), 1000)) || capped != (len(want) >= 1000) {
				t.Errorf("CountSearch(%q) = %d, %v, %v; want %d", text, n, capped, err, min(len(want), 1000))
			}
		}
		// the export's reading: an id range (lo, hi] in id order, in pages
		lo, hi := allIDs[len(allIDs)/4], allIDs[3*len(allIDs)/4]
		want := []int64{}
		for _, id := range expected(all, q, store.SortID, false) {
			if id > lo && id <= hi {
				want = append(want, id)
			}
		}
		got := pageThrough(t, db, q, store.SearchOptions{Sort: store.SortID, Limit: 250, After: &store.SearchCursor{ID: lo}, UpToID: hi}, len(all))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("query %q ids (%d, %d]: SQL and Match differ (-match +sql):\n%s", text, lo, hi, diff)
		}
	}
	if nonEmpty < runs*3/4 {
		t.Errorf("only %d of %d query runs match any event: the queries do not exercise the data", nonEmpty, runs)
	}
	t.Logf("%d queries agree; %d of %d runs non-empty", len(qs), nonEmpty, runs)
}

// pageThrough reads every page of q from opt on, through the cursor, and returns the event ids
// (it stops after maxPages pages, should paging never end).
func pageThrough(t *testing.T, db *sqldb.DB, q search.Query, opt store.SearchOptions, maxPages int) []int64 {
	t.Helper()
	got := []int64{}
	for pages := 0; ; pages++ {
		page, err := db.SearchEvents(context.Background(), q, opt)
		if err != nil {
			t.Fatalf("SearchEvents(%q, %+v): %v", q.String(), opt, err)
		}
		for _, e := range page {
			got = append(got, e.Event.ID)
		}
		if len(page) < opt.Limit || pages > maxPages {
			return got
		}
		c := store.CursorOf(&page[len(page)-1], opt.Sort)
		opt.After = &c
	}
}

func expected(all []event.FileEvent, q search.Query, by store.SearchSort, desc bool) []int64 {
	var m []event.FileEvent
	for i := range all {
		if search.Match(q, &all[i]) {
			m = append(m, all[i])
		}
	}
	key := func(e event.FileEvent) int64 {
		switch by {
		case store.SortInserted:
			return e.Event.Inserted.UnixMicro()
		case store.SortID:
			return e.Event.ID
		}
		return e.Timestamp.UnixMicro()
	}
	slices.SortFunc(m, func(a, b event.FileEvent) int {
		c := cmpInt(key(a), key(b))
		if c == 0 {
			c = cmpInt(a.Event.ID, b.Event.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	ids := []int64{}
	for _, e := range m {
		ids = append(ids, e.Event.ID)
	}
	return ids
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSearchEventsOptions: held events stay out unless asked for, and a bad sort is refused.
func TestSearchEventsOptions(t *testing.T) {
	ctx := context.Background()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	e := event.FileEvent{Timestamp: searchNow, Event: event.Meta{Action: event.ActionCreated, Observer: event.ObserverBox, ConnectionID: 1, VendorIDs: []string{"h"}}}
	if _, err := lite.InsertEvents(ctx, []*event.FileEvent{&e}, true); err != nil {
		t.Fatal(err)
	}
	q, _ := search.Parse("action:file-created", searchNow)
	for _, tc := range []struct {
		held bool
		want int
	}{{false, 0}, {true, 1}} {
		got, err := lite.SearchEvents(ctx, q, store.SearchOptions{IncludeHeld: tc.held})
		if err != nil || len(got) != tc.want {
			t.Errorf("IncludeHeld=%v: got %d events (err %v), want %d", tc.held, len(got), err, tc.want)
		}
	}
	if _, err := lite.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortObserved, UpToID: 5}); err == nil || !strings.Contains(err.Error(), "id bound needs the id sort") {
		t.Errorf("id bound with the observed sort: err = %v", err)
	}
	if _, err := lite.SearchEvents(ctx, q, store.SearchOptions{Sort: "size"}); err == nil || !strings.Contains(err.Error(), "observed, inserted or id") {
		t.Errorf("unknown sort: err = %v", err)
	}
}

// TestSearchNewSpelling: a search by actor or owner compiles the ids of the addresses its terms
// match, read before the page; an address stored in between (a new spelling with events the page
// sees) must not leave its events out: the ids are read again after the page and the page made
// again with them.
func TestSearchNewSpelling(t *testing.T) {
	ctx := context.Background()
	for name, db := range openSearchStores(t) {
		t.Run(name, func(t *testing.T) {
			c, err := db.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "connected", ScopeKind: "all"})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
			ev := func(id, actor, owner string, at time.Time) *event.FileEvent {
				return &event.FileEvent{Timestamp: at, Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox,
					ConnectionID: c.ID, VendorIDs: []string{id}}, User: event.User{Email: actor}, File: event.File{ID: "f-" + id, Name: "x.txt", Owner: owner}}
			}
			if _, err := db.InsertEvents(ctx, []*event.FileEvent{ev("a", "carol@corp.example", "carol@corp.example", t0)}, false); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{"actor:carol@corp.example", "owner:carol@corp.example"} {
				n := 0
				restore := sqldb.SetAfterAddressTerms(func() {
					n++
					e := ev("new-"+q, "Carol@Corp.example", "", t0.Add(time.Minute)) // a spelling new to the table
					if strings.HasPrefix(q, "owner") {
						e.User.Email, e.File.Owner = "dave@corp.example", "caroL@corp.example"
					}
					if _, err := db.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
						t.Error(err)
					}
				})
				qr, err := search.Parse(q, searchNow)
				if err != nil {
					t.Fatal(err)
				}
				got, err := db.SearchEvents(ctx, qr, store.SearchOptions{Limit: 10})
				restore()
				if err != nil {
					t.Fatal(err)
				}
				if n != 1 || len(got) != 2 {
					t.Errorf("%s with a new spelling stored after its addresses were read (%d times): %d events, want 2", q, n, len(got))
				}
			}
		})
	}
}
