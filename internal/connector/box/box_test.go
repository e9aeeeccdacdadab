package box_test

import (
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
)

// boxVendor drives the Box emulator for the conformance suite.
type boxVendor struct {
	t   *testing.T
	emu *boxemu.Emulator
	url string
}

func newVendor(t *testing.T, clk *clock.Fake) connectortest.Vendor {
	emu := boxemu.New(boxemu.Options{Seed: 7, Clock: clk, Users: 8, InactiveUsers: 2, Groups: 3, FilesPerUser: 12,
		FoldersPerUser: 3, Depth: 2, RateLimitPerMinute: -1, MaxFileSize: 4096, WebhookRetryDelay: 1})
	t.Cleanup(emu.Close)
	srv, _ := specServer(t, emu.Handler()) // every request the suite makes is validated against Box's spec
	return &boxVendor{t: t, emu: emu, url: srv.URL}
}

func (v *boxVendor) Connection() (string, map[string]string, map[string]string) {
	return "900001", map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com",
			"api_url": v.url, "rate_limit": "0"},
		map[string]string{"client_secret": "emu-client-secret", "webhook_primary_key": "emu-primary-key"}
}

func (v *boxVendor) Owners() (active, inactive []string) {
	for _, u := range v.emu.Users() {
		if u.Status == "active" {
			active = append(active, strings.ToLower(u.Login))
		} else {
			inactive = append(inactive, strings.ToLower(u.Login))
		}
	}
	return active, inactive
}

func (v *boxVendor) userID(email string) string {
	for _, u := range v.emu.Users() {
		if strings.EqualFold(u.Login, email) {
			return u.ID
		}
	}
	v.t.Fatalf("no emulated user %s", email)
	return ""
}

func (v *boxVendor) Files() map[string]int {
	out := map[string]int{}
	for _, u := range v.emu.Users() {
		if u.Status == "active" {
			out[strings.ToLower(u.Login)] = v.emu.OwnedFiles(u.ID)
		}
	}
	return out
}

func (v *boxVendor) Groups() map[string][]string {
	login := map[string]string{}
	for _, u := range v.emu.Users() {
		login[u.ID] = strings.ToLower(u.Login)
	}
	out := map[string][]string{}
	for _, g := range v.emu.Groups() {
		var ms []string
		for _, id := range g.MemberIDs {
			ms = append(ms, login[id])
		}
		out[g.Name] = ms
	}
	return out
}

func (v *boxVendor) group(name string) string {
	for _, g := range v.emu.Groups() {
		if g.Name == name {
			return g.ID
		}
	}
	v.t.Fatalf("no emulated group %s", name)
	return ""
}

func (v *boxVendor) AddToGroup(group, email string) { v.emu.AddMember(v.group(group), v.userID(email)) }
func (v *boxVendor) RemoveFromGroup(group, email string) {
	v.emu.RemoveMember(v.group(group), v.userID(email))
}

func (v *boxVendor) AddUser(name string) string {
	login := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"
	u := v.emu.AddUser(login, name, true)
	v.emu.Upload(u.ID, u.RootFolderID, "first.docx", []byte("hello from a new hire"))
	return login
}

func (v *boxVendor) Act(n int) []connectortest.Truth {
	var out []connectortest.Truth
	for _, a := range v.emu.Step(n) {
		// Folder activity is recorded when it exposes the folder (shared links, collaborations); a
		// folder's rename, move or trash is not a file event.
		file := a.FileActivity && (a.ItemType == "file" || folderExposure[a.EventType])
		out = append(out, connectortest.Truth{VendorID: a.EventID, Owner: strings.ToLower(a.OwnerLogin), Actor: a.ActorLogin,
			Kind: a.ItemType + ":" + a.EventType, File: file})
	}
	return out
}

var folderExposure = map[string]bool{"SHARE": true, "ITEM_SHARED_UPDATE": true, "UNSHARE": true, "COLLABORATION_INVITE": true,
	"COLLABORATION_ACCEPT": true, "COLLABORATION_ROLE_CHANGE": true, "COLLABORATION_REMOVE": true, "COLLABORATION_EXPIRATION": true}

func (v *boxVendor) Faults(rate, dup float64, reorder bool) {
	v.emu.SetFaults(boxemu.Faults{Rate: rate, Kinds: []string{"500", "502", "503", "429", "truncate", "drop"}, DuplicateRate: dup, Reorder: reorder})
}

func (v *boxVendor) RateLimit(perMinute int) { v.emu.SetRateLimit(perMinute) }
func (v *boxVendor) Throttled() int64        { return int64(v.emu.Stats().Throttled) }
func (v *boxVendor) RetriedEarly() int64     { return int64(v.emu.Stats().EarlyRetries) }
func (v *boxVendor) StreamRetention() time.Duration {
	return 14 * 24 * time.Hour // Box keeps admin_logs_streaming positions two weeks
}

func (v *boxVendor) Inaccessible(emails []string, yes bool) {
	for _, e := range emails {
		v.emu.SetUserAccessible(v.userID(e), !yes)
	}
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{Connector: box.New(), NewVendor: newVendor})
}

// DropPushes and PushesDelivered make the Box vendor a connectortest.PushVendor.
func (v *boxVendor) DropPushes(drop bool)   { v.emu.LoseDeliveries(drop) }
func (v *boxVendor) PushesDelivered() int64 { return int64(v.emu.Stats().WebhookDeliveries) }

// DuringIndex makes the Box vendor a connectortest.IndexVendor.
func (v *boxVendor) DuringIndex(fn func()) { v.emu.DuringIndex(fn) }

var (
	_ connectortest.PushVendor  = (*boxVendor)(nil)
	_ connectortest.IndexVendor = (*boxVendor)(nil)
)

// ExpireCursor and CursorsExpired make the Box vendor a connectortest.CursorVendor.
func (v *boxVendor) ExpireCursor()         { v.emu.ExpireNextPosition() }
func (v *boxVendor) CursorsExpired() int64 { return int64(v.emu.Stats().ExpiredPositions) }

var _ connectortest.CursorVendor = (*boxVendor)(nil)

func (v *boxVendor) FaultsInjected() int64 { return int64(v.emu.Stats().Faults) }
