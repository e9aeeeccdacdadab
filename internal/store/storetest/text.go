package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// testEventsOddText: a vendor's record whose texts hold a NUL character or bytes that are not
// UTF-8 (a name in a CSV export written in Latin-1, a "\u0000" in a JSON record) is stored, not
// refused: PostgreSQL's text cannot hold either, and a refused page is retried for ever, the
// connection stuck behind it. Both stores keep the same event: each such character or byte is
// U+FFFD (event.CleanText), in the columns, the document and the counts; a second delivery of
// the same record is a duplicate; the event is found by its name and counted on the dashboards.
func testEventsOddText(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	odd := func() *event.FileEvent {
		e := Event(c.ID, "odd\x00id", t0)
		e.Event.Action = event.ActionEmailed
		e.User = event.User{Email: "eve\x00@corp.example", VendorID: "u\x00", Name: "Eve \xff"}
		e.File.ID, e.File.Name, e.File.Directory, e.File.Owner = "f\x00", "pl\x00an\xe9.xlsx", "/a\x00b", "own\x00er@corp.example"
		e.Email = event.Email{Sender: "eve\x00@corp.example", Recipients: []string{"x\x00@gm\xe4il.com"}, Subject: "q\x00"}
		e.Source.IP = "10.0.0.1\x00"
		e.Risk = event.Risk{Score: 3, Severity: event.SeverityModerate, Indicators: []string{"external_email"}, Reasons: []event.Reason{{Indicator: "external_email", Weight: 3, Why: "to \x00"}}}
		return e
	}
	e := odd()
	if n := ok(s.InsertEvents(ctx, []*event.FileEvent{e}, false))(t); n != 1 || e.Event.ID == 0 {
		t.Fatalf("the record was not stored: %d", n)
	}
	want := odd()
	want.CleanText()
	if !strings.Contains(want.File.Name, "\uFFFD") || strings.ContainsRune(want.User.Email, 0) || want.Email.Recipients[0] != "x\uFFFD@gm\uFFFDil.com" {
		t.Fatalf("CleanText left %q %q %q", want.File.Name, want.User.Email, want.Email.Recipients)
	}
	got := ok(s.GetEvent(ctx, e.Event.ID))(t)
	want.Event.ID, want.Event.Inserted, want.Event.ConnectionName = got.Event.ID, got.Event.Inserted, got.Event.ConnectionName
	if d := cmp.Diff(*want, got); d != "" {
		t.Errorf("read back (-want +got):\n%s", d)
	}
	if n := ok(s.InsertEvents(ctx, []*event.FileEvent{odd()}, false))(t); n != 0 {
		t.Errorf("the same record delivered again was stored again: %d", n)
	}
	for _, query := range []string{`name:"pl*"`, "actor:\"eve\uFFFD@corp.example\"", "name:\"pl\uFFFDan\uFFFD.xlsx\""} {
		q, err := search.Parse(query, t0)
		if err != nil {
			t.Fatal(err)
		}
		if r := ok(s.SearchEvents(ctx, q, store.SearchOptions{}))(t); len(r) != 1 || r[0].Event.ID != e.Event.ID {
			t.Errorf("search %s: %d events", query, len(r))
		}
	}
	if f, ok := s.(interface {
		FoldDashboards(ctx context.Context, limit int) (int, error)
	}); ok {
		if _, err := f.FoldDashboards(ctx, 0); err != nil {
			t.Fatalf("the dashboards' fold: %v", err)
		}
	}
	// A first-use destination of a person, both with odd text: new once, then known; the caller's
	// strings returned.
	for i, want := range [][]string{{"vend\x00or.example"}, nil} {
		if got := ok(s.MarkDestinations(ctx, "eve\x00@corp.example", []string{"vend\x00or.example", "vend\x00or.example"}, t0))(t); !slices.Equal(got, want) {
			t.Errorf("destinations, call %d: %q, want %q", i+1, got, want)
		}
	}
	// A drive's and a file's names from the vendor, as indexing stores them.
	d := ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "d1", Kind: "user", Owner: "eve\x00@corp.example", Name: "Eve\xe9's drive"}))(t)
	if d.Owner != "eve\uFFFD@corp.example" || d.Name != "Eve\uFFFD's drive" {
		t.Errorf("drive %q %q", d.Owner, d.Name)
	}
	if err := s.UpsertFiles(ctx, []store.File{{ConnectionID: c.ID, DriveID: d.ID, VendorID: "f1", Name: "pl\x00an.xlsx", Path: "/a\xff/pl\x00an.xlsx", Owner: "eve\x00@corp.example"}}); err != nil {
		t.Fatalf("files: %v", err)
	}
	if f := ok(s.GetFile(ctx, c.ID, "f1"))(t); f.Name != "pl\uFFFDan.xlsx" || f.Path != "/a\uFFFD/pl\uFFFDan.xlsx" || f.Owner != "eve\uFFFD@corp.example" {
		t.Errorf("file %q %q %q", f.Name, f.Path, f.Owner)
	}
	dq := store.DashQuery{From: t0.Truncate(24 * time.Hour), To: t0.Truncate(24 * time.Hour).Add(24 * time.Hour), Step: 24 * time.Hour}
	top := ok(s.DashboardTop(ctx, dq, store.DimPerson, 10))(t)
	if len(top) != 1 || top[0].Value != "eve\uFFFD@corp.example" {
		t.Errorf("top people: %+v", top)
	}
}

// longText is n bytes of letters that do not compress (PostgreSQL compresses a long index entry
// before it measures it against its limit, so a repeated letter would not reach it).
func longText(seed string, n int) string {
	var b strings.Builder
	x := uint32(2166136261)
	for _, c := range []byte(seed) {
		x = (x ^ uint32(c)) * 16777619
	}
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789"[x%36])
	}
	return b.String()
}

// testEventsLongText: a record whose texts are far longer than any vendor writes (an address or
// a file id of kilobytes, from a broken or hostile source) is stored, not refused: PostgreSQL
// refuses a B-tree entry over about 2.7 kB, and a refused page is retried for ever, the connection
// stuck behind it. The addresses and ids are clipped (event.ClipKey) the same way on both stores;
// the names, paths and subject are kept whole.
func testEventsLongText(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	long := func(seed string) string { return longText(seed, 4000) }
	mk := func() *event.FileEvent {
		e := Event(c.ID, long("vendor-id"), t0)
		e.Event.Action = event.ActionShared
		e.User = event.User{Email: long("actor") + "@corp.example", VendorID: long("uid"), Name: long("name")}
		e.File.ID, e.File.Name, e.File.Directory, e.File.Owner = long("file-id"), long("file-name")+".xlsx", "/"+long("dir"), long("owner")+"@corp.example"
		e.File.DriveID = long("drive")
		e.Sharing.LinkScope = event.LinkAnyone
		e.Sharing.SharedWith = []string{long("with") + "@partner.example"}
		e.Email = event.Email{Sender: long("actor") + "@corp.example", Recipients: []string{long("to") + "@gmail.com"}, Subject: long("subject")}
		return e
	}
	e := mk()
	if n := ok(s.InsertEvents(ctx, []*event.FileEvent{e}, false))(t); n != 1 || e.Event.ID == 0 {
		t.Fatalf("the record was not stored: %d", n)
	}
	if len(e.User.Email) > event.MaxKeyBytes || len(e.File.ID) > event.MaxKeyBytes || e.File.Name != long("file-name")+".xlsx" {
		t.Errorf("the event as stored: actor %d bytes, file id %d, name %d", len(e.User.Email), len(e.File.ID), len(e.File.Name))
	}
	got := ok(s.GetEvent(ctx, e.Event.ID))(t)
	want := mk()
	want.CleanText()
	want.Event.ID, want.Event.Inserted, want.Event.ConnectionName = got.Event.ID, got.Event.Inserted, got.Event.ConnectionName
	if d := cmp.Diff(*want, got); d != "" {
		t.Errorf("read back (-want +got):\n%s", d)
	}
	// Another record whose actor differs only past the cut is another person.
	other := mk()
	other.Event.VendorIDs = []string{"other"}
	other.User.Email = long("actor") + "@corp.example.org"
	if n := ok(s.InsertEvents(ctx, []*event.FileEvent{other}, false))(t); n != 1 || other.User.Email == e.User.Email {
		t.Errorf("a second long actor: stored %d, the same address as the first: %v", n, other.User.Email == e.User.Email)
	}
	if n := ok(s.InsertEvents(ctx, []*event.FileEvent{mk()}, false))(t); n != 0 {
		t.Errorf("the same record delivered again was stored again: %d", n)
	}
	for query, want := range map[string]int{"actor:" + e.User.Email: 1, "owner:" + e.File.Owner: 2, "actor:" + long("actor")[:50] + "*": 2,
		"actor:" + long("actor") + "@corp.example": 1, "file_id:" + long("file-id"): 2} { // as the vendor wrote them, too
		q, err := search.Parse(query, t0)
		if err != nil {
			t.Fatal(err)
		}
		if r := ok(s.SearchEvents(ctx, q, store.SearchOptions{}))(t); len(r) != want {
			t.Errorf("search %.60s...: %d events, want %d", query, len(r), want)
		}
	}
	if f, ok := s.(interface {
		FoldDashboards(ctx context.Context, limit int) (int, error)
	}); ok {
		if _, err := f.FoldDashboards(ctx, 0); err != nil {
			t.Fatalf("the dashboards' fold: %v", err)
		}
	}
	if _, err := s.MarkDestinations(ctx, e.User.Email, []string{long("dest") + ".example"}, t0); err != nil {
		t.Errorf("destinations: %v", err)
	}
	d := ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: long("drive"), Kind: "user", Owner: e.File.Owner, Name: long("drive-name")}))(t)
	if err := s.UpsertFiles(ctx, []store.File{{ConnectionID: c.ID, DriveID: d.ID, VendorID: e.File.ID, Name: e.File.Name, Path: e.File.Directory + "/" + e.File.Name, Owner: e.File.Owner}}); err != nil {
		t.Fatalf("files: %v", err)
	}
	if f := ok(s.GetFile(ctx, c.ID, e.File.ID))(t); f.Owner != e.File.Owner || f.Name != e.File.Name {
		t.Errorf("file read back: owner %.20q name %.20q", f.Owner, f.Name)
	}
	dq := store.DashQuery{From: t0.Truncate(24 * time.Hour), To: t0.Truncate(24 * time.Hour).Add(24 * time.Hour), Step: 24 * time.Hour}
	if top := ok(s.DashboardTop(ctx, dq, store.DimPerson, 10))(t); len(top) != 2 {
		t.Errorf("top people: %d, want the 2 long actors", len(top))
	}
	// The vendor's record ids ingest remembers (to skip a record delivered again): a long one, and
	// ones PostgreSQL's text cannot hold, are remembered, and the caller's ids come back.
	recs := []string{longText("record", 4000), "rec\x00ord", "rec\xffx"}
	if f := ok(s.MarkVendorRecords(ctx, c.ID, recs, t0))(t); !slices.Equal(f, recs) {
		t.Errorf("odd record ids, first mark: %d of 3 fresh", len(f))
	}
	if f := ok(s.MarkVendorRecords(ctx, c.ID, recs, t0.Add(time.Minute)))(t); len(f) != 0 {
		t.Errorf("odd record ids, marked again: %d fresh", len(f))
	}
}
