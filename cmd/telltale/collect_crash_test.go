package main

import (
	"context"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/onedrive"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	googleemu "github.com/telltale-dev/telltale/internal/emulator/google"
	msemu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// crashVendor is what TestKill9DuringCollection needs of one vendor, so that each connector is
// held to the same crash test: Google and Microsoft add one entry each to crashVendors.
type crashVendor struct {
	name string
	// start serves the vendor's emulator on loopback with its stream faults on (records repeated
	// and reordered), stopped when the test ends.
	start func(t *testing.T) crashRun
}

// crashRun is one vendor emulator serving a crash test.
type crashRun struct {
	// connection is the POST /api/v1/connections body that collects from the emulator.
	connection map[string]any
	// act makes the simulated organization act n times (the vendor records its activity).
	act func(n int)
	// settle turns the emulator's faults off before the final reads.
	settle func()
	// want is the ground truth: the vendor record id (as stored in event.VendorIDs) and kind of
	// each activity since started that Telltale must store exactly once.
	want func(started time.Time) map[string]string
}

var crashVendors = []crashVendor{{name: "box", start: boxCrashRun}, {name: "google_drive", start: googleCrashRun}, {name: "gmail", start: gmailCrashRun},
	{name: "onedrive", start: oneDriveCrashRun}, {name: "microsoft365_mail", start: m365MailCrashRun}}

var folderExposure = map[string]bool{"SHARE": true, "ITEM_SHARED_UPDATE": true, "UNSHARE": true, "COLLABORATION_INVITE": true,
	"COLLABORATION_ACCEPT": true, "COLLABORATION_ROLE_CHANGE": true, "COLLABORATION_REMOVE": true, "COLLABORATION_EXPIRATION": true}

// boxCrashRun: the Box emulator repeating and reordering admin_logs_streaming; every file activity
// (and folder exposure change) of an active user that Telltale did not cause itself is expected.
func boxCrashRun(t *testing.T) crashRun {
	emu := boxemu.New(boxemu.Options{Seed: 42, Users: 6, InactiveUsers: 1, FilesPerUser: 40, FoldersPerUser: 4, Depth: 2,
		RateLimitPerMinute: -1, MaxFileSize: 2048})
	emu.SetFaults(boxemu.Faults{DuplicateRate: 0.2, Reorder: true})
	emuURL := serveLoopback(t, emu.Handler(), emu.Close)
	return crashRun{
		connection: map[string]any{
			"name": "Box crash", "service": "box", "tenant_id": "900001",
			"settings": map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com",
				"api_url": emuURL, "rate_limit": "0"},
			"credentials": map[string]string{"client_secret": "emu-client-secret"},
		},
		act:    func(n int) { emu.Step(n) },
		settle: func() { emu.SetFaults(boxemu.Faults{}) },
		want: func(started time.Time) map[string]string {
			active := map[string]bool{}
			for _, u := range emu.Users() {
				if u.Status == "active" {
					active[strings.ToLower(u.Login)] = true
				}
			}
			want := map[string]string{}
			for _, a := range emu.Activities() {
				if a.FileActivity && (a.ItemType == "file" || folderExposure[a.EventType]) && active[strings.ToLower(a.OwnerLogin)] &&
					a.Detail["via_api"] != "true" && !a.At.Before(started) {
					want[a.EventID] = a.EventType
				}
			}
			return want
		},
	}
}

// googleFileEvents are the Drive audit event names the emulator produces that are file activity
// (googledrive.Mapping); sharing ones count for folders too.
var googleFileEvents = map[string]bool{"create": false, "upload": false, "copy": false, "edit": false, "rename": false, "move": false,
	"trash": false, "delete": false, "untrash": false, "download": false, "view": false, "change_user_access": true, "change_document_visibility": true}

// googleFaults are the transport faults of the Google crash runs: 10 % of requests, every class
// but the hang (as conformance suite v2's ExactlyOnceUnderFaults; issue 14).
var googleFaults = googleemu.Faults{Rate: 0.10, Kinds: []string{"500", "502", "503", "429", "truncate", "drop"}}

// googleCrashRun: the Google emulator with transport faults and its Reports API listing records
// up to 2 s late and out of order, each read again in the next polls' overlap (repeated records);
// every file action on a monitored drive (an active user's or a shared drive) that Telltale did
// not cause itself is expected once, identified by its Reports record's id (which the event
// carries whether the changes feed or the record stored it first).
func googleCrashRun(t *testing.T) crashRun {
	emu := googleemu.New(googleemu.Options{Seed: 42, Users: 6, FilesPerUser: 30, FoldersPerUser: 3, SharedDrives: 2, FilesPerDrive: 10,
		RateLimitPerMinute: -1, ReportsLagMin: 100 * time.Millisecond, ReportsLagMax: 2 * time.Second})
	emu.SetFaults(googleFaults)
	emuURL := serveLoopback(t, emu.Handler(), emu.Close)
	return crashRun{
		connection: map[string]any{
			"name": "Google crash", "service": "google_drive", "tenant_id": "C01emu7x9",
			"settings": map[string]string{"admin_email": emu.Users()[0].Email, "customer": "C01emu7x9", "reports_overlap": "1m",
				"token_url": emuURL + "/token", "drive_url": emuURL + "/drive/v3/", "directory_url": emuURL + "/"},
			"credentials": map[string]string{"service_account_key": string(emu.ServiceAccountKey(emuURL + "/token"))},
		},
		act:    func(n int) { emu.Step(n) },
		settle: func() { emu.SetFaults(googleemu.Faults{}) },
		want: func(started time.Time) map[string]string {
			active := map[string]bool{}
			for _, u := range emu.Users() {
				if !u.Suspended && !u.Archived {
					active[u.Email] = true
				}
			}
			if st := emu.Stats(); st.Faults == 0 {
				t.Errorf("the run proves nothing: no fault injected")
			}
			want := map[string]string{}
			for _, a := range emu.Activities() {
				sharing, mapped := googleFileEvents[a.Name]
				if mapped && (a.DocType != "folder" || sharing) && (a.DriveID != "" || active[a.Owner]) && a.Detail["api"] != "true" && !a.At.Before(started) {
					at, _ := time.Parse(time.RFC3339Nano, a.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
					want[at.UTC().Format(time.RFC3339Nano)+"/"+a.Qualifier+"/0/"+a.Name] = a.Name
				}
			}
			return want
		},
	}
}

// gmailCrashRun: the Gmail emulator with transport faults, and now and then a mailbox's history
// dropped (its stream resyncs through messages.list and reads the last hour's sent mail again:
// Gmail's repeated records, newest first); every attachment of every message an active user sends
// is expected once (record id: message id and part id).
func gmailCrashRun(t *testing.T) crashRun {
	emu := googleemu.New(googleemu.Options{Seed: 43, Users: 6, FilesPerUser: 1, RateLimitPerMinute: -1, MinFileSize: 64, MaxFileSize: 2048})
	emu.SetFaults(googleFaults)
	emuURL := serveLoopback(t, emu.Handler(), emu.Close)
	return crashRun{
		connection: map[string]any{
			"name": "Gmail crash", "service": "gmail", "tenant_id": "C01emu7x9",
			"settings": map[string]string{"admin_email": emu.Users()[0].Email, "customer": "C01emu7x9", "token_url": emuURL + "/token",
				"gmail_url": emuURL + "/", "directory_url": emuURL + "/", "jwks_url": emuURL + "/oauth2/v3/certs"},
			"credentials": map[string]string{"service_account_key": string(emu.ServiceAccountKey(emuURL + "/token"))},
		},
		act: func(n int) {
			if users := emu.Users(); mathrand.IntN(20) == 0 {
				if u := users[mathrand.IntN(len(users))]; !u.Suspended && !u.Archived {
					if err := emu.ExpireHistory(u.Email); err != nil {
						t.Error(err)
					}
				}
			}
			emu.StepMail(n)
		},
		settle: func() { emu.SetFaults(googleemu.Faults{}) },
		want: func(started time.Time) map[string]string {
			active := map[string]bool{}
			for _, u := range emu.Users() {
				if !u.Suspended && !u.Archived {
					active[u.Email] = true
				}
			}
			if st := emu.Stats(); st.Faults == 0 || st.ExpiredHistoryIDs == 0 {
				t.Errorf("the run proves nothing: %d faults injected, %d history ids answered 404", st.Faults, st.ExpiredHistoryIDs)
			}
			want := map[string]string{}
			for _, m := range emu.SentMails() {
				if active[m.From] && !m.At.Before(started) {
					for _, a := range m.Attachments {
						want[m.ID+"/"+a.PartID] = "attachment"
					}
				}
			}
			return want
		},
	}
}

// msConnection is the POST /api/v1/connections body of a Microsoft 365 connection to the emulator.
func msConnection(name, service string, emu *msemu.Emulator, url string, extra map[string]string) map[string]any {
	settings := map[string]string{"tenant_id": emu.TenantID(), "client_id": emu.ClientID(), "login_url": url, "graph_url": url + "/v1.0"}
	for k, v := range extra {
		settings[k] = v
	}
	return map[string]any{"name": name, "service": service, "tenant_id": emu.TenantID(), "settings": settings,
		"credentials": map[string]string{"client_secret": emu.ClientSecret()}}
}

// msActive are the emulator's enabled users, by userPrincipalName.
func msActive(emu *msemu.Emulator) map[string]bool {
	active := map[string]bool{}
	for _, u := range emu.Users() {
		if u.Enabled {
			active[strings.ToLower(u.UPN)] = true
		}
	}
	return active
}

// oneDriveCrashRun: the Microsoft emulator with 10 % transport faults, delta repeating items and the
// audit log listing records up to 2 s late, out of order and repeated; every file action on an
// enabled user's OneDrive is expected once by its audit record id (which the event carries whether
// delta or the audit log stored it first).
func oneDriveCrashRun(t *testing.T) crashRun {
	emu := msemu.New(msemu.Options{Seed: 44, Users: 6, UnlicensedUsers: 1, DisabledUsers: 1, FilesPerUser: 20, FoldersPerUser: 3,
		RateLimitPerMinute: -1, AuditLagMin: 100 * time.Millisecond, AuditLagMax: 2 * time.Second, AuditDuplicate: 0.1, AuditBlobInterval: time.Second})
	emu.SetFaults(msemu.Faults{Rate: 0.10})
	emuURL := serveLoopback(t, emu.Handler(), emu.Close)
	return crashRun{
		connection: msConnection("OneDrive crash", "onedrive", emu, emuURL, map[string]string{"manage_url": emuURL, "audit_overlap": "1m", "rate_limit": "0"}),
		act:        func(n int) { emu.Step(n) },
		settle: func() {
			emu.SetFaults(msemu.Faults{})
			if st := emu.Stats(); st.Faults == 0 || st.AuditRecordsServed == 0 {
				t.Errorf("the emulator failed %d requests and served %d audit records: the run proves nothing", st.Faults, st.AuditRecordsServed)
			}
		},
		want: func(started time.Time) map[string]string {
			active := msActive(emu)
			want := map[string]string{}
			for _, a := range emu.Activities() {
				if onedrive.FileOperation(a.Operation) && active[strings.ToLower(a.Owner)] && !a.At.Before(started) {
					want[a.ID] = a.Operation
				}
			}
			return want
		},
	}
}

// m365MailCrashRun: the Microsoft emulator with 10 % transport faults, and every delta link
// expired now and then, so that the mailboxes' streams resync and list the last hour's sent mail
// again (how Graph repeats messages); every attachment of every message an enabled, licensed user
// sends is expected once (record id: message id and attachment id).
func m365MailCrashRun(t *testing.T) crashRun {
	emu := msemu.New(msemu.Options{Seed: 45, Users: 6, UnlicensedUsers: 1, DisabledUsers: 1, FilesPerUser: 2, RateLimitPerMinute: -1,
		MinFileSize: 64, MaxFileSize: 2048})
	emu.SetFaults(msemu.Faults{Rate: 0.10})
	emuURL := serveLoopback(t, emu.Handler(), emu.Close)
	acts := 0
	return crashRun{
		connection: msConnection("Mail crash", "microsoft365_mail", emu, emuURL, nil),
		act: func(n int) {
			if acts++; acts%25 == 0 {
				emu.ExpireDeltaTokens()
			}
			emu.StepMail(n)
		},
		settle: func() {
			emu.SetFaults(msemu.Faults{})
			if st := emu.Stats(); st.Faults == 0 || st.ExpiredDeltaTokens == 0 {
				t.Errorf("the emulator failed %d requests and expired %d delta links: the run proves nothing", st.Faults, st.ExpiredDeltaTokens)
			}
		},
		want: func(started time.Time) map[string]string {
			active := msActive(emu)
			want := map[string]string{}
			for _, m := range emu.SentMails() {
				if active[strings.ToLower(m.From)] && !m.At.Before(started) {
					for _, a := range m.Attachments {
						want[m.ID+"/"+a.ID] = "attachment"
					}
				}
			}
			return want
		},
	}
}

// serveLoopback serves h on a loopback port until the test ends, then closes it and calls stop.
func serveLoopback(t *testing.T, h http.Handler, stop func()) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); stop() })
	return "http://" + ln.Addr().String()
}

// TestKill9DuringCollection kills `telltale serve` with SIGKILL at random moments while it indexes
// and collects from each vendor's emulator (which keeps generating activity, repeating and
// reordering stream records), 10 times (TELLTALE_KILL9_CYCLES for more), restarts it each time,
// and then checks that every file activity the emulator generated is stored exactly once: nothing
// lost, nothing doubled (R3.8).
func TestKill9DuringCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildBinary(t)
	for _, v := range crashVendors {
		t.Run(v.name, func(t *testing.T) { kill9DuringCollection(t, bin, v.start(t)) })
	}
}

func kill9DuringCollection(t *testing.T, bin string, vendor crashRun) {
	dataDir := t.TempDir()
	token := "collect-crash-bootstrap-token-0123456789"
	env := []string{"TELLTALE_DATA_DIR=" + dataDir, "TELLTALE_BOOTSTRAP_TOKEN=" + token, "TELLTALE_SECRET_KEY=" + randomKey(t),
		"TELLTALE_LOG_LEVEL=warn", "TELLTALE_ALLOW_LOOPBACK_VENDORS=true", "TELLTALE_POLL_INTERVAL=300ms", "TELLTALE_DISCOVERY_INTERVAL=5s"}
	n := startNode(t, bin, env)
	ctx := context.Background()
	code, body, err := api(ctx, n.url, token, "POST", "/api/v1/connections", vendor.connection)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create connection: %d %s %v", code, body, err)
	}
	var conn struct {
		ID string `json:"id"`
	}
	json.Unmarshal(body, &conn)

	// Activity before the connection took its stream start position is the baseline's, not the
	// stream's: start acting once discovery has run.
	waitStatus(t, n, token, conn.ID, "indexing", "monitoring")
	// The organization keeps acting while Telltale is killed and restarted.
	started := time.Now()
	actCtx, stopActing := context.WithCancel(ctx)
	var acting sync.WaitGroup
	acting.Add(1)
	go func() {
		defer acting.Done()
		for actCtx.Err() == nil {
			vendor.act(3)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	cycles := kill9Cycles(t)
	for round := 1; round <= cycles; round++ {
		time.Sleep(time.Duration(200+mathrand.IntN(1200)) * time.Millisecond)
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
		n = startNode(t, bin, env)
	}
	stopActing()
	acting.Wait()
	vendor.settle()

	want := vendor.want(started)
	if len(want) < 100 {
		t.Fatalf("only %d file activities generated; the test needs more", len(want))
	}
	got, missing, doubled := storedOnce(want, func() map[string]int { return storedVendorIDs(t, filepath.Join(dataDir, "telltale.db")) })
	t.Logf("kill -9 result: %d cycles, %d file activities generated, %d lost, %d doubled (%d stored events carry vendor ids), %s",
		cycles, len(want), len(missing), len(doubled), len(got), time.Since(started).Round(time.Second))
	if len(missing) > 0 || len(doubled) > 0 {
		t.Errorf("lost %d: %v\ndoubled %d: %v\nlast stderr:\n%s", len(missing), head(missing), len(doubled), head(doubled), n.stderr)
	}
	code, body, _ = api(ctx, n.url, token, "GET", "/api/v1/connections/"+conn.ID, nil)
	if code != 200 || !strings.Contains(string(body), `"status": "monitoring"`) {
		t.Errorf("connection after the kills: %d %s", code, body)
	}
}

// kill9Cycles is how many times TestKill9DuringCollection kills the node: 10 (CI), or
// TELLTALE_KILL9_CYCLES for the long run documented in docs/BENCHMARKS.md.
func kill9Cycles(t *testing.T) int {
	v := os.Getenv("TELLTALE_KILL9_CYCLES")
	if v == "" {
		return 10
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("TELLTALE_KILL9_CYCLES=%q: want a whole number of cycles, such as 100", v)
	}
	return n
}

// storedOnce waits up to 90 s for every activity of want (vendor record id -> kind) to be stored,
// reading the stored events' vendor ids with read, and returns what was read, the activities
// missing and those stored more than once.
func storedOnce(want map[string]string, read func() map[string]int) (got map[string]int, missing, doubled []string) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		got = read()
		n := 0
		for id := range want {
			if got[id] == 0 {
				n++
			}
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for id, kind := range want {
		switch got[id] {
		case 0:
			missing = append(missing, id+" "+kind)
		case 1:
		default:
			doubled = append(doubled, fmt.Sprintf("%s %s x%d", id, kind, got[id]))
		}
	}
	return got, missing, doubled
}

func head(xs []string) []string {
	if len(xs) > 8 {
		return xs[:8]
	}
	return xs
}

// storedVendorIDs opens the node's SQLite database (WAL allows a reader beside the running node)
// and counts how many stored events carry each vendor record id.
func storedVendorIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return vendorIDsIn(t, st)
}

// waitStatus waits until the connection's status is one of want.
func waitStatus(t *testing.T, n *node, token, id string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body, err := api(context.Background(), n.url, token, "GET", "/api/v1/connections/"+id, nil)
		var c struct {
			Status string `json:"status"`
		}
		json.Unmarshal(body, &c)
		if err == nil && code == 200 && slices.Contains(want, c.Status) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection %s is %q after a minute, want %v: %s\nnode stderr:\n%s", id, c.Status, want, body, n.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
