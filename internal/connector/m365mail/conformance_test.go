package m365mail

import (
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	"github.com/telltale-dev/telltale/internal/connector/kit/faults"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
)

// mailVendor runs the conformance suite against the Microsoft emulator's mail. Ground truth is the
// emulator's SentMails: one Truth per attachment, identified by the record id the adapter gives it
// ("<message id>/<attachment id>"), owned by the sender (the mailbox it is read from); a
// referenceAttachment is a file-shared record, the others file-emailed. A mailbox has no files
// (Files is empty): an email connection has no baseline.
//
// Three things the suite needs the emulator does not do, and the harness does in front of it
// (mailboxGate): a per-mailbox rate limit settable during a test (RateLimit; the emulator's
// Exchange limit is fixed at construction and its Graph bucket is tenant-wide), counting requests
// repeated before their Retry-After (RetriedEarly), and refusing chosen mailboxes with 403
// ErrorAccessDenied as Exchange does for a mailbox outside an application access policy
// (Inaccessible).
type mailVendor struct {
	t    *testing.T
	emu  *memu.Emulator
	clk  *clock.Fake
	url  string
	gate *mailboxGate
	rng  *rand.Rand
	dup  float64 // the chance each Act expires every delta link first (Faults): streams resync and re-read
	acts int

	dropBase int // PushLost when DropPushes(true) was called
}

// deltaTTL: delta links older than this answer 410 SyncStateNotFound (the emulator's
// DeltaTokenTTL; Graph documents no lifetime for message delta state).
const deltaTTL = 7 * 24 * time.Hour

func newMailVendor(t *testing.T, clk *clock.Fake) connectortest.Vendor {
	emu := memu.New(memu.Options{Seed: 15, Clock: clk, Users: 8, UnlicensedUsers: 1, DisabledUsers: 1, Groups: 3, FilesPerUser: 2,
		RateLimitPerMinute: -1, TokenTTL: time.Hour, DeltaTokenTTL: deltaTTL, MinFileSize: 64, MaxFileSize: 4096,
		PushRetryBase: 50 * time.Millisecond, PushRetries: 2, ValidationTimeout: 5 * time.Second})
	v := &mailVendor{t: t, emu: emu, clk: clk, rng: rand.New(rand.NewPCG(15, 5))}
	v.gate = &mailboxGate{clk: clk, perMinute: -1, deny: map[string]bool{}, buckets: map[string]*tokenBucket{}, last: map[string]time.Time{}}
	srv := httptest.NewServer(v.gate.wrap(emu.Handler()))
	t.Cleanup(func() { srv.Close(); emu.Close() })
	v.url = srv.URL
	return v
}

func (v *mailVendor) Connection() (string, map[string]string, map[string]string) {
	return v.emu.TenantID(), map[string]string{"tenant_id": v.emu.TenantID(), "client_id": v.emu.ClientID(),
			"login_url": v.url, "graph_url": v.url + "/v1.0"},
		map[string]string{"client_secret": v.emu.ClientSecret()}
}

// Owners: the enabled licensed users are the mailboxes; disabled users are inactive. Unlicensed
// users have no mailbox: neither.
func (v *mailVendor) Owners() (active, inactive []string) {
	for _, u := range v.emu.Users() {
		switch {
		case !u.Enabled:
			inactive = append(inactive, strings.ToLower(u.UPN))
		case u.Licensed:
			active = append(active, strings.ToLower(u.UPN))
		}
	}
	return active, inactive
}

// Files: a mailbox is crawled for no files.
func (v *mailVendor) Files() map[string]int { return map[string]int{} }

// Groups are the groups' users by UPN, nested groups' members included.
func (v *mailVendor) Groups() map[string][]string {
	gs := v.emu.Groups()
	byID := map[string]memu.Group{}
	for _, g := range gs {
		byID[g.ID] = g
	}
	upn := map[string]string{}
	for _, u := range v.emu.Users() {
		upn[u.ID] = strings.ToLower(u.UPN)
	}
	var expand func(g memu.Group, seen map[string]bool) []string
	expand = func(g memu.Group, seen map[string]bool) []string {
		var out []string
		for _, m := range g.Members {
			if sub, ok := byID[m]; ok {
				if !seen[m] {
					seen[m] = true
					out = append(out, expand(sub, seen)...)
				}
				continue
			}
			if !slices.Contains(out, upn[m]) {
				out = append(out, upn[m])
			}
		}
		return out
	}
	out := map[string][]string{}
	for _, g := range gs {
		var members []string // once each: a user may be a member directly and through a nested group
		for _, m := range expand(g, map[string]bool{g.ID: true}) {
			if !slices.Contains(members, m) {
				members = append(members, m)
			}
		}
		out[g.Name] = members
	}
	return out
}

func (v *mailVendor) AddToGroup(group, email string) {
	if err := v.emu.AddToGroup(group, email); err != nil {
		v.t.Fatal(err)
	}
}

// RemoveFromGroup removes the member from the group, or from the nested group it belongs through.
func (v *mailVendor) RemoveFromGroup(group, email string) {
	if v.emu.RemoveFromGroup(group, email) == nil {
		return
	}
	for _, g := range v.emu.Groups() {
		if g.Name == group {
			for _, m := range g.Members {
				if v.emu.RemoveFromGroup(m, email) == nil {
					return
				}
			}
		}
	}
	v.t.Fatalf("%s is not a member of %s, directly or through a nested group", email, group)
}

func (v *mailVendor) AddUser(name string) string {
	given, family, _ := strings.Cut(name, " ")
	id := v.emu.AddUser(given, family, true)
	for _, u := range v.emu.Users() {
		if u.ID == id {
			return strings.ToLower(u.UPN)
		}
	}
	v.t.Fatalf("user %s not added", name)
	return ""
}

// Act sends n random mails (StepMail: no attachment, files, an attached message, a link to one of
// the sender's files) and returns one Truth per attachment. Under Faults with duplicates, every
// delta link is first expired with that chance (and at least on the second Act): the streams
// resync and list the last hour's sent mail again, which is how Graph repeats records.
func (v *mailVendor) Act(n int) []connectortest.Truth {
	v.acts++
	if v.dup > 0 && (v.rng.Float64() < v.dup || v.acts == 2) {
		v.emu.ExpireDeltaTokens()
	}
	before := len(v.emu.SentMails())
	v.emu.StepMail(n)
	var out []connectortest.Truth
	for _, m := range v.emu.SentMails()[before:] {
		for _, a := range m.Attachments {
			kind := "file-emailed"
			if a.Kind == memu.AttachReference {
				kind = "file-shared"
			}
			out = append(out, connectortest.Truth{VendorID: m.ID + "/" + a.ID, Owner: strings.ToLower(m.From), Actor: strings.ToLower(m.From), Kind: kind, File: true})
		}
	}
	return out
}

func (v *mailVendor) Faults(rate, duplicates float64, reorder bool) {
	// Delta's order is Graph's: there is nothing to reorder.
	v.dup, v.acts = duplicates, 0
	v.emu.SetFaults(memu.Faults{Rate: rate, Kinds: []faults.Kind{faults.Status500, faults.Status502, faults.Status503, faults.Throttle, faults.Truncate, faults.Drop}})
}

func (v *mailVendor) FaultsInjected() int64 { return int64(v.emu.Stats().Faults) }

// RateLimit limits each mailbox to perMinute requests after a burst of 10 (the gate's, answered
// as Exchange answers its own per-mailbox limit: 429 ApplicationThrottled with Retry-After).
func (v *mailVendor) RateLimit(perMinute int) { v.gate.setRate(perMinute) }

func (v *mailVendor) Throttled() int64 {
	return int64(v.emu.Stats().MailThrottled) + int64(v.emu.Stats().Throttled) + v.gate.count(&v.gate.throttled)
}
func (v *mailVendor) RetriedEarly() int64            { return v.gate.count(&v.gate.early) }
func (v *mailVendor) StreamRetention() time.Duration { return deltaTTL }

// Inaccessible makes Exchange refuse the users' mailboxes (403 ErrorAccessDenied, as outside an
// application access policy).
func (v *mailVendor) Inaccessible(emails []string, yes bool) {
	for _, e := range emails {
		for _, u := range v.emu.Users() {
			if strings.EqualFold(u.UPN, e) {
				v.gate.mu.Lock()
				v.gate.deny[u.ID] = yes
				v.gate.mu.Unlock()
			}
		}
	}
}

// ExpireCursor expires every delta link handed out: the next read answers 410 SyncStateNotFound.
func (v *mailVendor) ExpireCursor()         { v.emu.ExpireDeltaTokens() }
func (v *mailVendor) CursorsExpired() int64 { return int64(v.emu.Stats().ExpiredDeltaTokens) }

// Push: Graph change notifications, delivered by the emulator to the subscriptions' URLs.
func (v *mailVendor) DropPushes(drop bool) {
	const many = 1 << 30
	if drop {
		v.dropBase = v.emu.Stats().PushLost
		v.emu.LosePushes(many)
		return
	}
	v.emu.LosePushes(-(many - (v.emu.Stats().PushLost - v.dropBase)))
}
func (v *mailVendor) PushesDelivered() int64 { return int64(v.emu.Stats().PushDeliveries) }

var (
	_ connectortest.PushVendor   = (*mailVendor)(nil)
	_ connectortest.CursorVendor = (*mailVendor)(nil)
)

// mailboxGate stands in front of the emulator for what the suite needs of Exchange that the
// emulator does not do (see mailVendor).
type mailboxGate struct {
	clk *clock.Fake

	mu        sync.Mutex
	perMinute int // < 0: off
	buckets   map[string]*tokenBucket
	last      map[string]time.Time // method and URI -> the end of its last throttle
	deny      map[string]bool      // user ids whose mailbox is refused
	throttled int64
	early     int64
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

func (g *mailboxGate) setRate(perMinute int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.perMinute, g.buckets = perMinute, map[string]*tokenBucket{}
}

func (g *mailboxGate) count(n *int64) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return *n
}

func (g *mailboxGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/")
		if len(seg) < 3 || seg[0] != "users" || (seg[2] != "messages" && seg[2] != "mailFolders") {
			h.ServeHTTP(w, r)
			return
		}
		uid, sig, now := seg[1], r.Method+" "+r.URL.RequestURI(), g.clk.Now()
		g.mu.Lock()
		if until, ok := g.last[sig]; ok && now.Before(until) {
			g.early++
		}
		denied := false
		for id, yes := range g.deny {
			if yes && strings.EqualFold(id, uid) {
				denied = true
			}
		}
		wait := 0
		if !denied && g.perMinute >= 0 {
			b := g.buckets[uid]
			if b == nil {
				b = &tokenBucket{tokens: 10, at: now}
				g.buckets[uid] = b
			}
			rate := float64(g.perMinute) / 60
			b.tokens = math.Min(10, b.tokens+now.Sub(b.at).Seconds()*rate)
			b.at = now
			if b.tokens >= 1 {
				b.tokens--
			} else {
				wait = max(1, int(math.Ceil((1-b.tokens)/rate)))
				g.throttled++
				g.last[sig] = now.Add(time.Duration(wait) * time.Second)
			}
		}
		g.mu.Unlock()
		switch {
		case denied:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":"ErrorAccessDenied","message":"Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."}}`))
		case wait > 0:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxRequests limit."}}`))
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{Connector: New(), NewVendor: newMailVendor})
}
