// Package eventgen generates realistic file events, deterministically from a seed, for benchmarks
// and tests: a population of people with Zipf-skewed activity (a few people do most of it), a mix of
// actions like real cloud-drive audit logs, realistic names, paths, sizes, hashes and sharing.
package eventgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// Options shape the generated population.
type Options struct {
	Seed        uint64
	People      int       // default 5000
	Days        int       // events spread over this many days before End; default 90
	End         time.Time // default 2026-11-01T00:00:00Z
	Domain      string    // the company's domain; default corp.example
	Connections []Conn    // default one Box connection with id 1
}

// Conn is a connection events are attributed to.
type Conn struct {
	ID       int64
	Name     string
	Observer event.Observer
}

// Gen produces events. It is not safe for concurrent use.
type Gen struct {
	o      Options
	r      *rand.Rand
	zipf   *rand.Zipf
	people []string
	n      int64
	start  time.Time
	span   int64
}

// New returns a generator.
func New(o Options) *Gen {
	if o.People <= 0 {
		o.People = 5000
	}
	if o.Days <= 0 {
		o.Days = 90
	}
	if o.End.IsZero() {
		o.End = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Domain == "" {
		o.Domain = "corp.example"
	}
	if len(o.Connections) == 0 {
		o.Connections = []Conn{{ID: 1, Name: "Box", Observer: event.ObserverBox}}
	}
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	g := &Gen{o: o, r: r, zipf: rand.NewZipf(r, 1.1, 4, uint64(o.People-1))}
	for i := 0; i < o.People; i++ {
		g.people = append(g.people, fmt.Sprintf("%s.%s%d@%s", first[i%len(first)], last[(i/len(first))%len(last)], i, o.Domain))
	}
	g.start = o.End.Add(-time.Duration(o.Days) * 24 * time.Hour)
	g.span = int64(o.End.Sub(g.start) / time.Second)
	return g
}

var first = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara"}
var last = []string{"smith", "jones", "garcia", "kim", "nguyen", "patel", "muller", "rossi", "silva", "cohen", "ito", "haddad", "novak", "olsen", "brown"}
var folders = []string{"Finance", "Sales", "Engineering", "HR", "Legal", "Marketing", "Projects", "Shared", "Personal", "Board"}
var sub = []string{"2026", "Q3", "Q4", "archive", "drafts", "contracts", "customers", "roadmap", "payroll", "designs"}
var stems = []string{"plan", "budget", "forecast", "customer-list", "roadmap", "design", "contract", "offer-letter", "notes", "report", "pricing", "source", "backup", "export", "minutes"}
var exts = []struct {
	ext, mime string
	w         int
}{
	{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 22},
	{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 18},
	{"pdf", "application/pdf", 16},
	{"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", 8},
	{"png", "image/png", 8}, {"jpg", "image/jpeg", 6}, {"csv", "text/csv", 5}, {"txt", "text/plain", 4},
	{"zip", "application/zip", 4}, {"mp4", "video/mp4", 2}, {"go", "text/x-go", 2}, {"py", "text/x-python", 2},
	{"exe", "application/x-msdownload", 1}, {"vmdk", "application/octet-stream", 1}, {"eml", "message/rfc822", 1},
}
var actions = []struct {
	a event.Action
	w int
}{
	{event.ActionModified, 30}, {event.ActionCreated, 18}, {event.ActionViewed, 16}, {event.ActionDownloaded, 11},
	{event.ActionShared, 7}, {event.ActionRenamed, 4}, {event.ActionMoved, 4}, {event.ActionDeleted, 5},
	{event.ActionUnshared, 2}, {event.ActionRestored, 1}, {event.ActionEmailed, 2},
}
var external = []string{"gmail.com", "outlook.com", "yahoo.com", "partner.example", "vendor.example", "proton.me"}

func pick[T any](r *rand.Rand, xs []T, weight func(T) int) T {
	total := 0
	for _, x := range xs {
		total += weight(x)
	}
	n := r.IntN(total)
	for _, x := range xs {
		n -= weight(x)
		if n < 0 {
			return x
		}
	}
	return xs[len(xs)-1]
}

// Next returns the next event. Observed times are spread over the window with a working-hours and
// weekday shape; they are not in order (as vendors deliver them).
func (g *Gen) Next() event.FileEvent {
	r := g.r
	g.n++
	actor := g.people[g.zipf.Uint64()]
	owner := actor
	if r.IntN(5) == 0 {
		owner = g.people[r.IntN(len(g.people))]
	}
	conn := g.o.Connections[r.IntN(len(g.o.Connections))]
	x := pick(r, exts, func(e struct {
		ext, mime string
		w         int
	}) int {
		return e.w
	})
	act := pick(r, actions, func(a struct {
		a event.Action
		w int
	}) int {
		return a.w
	}).a
	fileNo := r.IntN(200000)
	name := fmt.Sprintf("%s-%d.%s", stems[fileNo%len(stems)], fileNo%997, x.ext)
	dir := "/" + folders[fileNo%len(folders)] + "/" + sub[(fileNo/7)%len(sub)]
	ts := g.start.Add(time.Duration(r.Int64N(g.span)) * time.Second)
	// Shape: most activity in working hours on weekdays.
	if h := ts.Hour(); (h < 8 || h > 18) && r.IntN(3) > 0 {
		ts = ts.Add(time.Duration(8+r.IntN(10)-h) * time.Hour)
	}
	if wd := ts.Weekday(); (wd == time.Saturday || wd == time.Sunday) && r.IntN(4) > 0 {
		ts = ts.Add(-48 * time.Hour)
	}
	e := event.FileEvent{
		Timestamp: ts.UTC(),
		Event: event.Meta{Action: act, Observer: conn.Observer, ConnectionID: conn.ID, ConnectionName: conn.Name,
			VendorIDs: []string{fmt.Sprintf("%016x-%d", r.Uint64(), g.n)}},
		User: event.User{Email: actor, VendorID: fmt.Sprint(1000000 + r.IntN(9000000))},
		File: event.File{ID: fmt.Sprint(100000000 + fileNo), Name: name, Directory: dir, Path: dir + "/" + name,
			Size: int64(1024 + r.ExpFloat64()*400000), MimeType: x.mime, Category: event.CategoryOf(name, x.mime), Owner: owner},
		Source: event.Source{IP: fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254))},
	}
	if r.IntN(10) < 4 { // hashed when created or changed while monitored
		e.File.Hash.SHA256 = fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
		e.File.Hash.MD5 = fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
	}
	if conn.Observer == event.ObserverBox {
		e.File.Hash.SHA1 = fmt.Sprintf("%016x%016x%08x", r.Uint64(), r.Uint64(), r.Uint32())
	}
	switch act {
	case event.ActionShared:
		switch r.IntN(4) {
		case 0:
			e.Sharing = event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}
		case 1:
			e.Sharing = event.Sharing{LinkScope: event.LinkOrganization, Exposure: []event.Exposure{event.ExposureOrganizationLink}}
		case 2:
			ext := fmt.Sprintf("%s@%s", first[r.IntN(len(first))], external[r.IntN(len(external))])
			e.Sharing = event.Sharing{LinkScope: event.LinkSpecific, SharedWith: []string{ext}, Exposure: []event.Exposure{event.ExposureOutsideTrustedDomain}}
		default:
			e.Sharing = event.Sharing{LinkScope: event.LinkSpecific, SharedWith: []string{g.people[r.IntN(len(g.people))]}}
		}
	case event.ActionEmailed:
		to := g.people[r.IntN(len(g.people))]
		if r.IntN(3) == 0 {
			to = fmt.Sprintf("%s@%s", strings.Split(actor, ".")[0], external[r.IntN(len(external))])
		}
		e.Email = event.Email{Sender: actor, From: actor, Recipients: []string{to}, Subject: "Re: " + stems[fileNo%len(stems)], MessageID: fmt.Sprintf("<%x@mail.%s>", r.Uint64(), g.o.Domain)}
	case event.ActionRenamed:
		e.File.OriginalName = fmt.Sprintf("%s-old.%s", stems[fileNo%len(stems)], x.ext)
	case event.ActionMoved:
		e.File.OriginalDirectory = "/" + folders[(fileNo+1)%len(folders)]
	}
	return e
}

// Batch returns n events.
func (g *Gen) Batch(n int) []event.FileEvent {
	out := make([]event.FileEvent, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}
