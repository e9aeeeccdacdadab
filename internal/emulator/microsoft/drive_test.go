package microsoft

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/kit/quickxor"
)

// round reads a delta round from u to its deltaLink: every value in order, and the deltaLink.
func (h *harness) round(tok, u string, hdr ...string) ([]map[string]any, string) {
	h.t.Helper()
	var out []map[string]any
	for n := 0; n < 10000; n++ {
		a := h.get(h.hc, u, append([]string{"Authorization", "Bearer " + tok}, hdr...)...)
		if a.status != 200 {
			h.t.Fatalf("GET %s: %d %s", u, a.status, a.raw)
		}
		out = append(out, a.values()...)
		if dl, ok := a.body["@odata.deltaLink"].(string); ok {
			if _, both := a.body["@odata.nextLink"]; both {
				h.t.Fatal("a page with both links")
			}
			return out, dl
		}
		u = a.body["@odata.nextLink"].(string)
	}
	h.t.Fatal("delta never ended")
	return nil, ""
}

// lastByID keeps the last occurrence of each item, as Graph tells clients to.
func lastByID(vs []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, v := range vs {
		out[v["id"].(string)] = v
	}
	return out
}

func TestUserDrive(t *testing.T) {
	h := newHarness(t, Options{Users: 10, UnlicensedUsers: 1})
	tok := h.bearer()
	var unlicensed User
	for _, u := range h.emu.Users() {
		if !u.Licensed {
			unlicensed = u
		}
	}
	a := h.getAs(tok, "/v1.0/users/"+unlicensed.ID+"/drive")
	if a.status != 404 || a.errCode() != "ResourceNotFound" || a.errMessage() != "User's mysite not found." {
		t.Fatalf("unlicensed: %d %s", a.status, a.raw)
	}
	u := h.licensed()
	a = h.getAs(tok, "/v1.0/users/"+u.UPN+"/drive")
	if a.status != 200 || a.body["id"] != u.DriveID || a.body["driveType"] != "business" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if a := h.getAs(tok, "/v1.0/drives/"+u.DriveID); a.status != 200 || a.body["id"] != u.DriveID {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if a := h.getAs(tok, "/v1.0/drives/b!nope"); a.status != 404 || a.errCode() != "itemNotFound" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestDeltaRound(t *testing.T) {
	h := newHarness(t, Options{DeltaRepeat: -1, FilesPerUser: 12})
	tok := h.bearer()
	u := h.licensed()
	vs, dl := h.round(tok, "/v1.0/drives/"+u.DriveID+"/root/delta?$top=4")
	want := map[string]Item{}
	for _, it := range h.emu.Items(u.DriveID) {
		want[it.ID] = it
	}
	if len(vs) != len(want) {
		t.Fatalf("%d items in the round, %d in the drive", len(vs), len(want))
	}
	seen := map[string]bool{}
	for _, v := range vs {
		id := v["id"].(string)
		if seen[id] {
			t.Fatalf("%s twice in a round without changes", id)
		}
		seen[id] = true
		it, ok := want[id]
		if !ok {
			t.Fatalf("unknown item %s", id)
		}
		pr := v["parentReference"].(map[string]any)
		if _, ok := pr["path"]; ok {
			t.Fatal("parentReference.path in delta")
		}
		if _, ok := v["cTag"]; ok {
			t.Fatal("cTag in delta (ODfB omits it)")
		}
		switch {
		case it.Root:
			if _, ok := v["root"]; !ok {
				t.Fatal("the root without its root facet")
			}
		case it.Folder:
			if _, ok := v["folder"]; !ok || pr["id"] != it.ParentID {
				t.Fatalf("folder %v", v)
			}
		default:
			f := v["file"].(map[string]any)
			hs := f["hashes"].(map[string]any)
			if hs["quickXorHash"] != it.QuickXorHash || len(hs) != 1 {
				t.Fatalf("hashes %v, want only quickXorHash %s", hs, it.QuickXorHash)
			}
			if v["size"] != float64(it.Size) || pr["id"] != it.ParentID {
				t.Fatalf("file %v", v)
			}
			cb := v["createdBy"].(map[string]any)["user"].(map[string]any)
			if cb["id"] != u.ID {
				t.Fatalf("createdBy %v", cb)
			}
		}
	}
	// Nothing changed: the deltaLink gives nothing and a new deltaLink.
	vs, dl = h.round(tok, dl)
	if len(vs) != 0 {
		t.Fatalf("%d items without changes", len(vs))
	}
	// Changes: exactly the changed items (and the folders whose children changed), latest state.
	var file, other string
	for _, it := range h.emu.Items(u.DriveID) {
		if !it.Folder && !it.Deleted {
			if file == "" {
				file = it.ID
			} else if other == "" {
				other = it.ID
			}
		}
	}
	nid, err := h.emu.Upload(u.UPN, "", "new.txt", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, h.emu.Rename(u.UPN, file, "renamed.txt"))
	must(t, h.emu.Rename(u.UPN, file, "renamed twice.txt"))
	must(t, h.emu.Delete(u.UPN, other))
	vs, dl = h.round(tok, dl)
	got := lastByID(vs)
	if got[nid] == nil || got[file]["name"] != "renamed twice.txt" || got[other]["deleted"] == nil {
		t.Fatalf("changes: %v", vs)
	}
	if _, ok := got[other]["name"]; ok {
		t.Fatal("a deleted item with its name")
	}
	if f := got[nid]["file"].(map[string]any); f["hashes"].(map[string]any)["quickXorHash"] != quickxor.Base64([]byte("hello")) {
		t.Fatalf("%v", f)
	}
	for id := range got {
		if id != nid && id != file && id != other {
			if it := want[id]; !it.Folder {
				t.Fatalf("unchanged %s in the changes", id)
			}
		}
	}
	// A sharing change brings the item, marked only with Prefer: deltashowsharingchanges.
	if _, err := h.emu.ShareLink(u.UPN, file, ScopeAnonymous, LinkView); err != nil {
		t.Fatal(err)
	}
	if vs, _ := h.round(tok, dl); len(vs) != 1 || vs[0]["id"] != file || vs[0]["@microsoft.graph.sharedChanged"] != nil {
		t.Fatalf("sharing change without Prefer: %v", vs)
	}
	vs, _ = h.round(tok, dl, "Prefer", "deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges")
	if len(vs) != 1 || vs[0]["id"] != file || vs[0]["@microsoft.graph.sharedChanged"] != "True" {
		t.Fatalf("sharing change with Prefer: %v", vs)
	}
	if sh := vs[0]["shared"].(map[string]any); sh["scope"] != "anonymous" {
		t.Fatalf("shared %v", sh)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeltaLatestAndResync(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	u := h.licensed()
	a := h.getAs(tok, "/v1.0/users/"+u.ID+"/drive/root/delta?token=latest")
	if a.status != 200 || len(a.values()) != 0 || a.body["@odata.deltaLink"] == nil || a.body["@odata.nextLink"] != nil {
		t.Fatalf("token=latest: %d %s", a.status, a.raw)
	}
	dl := a.body["@odata.deltaLink"].(string)
	if !strings.HasPrefix(dl, h.srv.URL+"/v1.0/users/"+u.ID+"/drive/root/delta?token=") {
		t.Fatalf("deltaLink %s", dl)
	}
	nid, _ := h.emu.Upload(u.UPN, "", "", nil)
	vs, dl2 := h.round(tok, dl)
	if got := lastByID(vs); got[nid] == nil || len(got) != 2 { // the file and the root it went into
		t.Fatalf("%v", vs)
	}
	// Expired on demand: 410 resyncRequired with a Location that enumerates again.
	h.emu.ExpireDeltaTokens()
	a = h.getAs(tok, dl2)
	if a.status != 410 || a.errCode() != "resyncRequired" || a.header.Get("Location") == "" {
		t.Fatalf("expired: %d %s %v", a.status, a.raw, a.header)
	}
	vs, dl3 := h.round(tok, a.header.Get("Location"))
	if len(vs) != len(liveItems(h.emu.Items(u.DriveID))) {
		t.Fatalf("resync enumerated %d", len(vs))
	}
	// Expired by age, and a token Graph never gave.
	h.clk.Advance(31 * 24 * time.Hour)
	tok = h.bearer()
	if a := h.getAs(tok, dl3); a.status != 410 {
		t.Fatalf("31 days old: %d", a.status)
	}
	if a := h.getAs(tok, "/v1.0/drives/"+u.DriveID+"/root/delta?token=bm9wZQ"); a.status != 410 || a.errCode() != "resyncRequired" {
		t.Fatalf("unknown token: %d %s", a.status, a.raw)
	}
	if n := h.emu.Stats().ExpiredDeltaTokens; n != 3 {
		t.Fatalf("ExpiredDeltaTokens %d", n)
	}
}

func liveItems(its []Item) []Item {
	var out []Item
	for _, it := range its {
		if !it.Deleted {
			out = append(out, it)
		}
	}
	return out
}

// An item changed while a round is paged comes again later in the same round; a page may also
// repeat an item (Graph documents both); the last occurrence is the current state.
func TestDeltaRepeatsWithinARound(t *testing.T) {
	for _, repeat := range []float64{-1, 0.5} {
		h := newHarness(t, Options{DeltaRepeat: repeat, FilesPerUser: 20})
		tok := h.bearer()
		u := h.licensed()
		url := "/v1.0/drives/" + u.DriveID + "/root/delta?$top=3"
		var vs []map[string]any
		changed := ""
		for url != "" {
			a := h.getAs(tok, url)
			vs = append(vs, a.values()...)
			if changed == "" {
				for _, v := range vs {
					if _, ok := v["file"]; ok {
						changed = v["id"].(string)
						must(t, h.emu.Edit(u.UPN, changed, []byte("changed mid-round")))
						break
					}
				}
			}
			url, _ = a.body["@odata.nextLink"].(string)
		}
		count := map[string]int{}
		for _, v := range vs {
			count[v["id"].(string)]++
		}
		live := liveItems(h.emu.Items(u.DriveID))
		if len(count) != len(live) {
			t.Fatalf("%d distinct items, %d in the drive", len(count), len(live))
		}
		if count[changed] < 2 {
			t.Fatalf("the item changed mid-round came %d times", count[changed])
		}
		repeats := 0
		for _, n := range count {
			repeats += n - 1
		}
		if repeat > 0 && repeats < 3 {
			t.Fatalf("%d repeats with DeltaRepeat %v", repeats, repeat)
		}
		last := lastByID(vs)[changed]
		if last["file"].(map[string]any)["hashes"].(map[string]any)["quickXorHash"] != quickxor.Base64([]byte("changed mid-round")) {
			t.Fatal("the last occurrence is not the current state")
		}
	}
}

func TestPermissions(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	u := h.licensed()
	other := h.emu.Users()[0]
	id, err := h.emu.Upload(u.UPN, "", "secret plan.docx", []byte("plan"))
	must(t, err)
	anon, err := h.emu.ShareLink(u.UPN, id, ScopeAnonymous, LinkView)
	must(t, err)
	org, err := h.emu.ShareLink(u.UPN, id, ScopeOrganization, LinkEdit)
	must(t, err)
	users, err := h.emu.ShareLink(u.UPN, id, ScopeUsers, LinkView, other.UPN, "bob@partner.example")
	must(t, err)
	inv, err := h.emu.ShareExternal(u.UPN, id, "eve@gmail.com", "write")
	must(t, err)
	direct, err := h.emu.Invite(u.UPN, id, other.UPN, "read")
	must(t, err)
	if _, err := h.emu.ShareExternal(u.UPN, id, other.UPN, "read"); err == nil {
		t.Fatal("ShareExternal to an address of the tenant")
	}
	a := h.getAs(tok, "/v1.0/drives/"+u.DriveID+"/items/"+id+"/permissions")
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	byID := map[string]map[string]any{}
	for _, p := range a.values() {
		byID[p["id"].(string)] = p
	}
	if len(byID) != 6 {
		t.Fatalf("%d permissions: %s", len(byID), a.raw)
	}
	link := func(id string) map[string]any { return byID[id]["link"].(map[string]any) }
	if l := link(anon); l["scope"] != "anonymous" || l["type"] != "view" || byID[anon]["roles"].([]any)[0] != "read" {
		t.Fatalf("anonymous %v", byID[anon])
	}
	if l := link(org); l["scope"] != "organization" || l["type"] != "edit" || byID[org]["roles"].([]any)[0] != "write" {
		t.Fatalf("organization %v", byID[org])
	}
	ids := byID[users]["grantedToIdentitiesV2"].([]any)
	if link(users)["scope"] != "users" || len(ids) != 2 {
		t.Fatalf("users link %v", byID[users])
	}
	if byID[inv]["invitation"].(map[string]any)["email"] != "eve@gmail.com" {
		t.Fatalf("invitation %v", byID[inv])
	}
	if byID[direct]["grantedToV2"].(map[string]any)["user"].(map[string]any)["id"] != other.ID {
		t.Fatalf("direct %v", byID[direct])
	}
	must(t, h.emu.Unshare(u.UPN, id, anon))
	a = h.getAs(tok, "/v1.0/drives/"+u.DriveID+"/items/"+id+"/permissions")
	if len(a.values()) != 5 {
		t.Fatalf("after Unshare: %s", a.raw)
	}
	var ops []string
	for _, act := range h.emu.Activities() {
		ops = append(ops, act.Operation)
	}
	want := "FileUploaded AnonymousLinkCreated CompanyLinkCreated SecureLinkCreated AddedToSecureLink AddedToSecureLink SharingInvitationCreated SharingSet SharedLinkDisabled"
	if strings.Join(ops, " ") != want {
		t.Fatalf("activities %v", ops)
	}
}

func TestContentRedirect(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	u := h.licensed()
	var it Item
	for _, x := range h.emu.Items(u.DriveID) {
		if !x.Folder {
			it = x
			break
		}
	}
	a := h.getAs(tok, "/v1.0/drives/"+u.DriveID+"/items/"+it.ID+"/content")
	loc := a.header.Get("Location")
	if a.status != http.StatusFound || !strings.HasPrefix(loc, h.srv.URL+"/download/") {
		t.Fatalf("%d %v", a.status, a.header)
	}
	// The pre-authenticated URL needs no Authorization.
	b := h.get(h.hc, loc)
	if b.status != 200 || int64(len(b.raw)) != it.Size || quickxor.Base64(b.raw) != it.QuickXorHash {
		t.Fatalf("download: %d, %d bytes", b.status, len(b.raw))
	}
	h.clk.Advance(2 * time.Hour)
	if b := h.get(h.hc, loc); b.status != 401 {
		t.Fatalf("expired download URL: %d", b.status)
	}
	// A client that follows redirects gets the bytes in one call.
	c := h.client()
	c.CheckRedirect = nil
	h.clk.Set(t0)
	if b := h.get(c, "/v1.0/drives/"+u.DriveID+"/items/"+it.ID+"/content"); b.status != 200 || quickxor.Base64(b.raw) != it.QuickXorHash {
		t.Fatalf("followed: %d", b.status)
	}
	if h.emu.Stats().Downloads != 2 {
		t.Fatalf("Downloads %d", h.emu.Stats().Downloads)
	}
}

func TestActionsAndStep(t *testing.T) {
	run := func() []Activity {
		h := newHarness(t, Options{Seed: 7})
		h.emu.Step(300)
		return h.emu.Activities()
	}
	a, b := run(), run()
	if len(a) < 250 || len(a) != len(b) {
		t.Fatalf("%d and %d activities", len(a), len(b))
	}
	ops := map[string]int{}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Operation != b[i].Operation || a[i].ItemID != b[i].ItemID {
			t.Fatalf("Step is not deterministic at %d: %+v / %+v", i, a[i], b[i])
		}
		ops[a[i].Operation]++
	}
	for _, op := range []string{"FileUploaded", "FileModified", "FileRenamed", "FileMoved", "FileRecycled", "AnonymousLinkCreated", "CompanyLinkCreated", "SecureLinkCreated", "SharingInvitationCreated", "SharingSet", "FileDownloaded"} {
		if ops[op] == 0 {
			t.Errorf("no %s in %v", op, ops)
		}
	}
	// The delta of every drive agrees with the emulator's state after the activity.
	h := newHarness(t, Options{Seed: 7})
	h.emu.Step(300)
	tok := h.bearer()
	for _, u := range h.emu.Users() {
		if u.DriveID == "" {
			continue
		}
		vs, _ := h.round(tok, "/v1.0/drives/"+u.DriveID+"/root/delta")
		got := lastByID(vs)
		live := liveItems(h.emu.Items(u.DriveID))
		if len(got) != len(live) {
			t.Fatalf("%s: %d items in delta, %d live", u.UPN, len(got), len(live))
		}
		for _, it := range live {
			v := got[it.ID]
			if v == nil || v["name"] != it.Name && !it.Root {
				t.Fatalf("%s: %v for %+v", u.UPN, v, it)
			}
		}
	}
	// Errors of the actions.
	u := h.licensed()
	if _, err := h.emu.Upload("nobody@example.com", "", "x", nil); err == nil {
		t.Fatal("an unknown actor")
	}
	if err := h.emu.Edit(u.UPN, "01NOPE", nil); err == nil {
		t.Fatal("an unknown item")
	}
}

// Query parameters count on the first call only: $select and $top ride in the links.
func TestDeltaSelectInLinks(t *testing.T) {
	h := newHarness(t, Options{DeltaRepeat: -1})
	tok := h.bearer()
	u := h.licensed()
	vs, dl := h.round(tok, "/v1.0/drives/"+u.DriveID+"/root/delta?$select=id,name,deleted&$top=2")
	if len(vs) < 3 {
		t.Fatalf("%d items", len(vs))
	}
	for _, v := range vs {
		for k := range v {
			if k != "id" && k != "name" {
				t.Fatalf("$select lost in a next link: %v", v)
			}
		}
	}
	id, _ := h.emu.Upload(u.UPN, "", "", nil)
	must(t, h.emu.Delete(u.UPN, id))
	vs, _ = h.round(tok, dl)
	got := lastByID(vs)
	if got[id] == nil || got[id]["deleted"] == nil || len(got[id]) != 2 {
		t.Fatalf("$select lost in the delta link: %v", vs)
	}
}

func TestUserLifecycle(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	id := h.emu.AddUser("Nia", "Moss", false)
	if a := h.getAs(tok, "/v1.0/users/"+id+"/drive"); a.status != 404 {
		t.Fatalf("unlicensed new user: %d", a.status)
	}
	must(t, h.emu.SetLicensed("nia.moss@example.com", true))
	a := h.getAs(tok, "/v1.0/users/"+id+"/drive")
	if a.status != 200 {
		t.Fatalf("licensed: %d %s", a.status, a.raw)
	}
	must(t, h.emu.SetEnabled("nia.moss@example.com", false))
	if _, err := h.emu.Upload("nia.moss@example.com", "", "", nil); err == nil {
		t.Fatal("a disabled user acted")
	}
	u := h.getAs(tok, "/v1.0/users/"+id+"?$select=accountEnabled,assignedLicenses")
	if u.body["accountEnabled"] != false || len(u.body["assignedLicenses"].([]any)) != 1 {
		t.Fatalf("%s", u.raw)
	}
}

// How a client reads (requests, delta repeats, downloads) never changes what the tenant does.
func TestReadsDoNotChangeTheTenant(t *testing.T) {
	quiet := newHarness(t, Options{Seed: 11})
	busy := newHarness(t, Options{Seed: 11, DeltaRepeat: 0.9})
	tok := busy.bearer()
	for _, u := range busy.emu.Users() {
		if u.DriveID != "" {
			busy.round(tok, "/v1.0/drives/"+u.DriveID+"/root/delta?$top=2")
		}
	}
	quiet.emu.Step(100)
	busy.emu.Step(100)
	a, b := quiet.emu.Activities(), busy.emu.Activities()
	if len(a) != len(b) {
		t.Fatalf("%d and %d activities", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].ItemID != b[i].ItemID || a[i].Operation != b[i].Operation {
			t.Fatalf("activity %d differs: %+v / %+v", i, a[i], b[i])
		}
	}
}

// TestMoveAndRenameKeepAFreeName: an item moved, or renamed to a different case of its own name,
// keeps the name when no other item in the folder has it (it is no sibling of itself); a name
// taken by another item is still made unique. Found by the OneDrive connector's tests: every move
// used to rename the item to "<name> 1", so a move read as a move and a rename.
func TestMoveAndRenameKeepAFreeName(t *testing.T) {
	h := newHarness(t, Options{Users: 3, FilesPerUser: 2, FoldersPerUser: 1})
	u := h.emu.Users()[1]
	dir, err := h.emu.CreateFolder(u.UPN, "", "Target")
	must(t, err)
	id, err := h.emu.Upload(u.UPN, "", "unique name.txt", []byte("x"))
	must(t, err)
	name := func(id string) string {
		for _, it := range h.emu.Items(u.DriveID) {
			if it.ID == id {
				return it.Name
			}
		}
		return ""
	}
	must(t, h.emu.Move(u.UPN, id, dir))
	if n := name(id); n != "unique name.txt" {
		t.Errorf("moved into a folder without that name: %q", n)
	}
	must(t, h.emu.Rename(u.UPN, id, "Unique Name.txt"))
	if n := name(id); n != "Unique Name.txt" {
		t.Errorf("renamed to another case of its name: %q", n)
	}
	other, err := h.emu.Upload(u.UPN, "", "Unique Name.txt", []byte("y"))
	must(t, err)
	must(t, h.emu.Move(u.UPN, other, dir))
	names := map[string]string{}
	for _, it := range h.emu.Items(u.DriveID) {
		names[it.ID] = it.Name
	}
	if names[id] != "Unique Name.txt" || names[other] != "Unique Name 1.txt" {
		t.Errorf("names %q and %q, want %q and %q", names[id], names[other], "Unique Name.txt", "Unique Name 1.txt")
	}
}
