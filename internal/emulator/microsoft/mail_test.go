package microsoft

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// mailRound reads a message delta round to its deltaLink.
func (h *harness) mailRound(tok, u string, hdr ...string) ([]map[string]any, string) {
	h.t.Helper()
	var out []map[string]any
	for n := 0; n < 1000; n++ {
		a := h.get(h.hc, u, append([]string{"Authorization", "Bearer " + tok}, hdr...)...)
		if a.status != 200 {
			h.t.Fatalf("GET %s: %d %s", u, a.status, a.raw)
		}
		out = append(out, a.values()...)
		if dl, ok := a.body["@odata.deltaLink"].(string); ok {
			if !strings.Contains(dl, "$deltatoken=") {
				h.t.Fatalf("deltaLink %s", dl)
			}
			return out, dl
		}
		u = a.body["@odata.nextLink"].(string)
		if !strings.Contains(u, "$skiptoken=") {
			h.t.Fatalf("nextLink %s", u)
		}
	}
	h.t.Fatal("delta never ended")
	return nil, ""
}

// sendAll sends one mail with one attachment of each kind (the reference to one of the sender's
// files) and two plain ones.
func sendAll(t *testing.T, h *harness, from User) (string, SentMail) {
	t.Helper()
	file := h.emu.Items(from.DriveID)[1]
	for _, it := range h.emu.Items(from.DriveID) {
		if !it.Folder && !it.Deleted {
			file = it
		}
	}
	id, err := h.emu.SendMail(from.UPN, Mail{To: []string{"kim@gmail.com"}, Cc: []string{h.emu.Users()[2].UPN}, Bcc: []string{"lee@partner.example"},
		Subject: "Q3 numbers", Attachments: []Attachment{
			{Kind: AttachFile, Name: "q3.xlsx", Content: []byte("q3 figures")},
			{Kind: AttachItem, Subject: "Re: pricing"},
			{Kind: AttachReference, ItemID: file.ID},
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := h.emu.SendMail(from.UPN, Mail{To: []string{h.emu.Users()[3].UPN}, Subject: "note " + n}); err != nil {
			t.Fatal(err)
		}
	}
	sm := h.emu.SentMails()
	for _, m := range sm {
		if m.ID == id {
			return id, m
		}
	}
	t.Fatal("no ground truth")
	return "", SentMail{}
}

func TestMailDelta(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	u := h.licensed()
	id, _ := sendAll(t, h, u)
	other := h.emu.Users()[3]
	if _, err := h.emu.SendMail(other.UPN, Mail{To: []string{u.UPN}}); err != nil {
		t.Fatal(err)
	}
	base := "/v1.0/users/" + u.ID + "/mailFolders/sentitems/messages/delta"
	vs, dl := h.mailRound(tok, base+"?$select=subject,hasAttachments,from,toRecipients,ccRecipients,bccRecipients,internetMessageId,sentDateTime", "Prefer", "odata.maxpagesize=2")
	if len(vs) != 3 {
		t.Fatalf("%d messages in the first round", len(vs))
	}
	for _, v := range vs {
		if v["id"] == id && (v["hasAttachments"] != true || v["subject"] != "Q3 numbers" || len(v["bccRecipients"].([]any)) != 1) {
			t.Fatalf("%v", v)
		}
		if _, ok := v["body"]; ok {
			t.Fatal("$select not applied")
		}
	}
	// Only what changed since: one new, one deleted.
	id2, _ := h.emu.SendMail(u.UPN, Mail{To: []string{"kim@gmail.com"}, Subject: "later"})
	if err := h.emu.DeleteMail(u.UPN, id); err != nil {
		t.Fatal(err)
	}
	vs, dl2 := h.mailRound(tok, dl)
	if len(vs) != 2 || vs[0]["id"] != id2 || vs[1]["id"] != id || vs[1]["@removed"] == nil || vs[0]["subject"] != "later" {
		t.Fatalf("second round %v", vs)
	}
	if vs, _ := h.mailRound(tok, dl2); len(vs) != 0 {
		t.Fatalf("an empty round: %v", vs)
	}
	// Expired state: 410 SyncStateNotFound.
	h.emu.ExpireDeltaTokens()
	a := h.getAs(tok, dl2)
	if a.status != 410 || a.errCode() != "SyncStateNotFound" {
		t.Fatalf("expired: %d %s", a.status, a.raw)
	}
	h.clk.Advance(31 * 24 * time.Hour)
	tok = h.bearer()
	_, dl = h.mailRound(tok, base)
	h.clk.Advance(31 * 24 * time.Hour)
	tok = h.bearer()
	if a := h.getAs(tok, dl); a.status != 410 {
		t.Fatalf("old link: %d", a.status)
	}
	if a := h.getAs(tok, base+"?$deltatoken=bogus"); a.status != 410 || a.errCode() != "SyncStateNotFound" {
		t.Fatalf("bogus: %d %s", a.status, a.raw)
	}
	// No mailbox, no user, another folder.
	var unlicensed User
	for _, x := range h.emu.Users() {
		if !x.Licensed {
			unlicensed = x
		}
	}
	if a := h.getAs(tok, "/v1.0/users/"+unlicensed.ID+"/mailFolders/sentitems/messages/delta"); a.status != 404 || a.errCode() != "MailboxNotEnabledForRESTAPI" {
		t.Fatalf("unlicensed: %d %s", a.status, a.raw)
	}
	if a := h.getAs(tok, "/v1.0/users/nobody@example.com/mailFolders/sentitems/messages/delta"); a.status != 404 || a.errCode() != "ErrorInvalidUser" {
		t.Fatalf("unknown: %d %s", a.status, a.raw)
	}
	if a := h.getAs(tok, "/v1.0/users/"+u.ID+"/mailFolders/inbox/messages/delta"); a.status != 404 {
		t.Fatalf("inbox: %d %s", a.status, a.raw)
	}
	h.emu.SetConsent([]string{RoleUserReadAll})
	if a := h.getAs(h.bearer(), base); a.status != 403 || a.errCode() != "ErrorAccessDenied" {
		t.Fatalf("without Mail.Read: %d %s", a.status, a.raw)
	}
}

func TestMailAttachments(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	u := h.licensed()
	id, sm := sendAll(t, h, u)
	if len(sm.Attachments) != 3 || sm.To[0] != "kim@gmail.com" || sm.Attachments[2].URL == "" {
		t.Fatalf("ground truth %+v", sm)
	}
	msg := "/v1.0/users/" + u.UPN + "/messages/" + id
	if a := h.getAs(tok, msg); a.status != 200 || a.body["internetMessageId"] != sm.InternetMessageID {
		t.Fatalf("message: %d %s", a.status, a.raw)
	} else if body := a.body["body"].(map[string]any)["content"].(string); !strings.Contains(body, sm.Attachments[2].URL) {
		t.Fatalf("the reference's link is not in the body: %s", body)
	}
	a := h.getAs(tok, msg+"/attachments")
	vs := a.values()
	if a.status != 200 || len(vs) != 3 {
		t.Fatalf("attachments: %d %s", a.status, a.raw)
	}
	for i, v := range vs {
		want := sm.Attachments[i]
		if v["@odata.type"] != "#microsoft.graph."+want.Kind || v["id"] != want.ID || v["name"] != want.Name || int(v["size"].(float64)) != want.Size {
			t.Fatalf("attachment %d: %v, want %+v", i, v, want)
		}
		val := h.getAs(tok, msg+"/attachments/"+want.ID+"/$value")
		switch want.Kind {
		case AttachFile:
			b, _ := base64.StdEncoding.DecodeString(v["contentBytes"].(string))
			if string(b) != "q3 figures" || v["contentType"] != mimeOf("q3.xlsx") {
				t.Fatalf("file attachment %v", v)
			}
			fallthrough
		case AttachItem:
			sum := sha256.Sum256(val.raw)
			if val.status != 200 || hex.EncodeToString(sum[:]) != want.SHA256 {
				t.Fatalf("%s $value: %d %q", want.Kind, val.status, val.raw)
			}
		case AttachReference:
			if val.status != 400 || want.SHA256 != "" {
				t.Fatalf("reference $value: %d", val.status)
			}
		}
		if one := h.getAs(tok, msg+"/attachments/"+want.ID); one.status != 200 || one.body["id"] != want.ID {
			t.Fatalf("one attachment: %d %s", one.status, one.raw)
		}
	}
	if strings.Contains(string(h.getAs(tok, msg+"/attachments?$select=id,name,size,contentType").raw), "contentBytes") {
		t.Fatal("$select without contentBytes sent bytes")
	}
	if v := h.getAs(tok, msg+"/$value"); v.status != 200 || !strings.Contains(string(v.raw), "Subject: Q3 numbers") {
		t.Fatalf("message $value: %d %s", v.status, v.raw)
	}
	if a := h.getAs(tok, "/v1.0/users/"+u.UPN+"/messages/AAMkADnope"); a.status != 404 || a.errCode() != "ErrorItemNotFound" {
		t.Fatalf("unknown message: %d %s", a.status, a.raw)
	}
	// The cloud-file reference shared the file with the recipients.
	var ops []string
	for _, act := range h.emu.Activities() {
		if act.ItemID == sm.Attachments[2].ItemID {
			ops = append(ops, act.Operation+":"+act.Detail["target"])
		}
	}
	if strings.Join(ops, ",") != "SecureLinkCreated:,AddedToSecureLink:kim@gmail.com,AddedToSecureLink:"+h.emu.Users()[2].UPN+",AddedToSecureLink:lee@partner.example" {
		t.Fatalf("sharing by reference: %v", ops)
	}
	if _, err := h.emu.SendMail(u.UPN, Mail{Subject: "nobody"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("no recipients: %v", err)
	}
}

func TestMailboxLimits(t *testing.T) {
	h := newHarness(t, Options{MailboxRequestsPer10Min: 8})
	tok := h.bearer()
	u := h.licensed()
	id, _ := sendAll(t, h, u)
	msg := "/v1.0/users/" + u.ID + "/messages/" + id
	hold := make(chan struct{})
	h.emu.mu.Lock()
	h.emu.mail.hold = hold
	h.emu.mu.Unlock()
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = h.getAs(tok, msg).status
		}(i)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		h.emu.mu.Lock()
		n := h.emu.mailboxOf(h.emu.userByKey(u.ID)).inflight
		h.emu.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d in flight", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	a := h.getAs(tok, msg)
	if a.status != 429 || a.errCode() != "ApplicationThrottled" || a.errMessage() != "Application is over its MailboxConcurrency limit." || a.header.Get("Retry-After") == "" {
		t.Fatalf("a fifth at once: %d %v %s", a.status, a.header, a.raw)
	}
	// Another mailbox is not limited by this one (its request waits for the hold too).
	other := h.emu.Users()[3]
	var otherStatus int
	wg.Add(1)
	go func() {
		defer wg.Done()
		otherStatus = h.getAs(tok, "/v1.0/users/"+other.ID+"/messages/x").status
	}()
	time.Sleep(50 * time.Millisecond)
	h.emu.mu.Lock()
	h.emu.mail.hold = nil
	h.emu.mu.Unlock()
	close(hold)
	wg.Wait()
	for _, s := range statuses {
		if s != 200 {
			t.Fatalf("held requests: %v", statuses)
		}
	}
	if otherStatus != 404 {
		t.Fatalf("another mailbox: %d", otherStatus)
	}
	// 8 per 10 minutes here: 4 done, the 429 did not count.
	for i := 0; i < 4; i++ {
		if a := h.getAs(tok, msg); a.status != 200 {
			t.Fatalf("request %d: %d", i, a.status)
		}
	}
	a = h.getAs(tok, msg)
	if a.status != 429 || a.errCode() != "ApplicationThrottled" || a.header.Get("Retry-After") != "601" {
		t.Fatalf("over 10 minutes' requests: %d %v %s", a.status, a.header, a.raw)
	}
	h.clk.Advance(10 * time.Minute)
	if a := h.getAs(tok, msg); a.status != 200 {
		t.Fatalf("next window: %d", a.status)
	}
	if s := h.emu.Stats(); s.MailThrottled != 2 {
		t.Fatalf("stats %+v", s)
	}
}
