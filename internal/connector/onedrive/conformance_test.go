package onedrive

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
)

// msVendor runs the conformance suite against the Microsoft emulator. Ground truth is the
// emulator's Activities; each is identified by its Audit.SharePoint record's Id (the Activity's
// ID), which the stored event carries whether it was first stored from the drive's delta feed
// (then enriched by the audit record) or from the audit record.
type msVendor struct {
	t     *testing.T
	emu   *memu.Emulator
	url   string
	lost0 int // PushLost when DropPushes(true) began
}

// streamRetention: delta links older than this answer 410 (DeltaTokenTTL). Shorter than the
// Management API's 7 days, so that the resync case's audit content is still listed after it.
const streamRetention = 5 * 24 * time.Hour

// newMSVendor makes audit records available 1 to 20 minutes late (Microsoft: typically 60 to 90;
// TestMergeOneEventPerAction runs with those), so that the suite's polls see both feeds.
func newMSVendor(t *testing.T, clk *clock.Fake) connectortest.Vendor {
	return msVendorWith(t, clk, time.Minute, 20*time.Minute)
}

func msVendorWith(t *testing.T, clk *clock.Fake, lagMin, lagMax time.Duration) *msVendor {
	emu := memu.New(memu.Options{Seed: 15, Clock: clk, Users: 9, UnlicensedUsers: 1, DisabledUsers: 1, Groups: 3, FilesPerUser: 8,
		FoldersPerUser: 2, RateLimitPerMinute: -1, TokenTTL: time.Hour, DeltaTokenTTL: streamRetention,
		AuditLagMin: lagMin, AuditLagMax: lagMax, AuditDuplicate: 0.05,
		PushRetries: 2, PushRetryBase: 100 * time.Millisecond})
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return &msVendor{t: t, emu: emu, url: srv.URL}
}

func (v *msVendor) Connection() (string, map[string]string, map[string]string) {
	return v.emu.TenantID(), map[string]string{"tenant_id": v.emu.TenantID(), "client_id": v.emu.ClientID(),
			"login_url": v.url, "graph_url": v.url + "/v1.0", "manage_url": v.url, "audit_overlap": "1h", "rate_limit": "0"},
		map[string]string{"client_secret": v.emu.ClientSecret()}
}

// Owners: users with a OneDrive, enabled (active) or disabled (inactive); unlicensed users have
// no drive and are neither. The administrator comes last: the suite makes the first half of the
// active users' drives inaccessible.
func (v *msVendor) Owners() (active, inactive []string) {
	var admin string
	for _, u := range v.emu.Users() {
		upn := strings.ToLower(u.UPN)
		switch {
		case u.DriveID == "":
		case !u.Enabled:
			inactive = append(inactive, upn)
		case strings.HasPrefix(upn, "admin@"):
			admin = upn
		default:
			active = append(active, upn)
		}
	}
	if admin != "" {
		active = append(active, admin)
	}
	return active, inactive
}

func (v *msVendor) Files() map[string]int {
	out := map[string]int{}
	for _, u := range v.emu.Users() {
		if u.DriveID == "" || !u.Enabled {
			continue
		}
		n := 0
		for _, it := range v.emu.Items(u.DriveID) {
			if !it.Folder && !it.Root && !it.Deleted {
				n++
			}
		}
		out[strings.ToLower(u.UPN)] = n
	}
	return out
}

// Groups are the groups' users by UPN, nested groups' members included (R2.5).
func (v *msVendor) Groups() map[string][]string {
	upn := map[string]string{}
	for _, u := range v.emu.Users() {
		upn[u.ID] = strings.ToLower(u.UPN)
	}
	gs := v.emu.Groups()
	byID := map[string]memu.Group{}
	for _, g := range gs {
		byID[g.ID] = g
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
			if u := upn[m]; u != "" {
				out = append(out, u)
			}
		}
		return out
	}
	out := map[string][]string{}
	for _, g := range gs {
		out[g.Name] = slices.Compact(slices.Sorted(slices.Values(expand(g, map[string]bool{g.ID: true}))))
	}
	return out
}

func (v *msVendor) AddToGroup(group, upn string) {
	if err := v.emu.AddToGroup(group, upn); err != nil {
		v.t.Fatal(err)
	}
}

func (v *msVendor) RemoveFromGroup(group, upn string) {
	if err := v.emu.RemoveFromGroup(group, upn); err != nil {
		v.t.Fatal(err)
	}
}

func (v *msVendor) AddUser(name string) string {
	given, family, _ := strings.Cut(name, " ")
	id := v.emu.AddUser(given, family, true)
	for _, u := range v.emu.Users() {
		if u.ID == id {
			if _, err := v.emu.Upload(u.UPN, "", "first.docx", []byte("hello from a new hire")); err != nil {
				v.t.Fatal(err)
			}
			return strings.ToLower(u.UPN)
		}
	}
	v.t.Fatalf("the new user %s is not listed", id)
	return ""
}

func (v *msVendor) Act(n int) []connectortest.Truth {
	before := len(v.emu.Activities())
	v.emu.Step(n)
	acts := v.emu.Activities()[before:]
	// What a push-woken delta stream stores of a file is its state at the poll: the file's actions
	// of this batch are an event on it when one of them surely changes what the index compares
	// (new, new content, new name, new parent, recycled), unless the file was both made and
	// recycled in the batch (delta then never shows it). Sharing changes, downloads and views are
	// left to the polls (the audit stream).
	shows, made, gone := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, a := range acts {
		switch a.Operation {
		case "FileUploaded":
			shows[a.ItemID], made[a.ItemID] = true, true
		case "FileModified", "FileRenamed", "FileMoved":
			shows[a.ItemID] = true
		case "FileRecycled":
			shows[a.ItemID], gone[a.ItemID] = true, true
		}
	}
	var out []connectortest.Truth
	for _, a := range acts {
		tr := truthOf(a)
		if tr.PushFile != "" && (!shows[a.ItemID] || made[a.ItemID] && gone[a.ItemID]) {
			tr.PushFile, tr.NoPush = "", true
		}
		out = append(out, tr)
	}
	return out
}

// truthOf is an activity as the suite's ground truth: identified by its audit record's Id, file
// activity when its operation maps to an action (AuditMapping).
func truthOf(a memu.Activity) connectortest.Truth {
	rule, ok := auditRules[a.Operation]
	tr := connectortest.Truth{VendorID: a.ID, Owner: strings.ToLower(a.Owner), Actor: strings.ToLower(a.Actor), Kind: a.Operation,
		File: ok && rule.action != ""}
	switch a.Operation {
	case "FileUploaded", "FileModified", "FileRenamed", "FileMoved", "FileRecycled":
		tr.PushFile = a.ItemID
	default:
		tr.NoPush = true
	}
	return tr
}

func (v *msVendor) Faults(rate, duplicates float64, reorder bool) {
	// Delta repeats items within a round and the audit feed repeats records across blobs, out of
	// order (Options.DeltaRepeat, AuditDuplicate); the audit stream re-reads its overlap: the
	// duplicates and reordering are the feeds' own, whatever is asked.
	v.emu.SetFaults(memu.Faults{Rate: rate})
}

func (v *msVendor) FaultsInjected() int64 { return int64(v.emu.Stats().Faults) }
func (v *msVendor) RateLimit(perMinute int) {
	v.emu.SetRateLimit(perMinute, 10) // a burst of 10, as the suite expects
}
func (v *msVendor) Throttled() int64               { return int64(v.emu.Stats().Throttled) }
func (v *msVendor) RetriedEarly() int64            { return int64(v.emu.Stats().EarlyRetries) }
func (v *msVendor) StreamRetention() time.Duration { return streamRetention }

func (v *msVendor) Inaccessible(upns []string, yes bool) {
	for _, u := range upns {
		if err := v.emu.SetDriveLocked(u, yes); err != nil {
			v.t.Fatal(err)
		}
	}
}

func (v *msVendor) DuringIndex(fn func()) { v.emu.DuringIndex(fn) }

// DropPushes loses the emulator's notifications while drop is true.
func (v *msVendor) DropPushes(drop bool) {
	const many = 1 << 30
	if drop {
		v.lost0 = v.emu.Stats().PushLost
		v.emu.LosePushes(many)
		return
	}
	v.emu.LosePushes(-(many - (v.emu.Stats().PushLost - v.lost0)))
}
func (v *msVendor) PushesDelivered() int64 { return int64(v.emu.Stats().PushDeliveries) }
func (v *msVendor) ExpireCursor()          { v.emu.ExpireDeltaTokens() }
func (v *msVendor) CursorsExpired() int64  { return int64(v.emu.Stats().ExpiredDeltaTokens) }

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{Connector: New(), NewVendor: newMSVendor})
}
