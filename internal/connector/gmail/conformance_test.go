package gmail

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	gemu "github.com/telltale-dev/telltale/internal/emulator/google"
)

// gmailVendor runs the conformance suite against the Google emulator's Gmail. Ground truth is the
// emulator's SentMails: one Truth per attachment, identified by the record id the adapter gives it
// ("<message id>/<part id>"), owned by the sender (the mailbox it is read from). A mailbox has no
// files (Files is empty): an email connection has no baseline.
type gmailVendor struct {
	t       *testing.T
	emu     *gemu.Emulator
	clk     *clock.Fake
	url     string
	rng     *rand.Rand
	dup     float64   // the share of mailboxes whose history is expired before each Act (Faults)
	lastAct time.Time // when Act last ran (StreamRetention)
}

// historyRetention: history ids older than this are refused (the emulator's HistoryRetention;
// Gmail: "typically valid for at least a week").
const historyRetention = 7 * 24 * time.Hour

const (
	pushTopic = "projects/telltale-emu/topics/telltale-gmail"
	pushSA    = "pubsub-push@telltale-emu.iam.gserviceaccount.com"
)

func newGmailVendor(t *testing.T, clk *clock.Fake) connectortest.Vendor {
	emu := gemu.New(gemu.Options{Seed: 21, Clock: clk, Users: 8, SuspendedUsers: 1, ArchivedUsers: 1, Groups: 3, FilesPerUser: 1,
		RateLimitPerMinute: -1, TokenTTL: time.Hour, HistoryRetention: historyRetention, PushServiceAccount: pushSA,
		MinFileSize: 64, MaxFileSize: 4096})
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() { srv.Close(); emu.Close() })
	emu.SetPushEndpoint(pushTopic, "", "") // the topic exists; its push subscription comes with PushEndpoint
	return &gmailVendor{t: t, emu: emu, clk: clk, url: srv.URL, rng: rand.New(rand.NewPCG(21, 14)), lastAct: clk.Now()}
}

func (v *gmailVendor) Connection() (string, map[string]string, map[string]string) {
	return "C01emu7x9", map[string]string{"admin_email": v.emu.Users()[0].Email, "customer": "C01emu7x9",
			"token_url": v.url + "/token", "gmail_url": v.url + "/", "directory_url": v.url + "/",
			"pubsub_topic": pushTopic, "push_service_account": pushSA, "jwks_url": v.url + "/oauth2/v3/certs"},
		map[string]string{"service_account_key": string(v.emu.ServiceAccountKey(v.url + "/token"))}
}

// Owners lists the administrator last: the suite makes the first half of the active users'
// mailboxes inaccessible, and Telltale acts as the administrator for discovery.
func (v *gmailVendor) Owners() (active, inactive []string) {
	var admin string
	for _, u := range v.emu.Users() {
		switch {
		case u.Admin:
			admin = u.Email
		case u.Suspended || u.Archived:
			inactive = append(inactive, u.Email)
		default:
			active = append(active, u.Email)
		}
	}
	return append(active, admin), inactive
}

// Files: a mailbox is crawled for no files.
func (v *gmailVendor) Files() map[string]int { return map[string]int{} }

// Groups are the groups' users, nested groups' members included.
func (v *gmailVendor) Groups() map[string][]string {
	gs := v.emu.Groups()
	byEmail := map[string]gemu.Group{}
	for _, g := range gs {
		byEmail[g.Email] = g
	}
	var expand func(g gemu.Group, seen map[string]bool) []string
	expand = func(g gemu.Group, seen map[string]bool) []string {
		var out []string
		for _, m := range g.Members {
			if sub, ok := byEmail[m]; ok {
				if !seen[m] {
					seen[m] = true
					out = append(out, expand(sub, seen)...)
				}
				continue
			}
			out = append(out, m)
		}
		return out
	}
	out := map[string][]string{}
	for _, g := range gs {
		out[g.Name] = expand(g, map[string]bool{g.Email: true})
	}
	return out
}

func (v *gmailVendor) AddToGroup(group, email string) {
	if err := v.emu.AddToGroup(group, email); err != nil {
		v.t.Fatal(err)
	}
}

// RemoveFromGroup removes the member from the group, or from the nested group it belongs through.
func (v *gmailVendor) RemoveFromGroup(group, email string) {
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

func (v *gmailVendor) AddUser(name string) string { return v.emu.AddUser(name).Email }

func (v *gmailVendor) activeMailboxes() []string {
	var out []string
	for _, u := range v.emu.Users() {
		if !u.Suspended && !u.Archived {
			out = append(out, u.Email)
		}
	}
	return out
}

// Act sends n random messages, drafts and autosaves (StepMail) and returns one Truth per
// attachment sent. Before it, history ids older than the retention are made out of date (the
// emulator keeps a history id usable as long as no record after it was dropped; Gmail's ids
// themselves age), and, under Faults with duplicates, a share of the mailboxes lose their history:
// their streams resync and list the last hour's sent mail again, which is how Gmail repeats
// records.
func (v *gmailVendor) Act(n int) []connectortest.Truth {
	stale := v.clk.Now().Sub(v.lastAct) > historyRetention
	v.lastAct = v.clk.Now()
	for _, mb := range v.activeMailboxes() {
		if stale || (v.dup > 0 && v.rng.Float64() < v.dup) {
			if err := v.emu.ExpireHistory(mb); err != nil {
				v.t.Fatal(err)
			}
		}
	}
	before := len(v.emu.SentMails())
	v.emu.StepMail(n)
	var out []connectortest.Truth
	for _, m := range v.emu.SentMails()[before:] {
		out = append(out, truthsOf(m)...)
	}
	return out
}

// truthsOf is a sent message as the suite's ground truth: each attachment is one file-emailed
// record of the sender's mailbox.
func truthsOf(m gemu.SentMail) []connectortest.Truth {
	var out []connectortest.Truth
	for _, a := range m.Attachments {
		out = append(out, connectortest.Truth{VendorID: m.ID + "/" + a.PartID, Owner: m.From, Actor: m.From, Kind: "file-emailed", File: true})
	}
	return out
}

func (v *gmailVendor) Faults(rate, duplicates float64, reorder bool) {
	// Gmail's history is ordered: there is nothing to reorder.
	v.dup = duplicates
	v.emu.SetFaults(gemu.Faults{Rate: rate, Kinds: []string{"500", "502", "503", "429", "truncate", "drop"}})
}

func (v *gmailVendor) FaultsInjected() int64 { return int64(v.emu.Stats().Faults) }
func (v *gmailVendor) RateLimit(perMinute int) {
	v.emu.SetRateLimit(perMinute, 10) // a burst of 10, as the suite expects
}
func (v *gmailVendor) Throttled() int64               { return int64(v.emu.Stats().Throttled) }
func (v *gmailVendor) RetriedEarly() int64            { return int64(v.emu.Stats().EarlyRetries) }
func (v *gmailVendor) StreamRetention() time.Duration { return historyRetention }

// Inaccessible turns Gmail off for the users (Gmail answers 400 "Mail service not enabled").
func (v *gmailVendor) Inaccessible(emails []string, yes bool) {
	for _, e := range emails {
		v.emu.SetMailDisabled(e, yes)
	}
}

// ExpireCursor drops every mailbox's history: the next history.list answers 404.
func (v *gmailVendor) ExpireCursor() {
	for _, mb := range v.activeMailboxes() {
		if err := v.emu.ExpireHistory(mb); err != nil {
			v.t.Fatal(err)
		}
	}
}
func (v *gmailVendor) CursorsExpired() int64 { return int64(v.emu.Stats().ExpiredHistoryIDs) }

// Push: the Pub/Sub push subscription of the topic posts to the connection's webhook URL, with
// Pub/Sub's default audience (that URL).
func (v *gmailVendor) PushEndpoint(url string) { v.emu.SetPushEndpoint(pushTopic, url, "") }
func (v *gmailVendor) DropPushes(drop bool)    { v.emu.LosePushes(drop) }
func (v *gmailVendor) PushesDelivered() int64  { return int64(v.emu.Stats().PushDeliveries) }

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{Connector: New(), NewVendor: newGmailVendor})
}

// TestMonitoringMeansStarted: an email connection says Monitoring as soon as discovery ends
// (R4.1); a message sent at that moment, before any other unit has run, is collected: every
// mailbox's stream start is taken by discovery, not later by its index unit.
func TestMonitoringMeansStarted(t *testing.T) {
	e := connectortest.NewEnv(t, connectortest.Harness{Connector: New(), NewVendor: newGmailVendor}, "all", nil)
	v := e.V.(*gmailVendor)
	if err := e.Ingest.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; e.Connection().Status != "monitoring"; i++ {
		if i > 50 {
			t.Fatalf("not monitoring: %+v", e.Connection())
		}
		if _, err := e.Runner.RunDue(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, mb := range v.activeMailboxes() {
		id, err := v.emu.SendMail(mb, []string{"x@partner.example"}, nil, nil, "at once",
			[]gemu.MailAttachment{{Name: "plan.pdf", MimeType: "application/pdf", Content: []byte("%PDF-1.4 plan")}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	for range 5 {
		e.Poll()
	}
	got := e.VendorIDs()
	for _, id := range want {
		found := false
		for vid := range got {
			if strings.HasPrefix(vid, id+"/") {
				found = true
			}
		}
		if !found {
			t.Errorf("message %s sent when the connection first said Monitoring was not collected", id)
		}
	}
}
