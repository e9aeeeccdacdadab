package microsoft

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/testutil/csdl"
)

// receiver is a subscriber's endpoint: it answers the validationToken handshake as mode says
// and records notifications.
type receiver struct {
	srv         *httptest.Server
	mu          sync.Mutex
	mode        string // "echo" (default), "500", "wrong", "slow"
	fail        int    // answer the next notifications 500
	validations int
	got         chan map[string]any // notification bodies, by path: "/hook" and "/life"
	paths       chan string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{got: make(chan map[string]any, 100), paths: make(chan string, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		mode := rc.mode
		if tok, ok := r.URL.Query()["validationToken"]; ok {
			rc.validations++
			rc.mu.Unlock()
			switch mode {
			case "500":
				w.WriteHeader(500)
			case "wrong":
				w.Header().Set("Content-Type", "text/plain")
				w.Write([]byte("hello"))
			case "slow":
				time.Sleep(400 * time.Millisecond)
				fallthrough
			default:
				w.Header().Set("Content-Type", "text/plain")
				w.Write([]byte(tok[0]))
			}
			return
		}
		fail := rc.fail > 0
		if fail {
			rc.fail--
		}
		rc.mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		if fail {
			w.WriteHeader(500)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("a notification that is not JSON: %q", b)
		}
		if r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		if err := checkNotification(b); err != nil {
			t.Errorf("a notification not in Graph's shape: %v", err)
		}
		w.WriteHeader(202)
		rc.paths <- r.URL.Path
		rc.got <- m
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// checkNotification validates a delivery against changeNotificationCollection in Graph's
// CSDL. resourceData is an open type with no declared properties; Outlook's resourceData
// (documented) carries "id" and an "@odata.type" naming the resource's type
// ("#Microsoft.Graph.Message", not a subtype of resourceData): those two are set aside.
func checkNotification(b []byte) error {
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, v := range m["value"].([]any) {
		if rd, ok := v.(map[string]any)["resourceData"].(map[string]any); ok {
			delete(rd, "id")
			delete(rd, "@odata.type")
		}
	}
	b, _ = json.Marshal(m)
	model, err := csdl.Graph()
	if err != nil {
		return err
	}
	return model.Validate("changeNotificationCollection", b)
}

// next waits for the next notification.
func (rc *receiver) next(t *testing.T) (string, map[string]any) {
	t.Helper()
	select {
	case p := <-rc.paths:
		return p, (<-rc.got)["value"].([]any)[0].(map[string]any)
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	return "", nil
}

// none checks nothing arrives for a while.
func (rc *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case p := <-rc.paths:
		t.Fatalf("a notification to %s: %v", p, <-rc.got)
	case <-time.After(150 * time.Millisecond):
	}
}

// send sends a Graph request with a JSON body.
func (h *harness) send(tok, method, path string, body any) answer {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		json.Unmarshal(raw, &a.body)
	}
	return a
}

func subBody(rc *receiver, resource, change string, exp time.Time) map[string]any {
	return map[string]any{"changeType": change, "notificationUrl": rc.srv.URL + "/hook", "lifecycleNotificationUrl": rc.srv.URL + "/life",
		"resource": resource, "expirationDateTime": exp.UTC().Format(time.RFC3339), "clientState": "s3cret-state"}
}

func TestSubscriptions(t *testing.T) {
	h := newHarness(t, Options{PushRetryBase: 10 * time.Millisecond})
	tok := h.bearer()
	u := h.licensed()
	rc := newReceiver(t)
	now := h.clk.Now()
	a := h.send(tok, "POST", "/v1.0/subscriptions", subBody(rc, "drives/"+u.DriveID+"/root", "updated", now.Add(maxDriveSub)))
	if a.status != 201 || a.body["clientState"] != "s3cret-state" || a.body["resource"] != "drives/"+u.DriveID+"/root" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	driveSub := a.body["id"].(string)
	if rc.validations != 2 {
		t.Fatalf("%d validations: want notificationUrl and lifecycleNotificationUrl", rc.validations)
	}
	// A change in the drive is pushed, with clientState.
	if _, err := h.emu.Upload(u.UPN, "", "new.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	p, n := rc.next(t)
	if p != "/hook" || n["subscriptionId"] != driveSub || n["clientState"] != "s3cret-state" || n["changeType"] != "updated" || n["tenantId"] != h.emu.TenantID() || n["resource"] != "drives/"+u.DriveID+"/root" {
		t.Fatalf("notification %s %v", p, n)
	}
	// A failed delivery is retried.
	rc.mu.Lock()
	rc.fail = 1
	rc.mu.Unlock()
	h.emu.Upload(u.UPN, "", "again.txt", []byte("y"))
	rc.next(t)
	// A lost one never comes.
	h.emu.LosePushes(1)
	h.emu.Upload(u.UPN, "", "lost.txt", []byte("z"))
	rc.none(t)
	if s := h.emu.Stats(); s.PushDeliveries != 2 || s.PushFailures != 1 || s.PushLost != 1 || s.PushValidations != 2 {
		t.Fatalf("stats %+v", s)
	}
	// Mail: 10,070 minutes at most.
	res := "users/" + u.ID + "/mailFolders('sentitems')/messages"
	a = h.send(tok, "POST", "/v1.0/subscriptions", subBody(rc, res, "created", now.Add(maxMailSub+time.Minute)))
	if a.status != 400 || a.errCode() != "ExtensionError" || a.errMessage() != "Subscription expiration can only be 10070 minutes in the future." {
		t.Fatalf("over the maximum: %d %s", a.status, a.raw)
	}
	a = h.send(tok, "POST", "/v1.0/subscriptions", subBody(rc, res, "created,deleted", now.Add(maxMailSub)))
	if a.status != 201 {
		t.Fatalf("mail: %d %s", a.status, a.raw)
	}
	mailSub := a.body["id"].(string)
	id, _ := h.emu.SendMail(u.UPN, Mail{To: []string{"kim@gmail.com"}})
	_, n = rc.next(t)
	rd, _ := n["resourceData"].(map[string]any)
	if n["subscriptionId"] != mailSub || n["changeType"] != "created" || rd["id"] != id || !strings.HasSuffix(n["resource"].(string), "/Messages/"+id) {
		t.Fatalf("mail notification %v", n)
	}
	// Renewal.
	a = h.send(tok, "PATCH", "/v1.0/subscriptions/"+mailSub, map[string]any{"expirationDateTime": now.Add(maxMailSub + time.Hour).Format(time.RFC3339)})
	if a.status != 400 || a.errCode() != "ExtensionError" {
		t.Fatalf("renew over the maximum: %d %s", a.status, a.raw)
	}
	h.clk.Advance(time.Hour)
	tok = h.bearer()
	newExp := h.clk.Now().Add(maxMailSub)
	a = h.send(tok, "PATCH", "/v1.0/subscriptions/"+mailSub, map[string]any{"expirationDateTime": newExp.Format(time.RFC3339)})
	if a.status != 200 || !strings.HasPrefix(a.body["expirationDateTime"].(string), newExp.UTC().Format("2006-01-02T15:04:05")) {
		t.Fatalf("renew: %d %s", a.status, a.raw)
	}
	tok = h.bearer()
	if a := h.getAs(tok, "/v1.0/subscriptions"); a.status != 200 || len(a.values()) != 2 {
		t.Fatalf("list: %d %s", a.status, a.raw)
	}
	// Lifecycle notifications.
	if n := h.emu.SendLifecycle(LifecycleMissed); n != 1 {
		t.Fatalf("missed went to %d subscriptions", n)
	}
	p, n = rc.next(t)
	if p != "/life" || n["lifecycleEvent"] != "missed" || n["subscriptionId"] != mailSub || n["clientState"] != "s3cret-state" {
		t.Fatalf("lifecycle %s %v", p, n)
	}
	if n := h.emu.SendLifecycle(LifecycleReauthorizationRequired); n != 2 {
		t.Fatalf("reauthorizationRequired went to %d", n)
	}
	rc.next(t)
	rc.next(t)
	if a := h.send(tok, "POST", "/v1.0/subscriptions/"+driveSub+"/reauthorize", nil); a.status != 204 {
		t.Fatalf("reauthorize: %d %s", a.status, a.raw)
	}
	h.emu.SendLifecycle(LifecycleSubscriptionRemoved)
	if _, n := rc.next(t); n["lifecycleEvent"] != "subscriptionRemoved" {
		t.Fatalf("%v", n)
	}
	if a := h.getAs(tok, "/v1.0/subscriptions/"+mailSub); a.status != 404 {
		t.Fatalf("a removed subscription: %d", a.status)
	}
	h.emu.SendMail(u.UPN, Mail{To: []string{"kim@gmail.com"}})
	rc.none(t)
	// Delete, and expiry.
	if a := h.send(tok, "DELETE", "/v1.0/subscriptions/"+driveSub, nil); a.status != 204 {
		t.Fatalf("delete: %d %s", a.status, a.raw)
	}
	if a := h.send(tok, "DELETE", "/v1.0/subscriptions/"+driveSub, nil); a.status != 404 {
		t.Fatalf("delete again: %d", a.status)
	}
	h.emu.Upload(u.UPN, "", "after.txt", nil)
	rc.none(t)
	a = h.send(tok, "POST", "/v1.0/subscriptions", subBody(rc, "/users/"+u.UPN+"/drive/root", "updated", h.clk.Now().Add(time.Hour)))
	if a.status != 201 {
		t.Fatalf("by user: %d %s", a.status, a.raw)
	}
	h.clk.Advance(time.Hour)
	h.emu.Upload(u.UPN, "", "expired.txt", nil)
	rc.none(t)
	if a := h.getAs(h.bearer(), "/v1.0/subscriptions/"+a.body["id"].(string)); a.status != 404 {
		t.Fatalf("an expired subscription: %d", a.status)
	}
}

func TestSubscriptionRefusals(t *testing.T) {
	h := newHarness(t, Options{ValidationTimeout: 200 * time.Millisecond})
	tok := h.bearer()
	u := h.licensed()
	rc := newReceiver(t)
	exp := h.clk.Now().Add(time.Hour)
	drive := "drives/" + u.DriveID + "/root"
	for mode, want := range map[string]string{
		"500":   "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
		"wrong": "Subscription validation request failed. Response must exactly match validationToken query parameter.",
		"slow":  "Subscription validation request timed out.",
	} {
		rc.mu.Lock()
		rc.mode = mode
		rc.mu.Unlock()
		if a := h.send(tok, "POST", "/v1.0/subscriptions", subBody(rc, drive, "updated", exp)); a.status != 400 || a.errMessage() != want {
			t.Errorf("%s: %d %s", mode, a.status, a.raw)
		}
	}
	rc.mu.Lock()
	rc.mode = "echo"
	rc.mu.Unlock()
	bad := subBody(rc, drive, "updated", exp)
	bad["notificationUrl"] = "http://127.0.0.1:1/closed"
	if a := h.send(tok, "POST", "/v1.0/subscriptions", bad); a.status != 400 || a.errCode() != "ValidationError" {
		t.Errorf("unreachable: %d %s", a.status, a.raw)
	}
	for name, c := range map[string]struct {
		body   map[string]any
		status int
	}{
		"created on a drive": {subBody(rc, drive, "created", exp), 400},
		"in the past":        {subBody(rc, drive, "updated", h.clk.Now().Add(-time.Minute)), 400},
		"unknown drive":      {subBody(rc, "drives/b!nope/root", "updated", exp), 404},
		"unknown resource":   {subBody(rc, "groups/x/events", "updated", exp), 400},
		"inbox":              {subBody(rc, "users/"+u.ID+"/mailFolders('inbox')/messages", "created", exp), 404},
		"no resource":        {map[string]any{"changeType": "updated", "notificationUrl": rc.srv.URL, "expirationDateTime": exp.Format(time.RFC3339)}, 400},
	} {
		if a := h.send(tok, "POST", "/v1.0/subscriptions", c.body); a.status != c.status {
			t.Errorf("%s: %d %s", name, a.status, a.raw)
		}
	}
	// driveItem: 42,300 minutes at most (Graph's maximum lifetime, NOTES Corrections 8).
	if a := h.send(tok, "POST", "/v1.0/subscriptions", subBody(rc, drive, "updated", h.clk.Now().Add(maxDriveSub+time.Minute))); a.status != 400 ||
		a.errCode() != "ExtensionError" || a.errMessage() != "Subscription expiration can only be 42300 minutes in the future." {
		t.Errorf("a driveItem subscription over the maximum: %d %s", a.status, a.raw)
	}
	h.emu.SetConsent([]string{RoleFilesReadAll})
	if a := h.send(h.bearer(), "POST", "/v1.0/subscriptions", subBody(rc, "users/"+u.ID+"/mailFolders('sentitems')/messages", "created", exp)); a.status != 403 {
		t.Errorf("mail without Mail.Read: %d %s", a.status, a.raw)
	}
	if a := h.getAs(tok, "/v1.0/subscriptions/00000000-0000-0000-0000-000000000000"); a.status != 404 {
		t.Errorf("unknown: %d", a.status)
	}
}

// TestFailAfterCreate: a creation answered 500 by FailAfterCreate is kept: listed, delivering.
func TestFailAfterCreate(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	u := h.licensed()
	rc := newReceiver(t)
	h.emu.FailAfterCreate(1)
	a := h.send(tok, "POST", "/v1.0/subscriptions", subBody(rc, "drives/"+u.DriveID+"/root", "updated", h.clk.Now().Add(time.Hour)))
	if a.status != 500 || a.errCode() != "generalException" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	l := h.getAs(tok, "/v1.0/subscriptions")
	if l.status != 200 || len(l.values()) != 1 || h.emu.Stats().SubsCreatedButFailed != 1 {
		t.Fatalf("list after a 500: %d %s", l.status, l.raw)
	}
	if _, err := h.emu.Upload(u.UPN, "", "new.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, n := rc.next(t); n["clientState"] != "s3cret-state" {
		t.Fatalf("notification %v", n)
	}
	if a := h.send(tok, "POST", "/v1.0/subscriptions", subBody(rc, "drives/"+u.DriveID+"/root", "updated", h.clk.Now().Add(time.Hour))); a.status != 201 {
		t.Fatalf("the next creation: %d %s", a.status, a.raw)
	}
}
