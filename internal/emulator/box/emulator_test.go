package box

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTokenEndpoint(t *testing.T) {
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {"emu-client-id"}, "client_secret": {"emu-client-secret"},
		"box_subject_type": {"enterprise"}, "box_subject_id": {"900001"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range good {
			f[kk] = vv
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	tests := []struct {
		name      string
		opts      Options
		form      url.Values
		status    int
		errCode   string
		errDesc   string
		wantToken bool
	}{
		{"ok", Options{}, good, 200, "", "", true},
		{"wrong secret", Options{}, with("client_secret", "nope"), 400, "invalid_client", "The client credentials are invalid", false},
		{"wrong client id", Options{}, with("client_id", "nope"), 400, "invalid_client", "The client credentials are invalid", false},
		{"unknown enterprise", Options{}, with("box_subject_id", "1"), 400, "invalid_grant", "Grant credentials are invalid", false},
		{"unknown user", Options{}, with("box_subject_type", "user"), 400, "invalid_grant", "Grant credentials are invalid", false},
		{"app not authorized", Options{DenyApp: true}, good, 400, "unauthorized_client", "This app is not authorized by the enterprise admin", false},
		{"no grant type", Options{}, with("grant_type", ""), 400, "invalid_request", "Invalid grant_type parameter or parameter missing", false},
		{"jwt grant", Options{}, with("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), 400, "invalid_request", "The grant type is unauthorized for this client_id", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			status, body := h.postForm("/oauth2/token", tc.form)
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			if tc.wantToken {
				if m["access_token"] == "" || m["token_type"] != "bearer" || m["expires_in"] != float64(3600) {
					t.Errorf("token answer %v", m)
				}
				return
			}
			if diff := cmp.Diff(map[string]any{"error": tc.errCode, "error_description": tc.errDesc}, m); diff != "" {
				t.Errorf("error body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	h := newHarness(t, Options{TokenTTL: time.Minute})
	expiring := h.token("enterprise", "900001")
	h.clk.Advance(2 * time.Minute)
	tests := []struct{ name, tok, want string }{
		{"no token", "-", `Bearer realm="Service"`},
		{"unknown token", "garbage", `Bearer realm="Service", error="invalid_token", error_description="The access token provided is invalid."`},
		{"expired token", expiring, `Bearer realm="Service", error="invalid_token", error_description="The access token provided has expired."`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do("GET", "/2.0/users/me", tc.tok, "", nil)
			resp.Body.Close()
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != tc.want {
				t.Errorf("got %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.want)
			}
		})
	}
}

func TestAsUser(t *testing.T) {
	h := newHarness(t, Options{})
	users := h.activeUsers()
	a, b := users[0], users[1]
	userTok := h.token("user", a.ID)
	h.emu.SetUserAccessible(users[2].ID, false)
	tests := []struct {
		name   string
		tok    string
		as     string
		status int
		code   string
	}{
		{"enterprise token acts as user", "", a.ID, 200, ""},
		{"unknown user", "", "123", 400, "bad_request"},
		{"inaccessible user", "", users[2].ID, 403, "access_denied_insufficient_permissions"},
		{"user token cannot impersonate", userTok, b.ID, 403, "access_denied_insufficient_permissions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do("GET", "/2.0/users/me", tc.tok, tc.as, nil)
			defer resp.Body.Close()
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != tc.status || (tc.code != "" && m["code"] != tc.code) {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, m, tc.status, tc.code)
			}
			if tc.status == 200 && m["id"] != tc.as {
				t.Errorf("users/me as %s answered %v", tc.as, m["id"])
			}
		})
	}
	t.Run("deny as-user", func(t *testing.T) {
		h2 := newHarness(t, Options{DenyAsUser: true})
		st, m, _ := h2.get("/2.0/folders/0/items", h2.activeUsers()[0].ID)
		if st != 403 || m["code"] != "access_denied_insufficient_permissions" {
			t.Errorf("got %d %v", st, m)
		}
	})
	t.Run("visibility and ownership", func(t *testing.T) {
		fid, act := h.emu.Upload(a.ID, "0", "secret.txt", []byte("top secret"))
		if act.EventType != "UPLOAD" || act.OwnerID != a.ID {
			t.Fatalf("upload activity %+v", act)
		}
		if st, m, _ := h.get("/2.0/files/"+fid, b.ID); st != 404 || m["code"] != "not_found" {
			t.Fatalf("b sees a's file: %d %v", st, m)
		}
		if st, _, _ := h.get("/2.0/files/"+fid, ""); st != 404 {
			t.Fatalf("the service account sees a's file: %d", st)
		}
		if c := h.emu.Collaborate(a.ID, "file", fid, b.Login, "viewer"); c.EventType != "COLLABORATION_INVITE" {
			t.Fatalf("collaborate: %+v", c)
		}
		f := h.mustGet("/2.0/files/"+fid+"?fields=owned_by,name", b.ID)
		if str(f, "owned_by", "id") != a.ID || f["etag"] == nil || f["type"] != "file" || len(f) != 5 {
			t.Errorf("b's view of the shared file: %v", f)
		}
		root := h.mustGet("/2.0/folders/0/items?limit=1000", b.ID)
		found := false
		for _, e := range entries(root) {
			found = found || e["id"] == fid
		}
		if !found {
			t.Errorf("the shared file is not in b's root listing")
		}
	})
}

func TestMarkerPaging(t *testing.T) {
	h := newHarness(t, Options{Users: 23, FilesPerUser: 30, FoldersPerUser: 2})
	u := h.activeUsers()[0]
	tests := []struct {
		name, path, as string
	}{
		{"users", "/2.0/users?usemarker=true&limit=4", ""},
		{"root items", "/2.0/folders/0/items?usemarker=true&limit=3", u.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]int{}
			marker, pages := "", 0
			for {
				p := tc.path
				if marker != "" {
					p += "&marker=" + url.QueryEscape(marker)
				}
				m := h.mustGet(p, tc.as)
				pages++
				for _, e := range entries(m) {
					seen[e["type"].(string)+e["id"].(string)]++
				}
				marker, _ = m["next_marker"].(string)
				if marker == "" {
					break
				}
			}
			// The same collection by offset, in one page, is the reference.
			all := h.mustGet(strings.Replace(tc.path, "usemarker=true", "offset=0", 1)[:strings.Index(tc.path, "&limit")]+"&limit=1000", tc.as)
			want := map[string]int{}
			for _, e := range entries(all) {
				want[e["type"].(string)+e["id"].(string)] = 1
			}
			if diff := cmp.Diff(want, seen); diff != "" || pages < 2 {
				t.Errorf("marker pages (%d) miss or repeat entries (-want +got):\n%s", pages, diff)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	h := newHarness(t, Options{})
	tests := []string{
		"/2.0/users?limit=1001",
		"/2.0/users?offset=10001",
		"/2.0/groups?limit=1001",
		"/2.0/folders/0/items?limit=1001",
		"/2.0/events?stream_type=admin_logs_streaming&limit=501",
		"/2.0/events?stream_type=admin_logs&limit=501",
		"/2.0/events?stream_type=admin_logs&created_after=yesterday",
		"/2.0/events?stream_type=admin_logs_streaming&stream_position=abc",
	}
	for _, p := range tests {
		t.Run(p, func(t *testing.T) {
			st, m, _ := h.get(p, "")
			if st != 400 || m["type"] != "error" || m["code"] != "bad_request" || m["request_id"] == "" {
				t.Errorf("got %d %v, want Box's 400", st, m)
			}
		})
	}
	if st, _, _ := h.get("/2.0/users?limit=1000", ""); st != 200 {
		t.Errorf("limit=1000 refused: %d", st)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, Options{RateLimitPerMinute: 60, RateBurst: 2})
	u := h.activeUsers()[0]
	for i := 0; i < 2; i++ {
		if st, _, _ := h.get("/2.0/users/me", ""); st != 200 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	st, m, hdr := h.get("/2.0/users/me", "")
	if st != 429 || m["code"] != "rate_limit_exceeded" || hdr.Get("Retry-After") != "1" {
		t.Fatalf("got %d %v retry-after %q, want 429 rate_limit_exceeded 1", st, m, hdr.Get("Retry-After"))
	}
	// as-user calls count against the impersonated user, not the service account.
	if st, _, _ := h.get("/2.0/users/me", u.ID); st != 200 {
		t.Errorf("as-user request throttled with the service account: %d", st)
	}
	h.clk.Advance(time.Second)
	if st, _, _ := h.get("/2.0/users/me", ""); st != 200 {
		t.Errorf("after retry-after: %d", st)
	}
	s := h.emu.Stats()
	svc := "1900001"
	if s.Throttled != 1 || s.ByUser[svc].Throttled != 1 || s.ByUser[svc].Requests != 4 || s.ByUser[u.ID].Requests != 1 {
		t.Errorf("stats %+v", s)
	}
}

// readStream reads admin_logs_streaming from position until an empty page and returns the event
// ids in delivery order and the final position.
func readStream(t *testing.T, h *harness, position string, limit int) ([]string, string) {
	t.Helper()
	var ids []string
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("the stream never ends")
		}
		m := h.mustGet(fmt.Sprintf("/2.0/events?stream_type=admin_logs_streaming&limit=%d&stream_position=%s", limit, position), "")
		position = m["next_stream_position"].(string)
		es := entries(m)
		if int(m["chunk_size"].(float64)) != len(es) {
			t.Fatalf("chunk_size %v with %d entries", m["chunk_size"], len(es))
		}
		if len(es) == 0 {
			return ids, position
		}
		for _, e := range es {
			ids = append(ids, e["event_id"].(string))
		}
	}
}

func TestStreamingDuplicatesAndReorder(t *testing.T) {
	tests := []struct {
		name    string
		faults  Faults
		wantDup bool
		reorder bool
	}{
		{"clean", Faults{}, false, false},
		{"duplicates", Faults{DuplicateRate: 0.3}, true, false},
		{"reorder", Faults{Reorder: true}, false, true},
		{"both", Faults{DuplicateRate: 0.3, Reorder: true}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{Seed: 7})
			h.emu.SetFaults(tc.faults)
			ids, pos := readStream(t, h, "0", 37)
			h.emu.Step(300)
			more, _ := readStream(t, h, pos, 37)
			ids = append(ids, more...)
			count := map[string]int{}
			for _, id := range ids {
				count[id]++
			}
			acts := h.emu.Activities()
			inOrder := true
			firstSeen := map[string]int{}
			for i, id := range ids {
				if _, ok := firstSeen[id]; !ok {
					firstSeen[id] = i
				}
			}
			for i, a := range acts {
				if count[a.EventID] == 0 {
					t.Fatalf("event %d (%s) never delivered", i, a.EventType)
				}
				if i > 0 && firstSeen[a.EventID] < firstSeen[acts[i-1].EventID] {
					inOrder = false
				}
			}
			dups := len(ids) - len(count)
			if len(count) != len(acts) {
				t.Errorf("%d distinct ids delivered, %d generated", len(count), len(acts))
			}
			if (dups > 0) != tc.wantDup {
				t.Errorf("%d duplicates, want some: %v", dups, tc.wantDup)
			}
			if inOrder == tc.reorder {
				t.Errorf("delivered in creation order: %v, want reordering: %v", inOrder, tc.reorder)
			}
		})
	}
}

func TestStreamPositions(t *testing.T) {
	for _, numeric := range []bool{false, true} {
		t.Run(fmt.Sprint("numeric=", numeric), func(t *testing.T) {
			h := newHarness(t, Options{NumericStreamPositions: numeric})
			resp := h.do("GET", "/2.0/events?stream_type=admin_logs_streaming&stream_position=now", "", "", nil)
			defer resp.Body.Close()
			var raw struct {
				ChunkSize int             `json:"chunk_size"`
				Next      json.RawMessage `json:"next_stream_position"`
				Entries   []any           `json:"entries"`
			}
			json.NewDecoder(resp.Body).Decode(&raw)
			s := string(raw.Next)
			if numeric == strings.HasPrefix(s, `"`) {
				t.Fatalf("next_stream_position %s (numeric %v)", s, numeric)
			}
			n, err := strconv.ParseInt(strings.Trim(s, `"`), 10, 64)
			if err != nil || n <= 1<<53 || raw.ChunkSize != 0 || len(raw.Entries) != 0 {
				t.Errorf("now: %s %d %d", s, raw.ChunkSize, len(raw.Entries))
			}
			if float64(n) == float64(n+1) == false {
				t.Errorf("position %d is exactly representable as float64; it must not be", n)
			}
		})
	}
}

func TestExpiredStreamPosition(t *testing.T) {
	h := newHarness(t, Options{StreamRetention: 24 * time.Hour})
	old := h.mustGet("/2.0/events?stream_type=admin_logs_streaming&stream_position=0&limit=1", "")["next_stream_position"].(string)
	h.clk.Advance(48 * time.Hour)
	h.tok = h.token("enterprise", "900001")
	recent := h.emu.Step(5)
	m := h.mustGet("/2.0/events?stream_type=admin_logs_streaming&limit=500&stream_position="+old, "")
	var got []string
	for _, e := range entries(m) {
		got = append(got, e["event_id"].(string))
	}
	var want []string
	for _, a := range recent {
		want = append(want, a.EventID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reading from an expired position (-want +got):\n%s", diff)
	}
	if s := h.emu.Stats(); s.ExpiredPositions != 1 {
		t.Errorf("ExpiredPositions = %d", s.ExpiredPositions)
	}
}

// TestExpireNextPosition: a test can expire the next position on demand; the read answers as Box
// does for an expired position (from the oldest retained event) and the one after is normal again.
func TestExpireNextPosition(t *testing.T) {
	h := newHarness(t, Options{})
	all, pos := readStream(t, h, "0", 500)
	recent := h.emu.Step(3)
	h.emu.ExpireNextPosition()
	m := h.mustGet("/2.0/events?stream_type=admin_logs_streaming&limit=500&stream_position="+pos, "")
	if got, want := len(entries(m)), len(all)+len(recent); got != want {
		t.Errorf("an expired position read %d events, want all %d retained", got, want)
	}
	if s := h.emu.Stats(); s.ExpiredPositions != 1 {
		t.Errorf("ExpiredPositions = %d", s.ExpiredPositions)
	}
	next := m["next_stream_position"].(string)
	more := h.emu.Step(2)
	m = h.mustGet("/2.0/events?stream_type=admin_logs_streaming&limit=500&stream_position="+next, "")
	if got := len(entries(m)); got != len(more) {
		t.Errorf("the read after the expired one got %d events, want the %d new", got, len(more))
	}
	if s := h.emu.Stats(); s.ExpiredPositions != 1 {
		t.Errorf("ExpiredPositions = %d after a normal read", s.ExpiredPositions)
	}
}

func TestAdminLogsTimeFilters(t *testing.T) {
	h := newHarness(t, Options{})
	var windows [][]Activity
	for i := 0; i < 3; i++ {
		h.clk.Advance(time.Hour)
		windows = append(windows, h.emu.Step(40))
	}
	h.tok = h.token("enterprise", "900001")
	after := windows[1][0].At.Add(-time.Second)
	before := windows[1][len(windows[1])-1].At.Add(time.Second)
	q := url.Values{"stream_type": {"admin_logs"}, "limit": {"7"}, "created_after": {after.Format(time.RFC3339)}, "created_before": {before.Format(time.RFC3339)}}
	var got []string
	pos := ""
	for {
		p := q
		if pos != "" {
			p.Set("stream_position", pos)
		}
		m := h.mustGet("/2.0/events?"+p.Encode(), "")
		pos = m["next_stream_position"].(string)
		es := entries(m)
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			got = append(got, e["event_id"].(string))
			if e["type"] != "event" || !strings.HasSuffix(e["created_at"].(string), "-08:00") {
				t.Fatalf("event shape %v", e)
			}
		}
	}
	var want []string
	for _, a := range windows[1] {
		want = append(want, a.EventID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("admin_logs window (-want +got):\n%s", diff)
	}
	// event_type filter.
	m := h.mustGet("/2.0/events?stream_type=admin_logs&limit=500&event_type=UPLOAD,LOGIN", "")
	for _, e := range entries(m) {
		if e["event_type"] != "UPLOAD" && e["event_type"] != "LOGIN" {
			t.Errorf("event_type filter let %v through", e["event_type"])
		}
	}
}

func TestEventShapes(t *testing.T) {
	h := newHarness(t, Options{})
	u := h.activeUsers()
	fid, _ := h.emu.Upload(u[0].ID, "0", "a.pdf", nil)
	h.emu.ShareLink(u[0].ID, fid, "open")
	h.emu.Collaborate(u[0].ID, "file", fid, "pat@gmail.com", "editor")
	h.emu.Login(u[1].ID)
	m := h.mustGet("/2.0/events?stream_type=admin_logs&limit=500", "")
	es := entries(m)
	byType := map[string]map[string]any{}
	for _, e := range es {
		byType[e["event_type"].(string)] = e
	}
	up := byType["UPLOAD"]
	if str(up, "source", "item_type") != "file" || str(up, "created_by", "login") == "" || str(up, "ip_address") == "" || str(up, "source", "owned_by", "login") == "" {
		t.Errorf("UPLOAD %v", up)
	}
	if str(byType["SHARE"], "additional_details", "shared_link_id") == "" {
		t.Errorf("SHARE %v", byType["SHARE"])
	}
	inv := byType["COLLABORATION_INVITE"]
	if str(inv, "accessible_by", "login") != "pat@gmail.com" || str(inv, "additional_details", "role") != "Editor" {
		t.Errorf("COLLABORATION_INVITE %v", inv)
	}
	if str(byType["LOGIN"], "source", "type") != "user" {
		t.Errorf("LOGIN %v", byType["LOGIN"])
	}
	f := h.mustGet("/2.0/files/"+fid+"?fields=shared_link", u[0].ID)
	if str(f, "shared_link", "access") != "open" {
		t.Errorf("shared_link %v", f)
	}
	cs := h.mustGet("/2.0/files/"+fid+"/collaborations", u[0].ID)
	if e := entries(cs); len(e) != 1 || str(e[0], "accessible_by", "login") != "pat@gmail.com" {
		t.Errorf("collaborations %v", cs)
	}
}

func TestDownload(t *testing.T) {
	h := newHarness(t, Options{})
	u := h.activeUsers()[0]
	fid, _ := h.emu.Upload(u.ID, "0", "hello.txt", []byte("hello, box"))
	generated := h.emu.Step(0)
	_ = generated
	files := []struct{ id, want string }{{fid, "hello, box"}}
	// A generated file: its bytes hash to its sha1.
	for _, a := range h.emu.Activities() {
		if a.EventType == "UPLOAD" && a.OwnerID == u.ID && a.ItemID != fid {
			files = append(files, struct{ id, want string }{a.ItemID, ""})
			break
		}
	}
	for _, f := range files {
		resp := h.do("GET", "/2.0/files/"+f.id+"/content", "", u.ID, nil)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != 302 || !strings.Contains(loc, "/dl/") {
			t.Fatalf("content: %d %q", resp.StatusCode, loc)
		}
		r2, err := http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		sum := sha1.Sum(b)
		meta := h.mustGet("/2.0/files/"+f.id+"?fields=sha1,size", u.ID)
		if hex.EncodeToString(sum[:]) != meta["sha1"] || float64(len(b)) != meta["size"] || (f.want != "" && string(b) != f.want) {
			t.Errorf("file %s: %d bytes sha1 %x, metadata %v", f.id, len(b), sum, meta)
		}
	}
	last := h.emu.Activities()[len(h.emu.Activities())-1]
	if last.EventType != "DOWNLOAD" || last.ActorID != u.ID || last.Detail["via_api"] != "true" {
		t.Errorf("an API download is not recorded as the user's DOWNLOAD: %+v", last)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		kind   string
		status int
		code   string
	}{
		{"500", 500, "internal_server_error"},
		{"502", 502, "bad_gateway"},
		{"503", 503, "unavailable"},
		{"429", 429, "rate_limit_exceeded"},
		{"timeout", 504, "gateway_timeout"},
		{"truncate", 0, ""},
		{"drop", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.emu.SetFaults(Faults{Rate: 1, Kinds: []string{tc.kind}, HangFor: 10 * time.Millisecond})
			req, _ := http.NewRequest("GET", h.srv.URL+"/2.0/users?limit=1000", nil)
			req.Header.Set("Authorization", "Bearer "+h.tok)
			resp, err := http.DefaultClient.Do(req)
			if tc.kind == "drop" {
				if err == nil {
					resp.Body.Close()
					t.Errorf("a dropped connection answered %d", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.kind == "truncate" {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("truncated body read %d bytes, err %v", len(b), err)
				}
				return
			}
			var m map[string]any
			json.Unmarshal(b, &m)
			if resp.StatusCode != tc.status || m["code"] != tc.code || m["type"] != "error" {
				t.Errorf("got %d %v", resp.StatusCode, m)
			}
			if s := h.emu.Stats(); s.Faults != 1 {
				t.Errorf("Faults = %d", s.Faults)
			}
		})
	}
	t.Run("token endpoint is never faulted", func(t *testing.T) {
		h := newHarness(t, Options{})
		h.emu.SetFaults(Faults{Rate: 1})
		h.token("enterprise", "900001")
	})
}

func TestStep(t *testing.T) {
	mk := func() *Emulator {
		h := newHarness(t, Options{Seed: 42, Users: 12, InactiveUsers: 3})
		h.emu.Step(500)
		return h.emu
	}
	a, b := mk(), mk()
	sig := func(e *Emulator) []string {
		var out []string
		for _, x := range e.Activities() {
			out = append(out, x.EventID+x.EventType+x.ItemID+x.ActorID)
		}
		return out
	}
	if diff := cmp.Diff(sig(a), sig(b)); diff != "" {
		t.Fatalf("the same seed made different activity:\n%s", diff)
	}
	inactive := map[string]bool{}
	for _, u := range a.Users() {
		if u.Status == "inactive" {
			inactive[u.ID] = true
		}
	}
	if len(inactive) != 3 {
		t.Fatalf("%d inactive users", len(inactive))
	}
	kinds := map[string]int{}
	nonFile, total := 0, 0
	access := map[string]bool{}
	external := false
	for _, x := range a.Activities()[len(a.Activities())-500:] {
		total++
		kinds[x.EventType]++
		if inactive[x.ActorID] {
			t.Errorf("inactive user %s acted: %+v", x.ActorID, x)
		}
		if !x.FileActivity {
			nonFile++
		}
		if x.EventType == "SHARE" {
			access[x.Detail["access"]] = true
		}
		external = external || x.Detail["external"] == "true"
	}
	for _, k := range []string{"UPLOAD", "EDIT", "RENAME", "MOVE", "DELETE", "SHARE", "UNSHARE", "COLLABORATION_INVITE", "DOWNLOAD", "PREVIEW", "LOGIN"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in 500 steps: %v", k, kinds)
		}
	}
	if frac := float64(nonFile) / float64(total); math.Abs(frac-0.1) > 0.06 {
		t.Errorf("non-file fraction %.2f, want about 0.10", frac)
	}
	if len(access) != 3 || !external {
		t.Errorf("share access levels %v, external collaboration %v", access, external)
	}
}

func TestWebhooks(t *testing.T) {
	type delivery struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var got []delivery
	fails := 2
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, delivery{r.Header.Clone(), b})
		if fails > 0 {
			fails--
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(200)
	}))
	defer rcv.Close()
	h := newHarness(t, Options{WebhookRetryDelay: time.Millisecond})
	u := h.activeUsers()[0]
	folder := ""
	for _, e := range entries(h.mustGet("/2.0/folders/0/items", u.ID)) {
		if e["type"] == "folder" {
			folder = e["id"].(string)
			break
		}
	}
	create := func(target, typ string) (int, map[string]any) {
		body := fmt.Sprintf(`{"target":{"id":%q,"type":%q},"address":%q,"triggers":["FILE.UPLOADED","FILE.RENAMED"]}`, target, typ, rcv.URL)
		resp := h.do("POST", "/2.0/webhooks", "", u.ID, strings.NewReader(body))
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if st, m := create("0", "folder"); st != 400 {
		t.Errorf("webhook on root: %d %v", st, m)
	}
	st, wh := create(folder, "folder")
	if st != 201 || wh["type"] != "webhook" {
		t.Fatalf("create: %d %v", st, wh)
	}
	if st, m := create(folder, "folder"); st != 409 {
		t.Errorf("second webhook on the same target: %d %v", st, m)
	}
	if l := entries(h.mustGet("/2.0/webhooks", u.ID)); len(l) != 1 {
		t.Errorf("list: %v", l)
	}
	fid, _ := h.emu.Upload(u.ID, folder, "hooked.txt", nil)
	waitFor(t, "the third delivery attempt", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	mu.Lock()
	ds := append([]delivery(nil), got...)
	mu.Unlock()
	var bodyID string
	ids := map[string]bool{}
	for i, d := range ds {
		var b map[string]any
		json.Unmarshal(d.body, &b)
		if i == 0 {
			bodyID = b["id"].(string)
		}
		if b["id"] != bodyID || b["trigger"] != "FILE.UPLOADED" || str(b, "source", "id") != fid || str(b, "webhook", "id") != wh["id"] {
			t.Errorf("delivery %d body %v", i, b)
		}
		ids[d.header.Get("BOX-DELIVERY-ID")] = true
		ts := d.header.Get("BOX-DELIVERY-TIMESTAMP")
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("timestamp %q: %v", ts, err)
		}
		for key, hdr := range map[string]string{"emu-primary-key": "BOX-SIGNATURE-PRIMARY", "emu-secondary-key": "BOX-SIGNATURE-SECONDARY"} {
			if !hmac.Equal([]byte(Sign(key, d.body, ts)), []byte(d.header.Get(hdr))) {
				t.Errorf("delivery %d: %s does not verify", i, hdr)
			}
		}
		if d.header.Get("BOX-SIGNATURE-VERSION") != "1" || d.header.Get("BOX-SIGNATURE-ALGORITHM") != "HmacSHA256" || d.header.Get("User-Agent") != "Box-WH-Client/0.1" {
			t.Errorf("delivery %d headers %v", i, d.header)
		}
	}
	if len(ids) != 3 {
		t.Errorf("BOX-DELIVERY-ID must change per attempt: %v", ids)
	}
	waitFor(t, "stats", func() bool { s := h.emu.Stats(); return s.WebhookDeliveries == 1 && s.WebhookFailures == 2 })
	// A trigger the webhook does not listen to: no delivery.
	h.emu.Preview(u.ID, fid)
	h.emu.Close()
	mu.Lock()
	if len(got) != 3 {
		t.Errorf("%d deliveries after a PREVIEW the webhook does not listen to", len(got))
	}
	mu.Unlock()
	if resp := h.do("DELETE", "/2.0/webhooks/"+wh["id"].(string), "", u.ID, nil); resp.StatusCode != 204 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
}

func TestGroupCollaborationAndRun(t *testing.T) {
	h := newHarness(t, Options{})
	users := h.activeUsers()
	owner, member := users[0], users[1]
	g := h.emu.AddGroup("Auditors")
	h.emu.AddMember(g.ID, member.ID)
	folder := ""
	for _, e := range entries(h.mustGet("/2.0/folders/0/items", owner.ID)) {
		if e["type"] == "folder" {
			folder = e["id"].(string)
			break
		}
	}
	if st, _, _ := h.get("/2.0/folders/"+folder+"/items", member.ID); st != 404 {
		t.Fatalf("member sees the folder before the collaboration: %d", st)
	}
	if a := h.emu.Collaborate(owner.ID, "folder", folder, "group:"+g.ID, "viewer"); a.EventType != "COLLABORATION_INVITE" || a.ItemType != "folder" {
		t.Fatalf("collaborate: %+v", a)
	}
	items := h.mustGet("/2.0/folders/"+folder+"/items?fields=owned_by,path_collection", member.ID)
	for _, e := range entries(items) {
		if str(e, "owned_by", "id") != owner.ID {
			t.Errorf("item %v in the shared folder is not owned by the folder owner", e["id"])
		}
	}
	h.emu.RemoveMember(g.ID, member.ID)
	if st, _, _ := h.get("/2.0/folders/"+folder, member.ID); st != 404 {
		t.Errorf("a removed member still sees the folder: %d", st)
	}
	last := h.emu.Activities()[len(h.emu.Activities())-1]
	if last.EventType != "GROUP_REMOVE_USER" || last.FileActivity {
		t.Errorf("last activity %+v", last)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := len(h.emu.Activities())
	done := make(chan struct{})
	go func() { h.emu.Run(ctx, time.Millisecond); close(done) }()
	waitFor(t, "Run to generate activity", func() bool { return len(h.emu.Activities()) > n+10 })
	cancel()
	<-done
}
