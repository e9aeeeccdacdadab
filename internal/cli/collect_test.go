package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/testutil/syncbuf"
)

const boxRecords = `{"type":"event","event_id":"e-1","created_at":"2026-11-20T10:00:00-08:00","created_by":{"type":"user","id":"11","name":"Ann","login":"ann@example.com"},"event_type":"UPLOAD","ip_address":"203.0.113.9","source":{"item_type":"file","item_id":"501","item_name":"plan.xlsx","parent":{"type":"folder","id":"7","name":"Finance"},"owned_by":{"type":"user","id":"11","name":"Ann","login":"ann@example.com"}}}
{"type":"event","event_id":"e-2","created_at":"2026-11-20T10:01:00-08:00","created_by":{"type":"user","id":"11","login":"ann@example.com"},"event_type":"LOGIN","source":{"type":"user","id":"11","login":"ann@example.com"}}
{"type":"event", "event_id": 
{"chunk_size":1,"next_stream_position":"1152921504606846977","entries":[{"type":"event","event_id":"e-3","created_at":"2026-11-20T10:02:00Z","created_by":{"type":"user","id":"11","login":"ann@example.com"},"event_type":"SHARE","source":{"item_type":"file","item_id":"501","item_name":"plan.xlsx","owned_by":{"type":"user","id":"11","login":"ann@example.com"}}}]}
`

// TestNormalize: file records become events, non-file records are counted, a malformed line is
// named by number and the rest is still printed, exit status 1.
func TestNormalize(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"normalize", "--service", "box"}, strings.NewReader(boxRecords), &out, &errb)
	if code != 1 {
		t.Errorf("exit status %d with a malformed line, want 1; stderr %q", code, errb.String())
	}
	if !strings.Contains(errb.String(), "stdin:3:") || !strings.Contains(errb.String(), "LOGIN") {
		t.Errorf("stderr should name line 3 and count the skipped LOGIN: %q", errb.String())
	}
	var evs []event.FileEvent
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var e event.FileEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("printed event does not validate: %v", err)
		}
		evs = append(evs, e)
	}
	if len(evs) != 2 || evs[0].Event.Action != event.ActionCreated || evs[0].File.Name != "plan.xlsx" ||
		evs[0].User.Email != "ann@example.com" || evs[1].Event.Action != event.ActionShared || evs[1].Event.VendorIDs[0] != "e-3" {
		t.Errorf("events: %+v", evs)
	}
	if !evs[0].Timestamp.Equal(time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("time observed %v, want the vendor time in UTC", evs[0].Timestamp)
	}
	// Unknown service: a clear error.
	errb.Reset()
	if code := Main(context.Background(), []string{"normalize", "--service", "dropbox"}, strings.NewReader(""), &out, &errb); code == 0 || !strings.Contains(errb.String(), "box") {
		t.Errorf("unknown service: %d %q", code, errb.String())
	}
}

// TestImport stores exported records through a connection; importing again adds nothing.
func TestImport(t *testing.T) {
	_, url := startServer(t)
	ctx := context.Background()
	c, err := client.New(url, token).CreateConnection(ctx, client.NewConnection{Name: "Box import", Service: "box", TenantID: "e9",
		Settings: map[string]string{"admin_email": "a@corp.example", "client_id": "cid"}, Credentials: map[string]string{"client_secret": "s"}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "export.jsonl")
	os.WriteFile(file, []byte(boxRecords), 0o600)
	// A malformed record: the file is refused whole, the bad line named, nothing stored.
	out, errs, code := run(t, url, "", "connections", "import", c.ID, file)
	if code == 0 || out != "" || !strings.Contains(errs, "export.jsonl:3:") || !strings.Contains(errs, "1 of 4 records are malformed") || !strings.Contains(errs, "nothing was imported") {
		t.Errorf("import with a malformed record: %d %q %q", code, out, errs)
	}
	out, errs, code = run(t, url, "", "connections", "import", "--skip-malformed", c.ID, file)
	if code == 0 || !strings.Contains(out, "4 records: 2 events stored, 0 already stored") || !strings.Contains(errs, "export.jsonl:3:") {
		t.Errorf("first import: %d %q %q", code, out, errs)
	}
	out, _, _ = run(t, url, "", "connections", "import", "--skip-malformed", c.ID, file)
	if !strings.Contains(out, "0 events stored, 2 already stored") {
		t.Errorf("second import stored again: %q", out)
	}
}

var demoURL = regexp.MustCompile(`demo serving on (http://[0-9.:]+)`)
var demoToken = regexp.MustCompile(`API token: (tt_[a-z0-9]+)`)

// TestDemo runs the README's first command: a node with the Box emulator, whose connection reaches
// Monitoring and collects events within seconds.
//
// The demo's departing employee moves files out within seconds here (minutes in a real demo) and
// the shipped rule "Departing employee exfiltration" raises an alert naming them.
func TestDemo(t *testing.T) {
	defer func(first, every, hr time.Duration) {
		demoDepartingFirst, demoDepartingEvery, demoHRFirst = first, every, hr
	}(demoDepartingFirst, demoDepartingEvery, demoHRFirst)
	demoDepartingFirst, demoDepartingEvery, demoHRFirst = 5*time.Second, 3*time.Second, 3*time.Second
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--poll-interval", "500ms", "--log-level", "warn"}, strings.NewReader(""), pw, &errb)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop")
		}
	})
	var url, tok string
	sso := false
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := demoToken.FindStringSubmatch(sc.Text()); m != nil {
			tok = m[1]
		}
		if m := demoURL.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if strings.HasPrefix(sc.Text(), "Sign in with the demo IdP") {
			sso = true
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" || tok == "" || !sso {
		t.Fatalf("demo printed no URL, token or demo IdP; stderr %s", errb.String())
	}
	// The demo analyst signs in through each demo IdP and lands as an analyst.
	for _, id := range []string{"demo-oidc", "demo-saml"} {
		if page := demoSSOSignIn(t, url, id); !strings.Contains(page, demoSSOUser) || !strings.Contains(page, "(analyst)") {
			t.Errorf("%s: the console does not show the demo analyst:\n%s", id, page)
		}
	}
	cl := client.New(url, tok)
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Every demo connection (Box, Google Drive, Gmail, OneDrive, Microsoft 365 mail) reaches
		// Monitoring without any user action and records activity.
		cs, err := cl.Connections(ctx)
		collecting := map[string]bool{}
		for _, c := range cs {
			collecting[c.Service] = c.Status == "monitoring" && !c.LastEventAt.IsZero()
		}
		if err == nil && len(cs) == 5 && collecting["box"] && collecting["google_drive"] && collecting["gmail"] &&
			collecting["onedrive"] && collecting["microsoft365_mail"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo connections not collecting after 60 s: %+v %v; stderr %s", cs, err, errb.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	deadline = time.Now().Add(60 * time.Second)
	for found := false; ; {
		as, err := cl.Alerts(ctx, client.AlertQuery{})
		for _, a := range as.Items {
			if a.RuleName == "Departing employee exfiltration" && a.Person != "" {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no departing employee alert after 60 s: %+v %v; stderr %s", as.Items, err, errb.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The demo's integrations (issue 17): the departing employee's alert became a ServiceNow
	// incident through the demo flow (the emulator's own record), and the syslog receiver parsed
	// forwarded events.
	deadline = time.Now().Add(60 * time.Second)
	for {
		l, err := cl.Integrations(ctx)
		connected, incidents := 0, 0
		for _, i := range l.Items {
			if i.Status == "connected" && (i.Name == demoServiceNowName || i.Name == demoSlackName) {
				connected++
			}
			if i.Name != demoServiceNowName {
				continue
			}
			ds, _ := cl.Deliveries(ctx, i.ID, "done", "", 100)
			for _, d := range ds.Items {
				if d.Event == "alert.raised" && strings.Contains(d.Response, "created INC") {
					incidents++
				}
			}
		}
		var fw client.ForwardList
		ferr := getJSON(ctx, url+"/api/v1/forward-destinations", tok, &fw)
		forwarded := int64(0)
		for _, f := range fw.Items {
			if f.Name == demoSyslogName && f.Kind == "syslog" {
				forwarded = f.Sent
			}
		}
		if err == nil && ferr == nil && connected == 2 && incidents > 0 && forwarded > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo integrations after 60 s: %d connected, %d incidents, %d events forwarded (%v %v); stderr %s", connected, incidents, forwarded, err, ferr, errb.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The demo's HR source (issue 17): BambooHR's webhook for a resignation put the leaver on the
	// departing employee watchlist, with a line of history by the HR source.
	deadline = time.Now().Add(60 * time.Second)
	for {
		var srcs client.HRSourceList
		herr := getJSON(ctx, url+"/api/v1/hr-sources", tok, &srcs)
		connected := false
		for _, s := range srcs.Items {
			connected = connected || s.Name == demoHRName && s.Status == "connected"
		}
		var ws client.WatchlistList
		werr := getJSON(ctx, url+"/api/v1/watchlists", tok, &ws)
		byHR := ""
		if werr == nil && len(ws.Items) > 0 {
			var ms client.WatchlistMembers
			werr = getJSON(ctx, url+"/api/v1/watchlists/"+ws.Items[0].ID+"/members", tok, &ms)
			for _, m := range ms.Items {
				var p client.Person
				if getJSON(ctx, url+"/api/v1/people/"+m.Email, tok, &p) == nil && p.Departing {
					for _, h := range p.History {
						if h.Source == demoHRName && h.Action == "added" && h.DepartureDate != "" {
							byHR = m.Email
						}
					}
				}
			}
		}
		if herr == nil && werr == nil && connected && byHR != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo HR source after 60 s: connected %v, a departure by HR %q (%v %v); stderr %s", connected, byHR, herr, werr, errb.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	deadline = time.Now().Add(60 * time.Second)
	// The simulated endpoint agents (issue 18): five devices, one outdated, one silent, the others
	// checking in; the one that watches a folder sends endpoint file events.
	for {
		l, err := cl.Devices(ctx, nil)
		outdated, silent, checkedIn := 0, 0, 0
		for _, d := range l.Items {
			if d.Outdated {
				outdated++
			}
			if d.Silent {
				silent++
			} else if d.LastCheckInAt != nil {
				checkedIn++
			}
		}
		res, serr := cl.SearchEvents(ctx, client.SearchRequest{Query: "service:endpoint", Limit: 1})
		if err == nil && serr == nil && len(l.Items) == 5 && outdated == 1 && silent == 1 && checkedIn == 4 && len(res.Items) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo devices: %+v %v; endpoint events %v; stderr %s", l, err, serr, errb.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([A-Za-z]+)" value="([^"]*)"`)
)

// demoSSOSignIn signs the demo analyst in through demo IdP id as a browser does (cookies,
// redirects, the IdP's forms) and returns the console page it lands on.
func demoSSOSignIn(t *testing.T, base, id string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	page := func(resp *http.Response, err error) (string, string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Request.URL.String(), string(b)
	}
	// submit posts the page's form with extra fields, as its submit button does.
	submit := func(at, p string, extra url.Values) (string, string) {
		t.Helper()
		m := formAction.FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("%s: no form at %s:\n%s", id, at, p)
		}
		to, _ := url.Parse(at)
		to, _ = to.Parse(html.UnescapeString(m[1]))
		form := url.Values{}
		for _, f := range formInput.FindAllStringSubmatch(p, -1) {
			form.Set(f[1], html.UnescapeString(f[2]))
		}
		for k, v := range extra {
			form[k] = v
		}
		return page(c.PostForm(to.String(), form))
	}
	at, p := page(c.Get(base + "/login/sso/" + id))
	if id == "demo-oidc" {
		return pageAfter(submit(at, p, url.Values{"username": {demoSSOUser}, "password": {demoSSOPassword}}))
	}
	at, p = submit(at, p, url.Values{"user": {demoSSOUser}, "password": {demoSSOPassword}})
	return pageAfter(submit(at, p, nil)) // the IdP's auto-posting form, to the ACS
}

func pageAfter(_, p string) string { return p }

// googleRecords are Reports API Drive activities: one per line, then a page as the API answers
// (items), a malformed line, and a login (not file activity).
const googleRecords = `{"kind":"admin#reports#activity","id":{"time":"2026-11-20T18:00:00.000Z","uniqueQualifier":"-42","applicationName":"drive","customerId":"C01"},"actor":{"email":"Ann@example.com","profileId":"11"},"ipAddress":"203.0.113.9","events":[{"type":"access","name":"upload","parameters":[{"name":"primary_event","boolValue":true},{"name":"doc_id","value":"d1"},{"name":"doc_title","value":"plan.pdf"},{"name":"doc_type","value":"pdf"},{"name":"owner","value":"ann@example.com"}]}]}
{"kind":"admin#reports#activities","items":[{"id":{"time":"2026-11-20T18:05:00Z","uniqueQualifier":"7","applicationName":"drive"},"actor":{"email":"ann@example.com"},"events":[{"type":"acl_change","name":"change_document_visibility","parameters":[{"name":"primary_event","boolValue":true},{"name":"doc_id","value":"d1"},{"name":"doc_title","value":"plan.pdf"},{"name":"owner","value":"ann@example.com"},{"name":"visibility","value":"people_with_link"}]},{"type":"acl_change","name":"change_document_access_scope","parameters":[{"name":"primary_event","boolValue":false},{"name":"doc_id","value":"d1"}]}]}]}
{"id": {"time": 
{"id":{"time":"2026-11-20T18:06:00Z","uniqueQualifier":"8","applicationName":"drive"},"actor":{"email":"ann@example.com"},"events":[{"type":"access","name":"search","parameters":[{"name":"primary_event","boolValue":true}]}]}
`

// TestNormalizeGoogleDrive: `telltale normalize --service google_drive` reads exported Reports
// API Drive activities (lines or API pages) as the Box one does: events printed, a side effect and
// a non-file event counted, the malformed line named, exit status 1.
func TestNormalizeGoogleDrive(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"normalize", "--service", "google_drive"}, strings.NewReader(googleRecords), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "stdin:3:") {
		t.Errorf("exit %d, stderr %q: want 1 and line 3 named", code, errb.String())
	}
	var evs []event.FileEvent
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var e event.FileEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	if len(evs) != 2 || evs[0].Event.Action != event.ActionCreated || evs[0].User.Email != "ann@example.com" || evs[0].Source.IP != "203.0.113.9" ||
		evs[1].Event.Action != event.ActionShared || evs[1].Sharing.LinkScope != event.LinkAnyone || evs[0].Event.Observer != event.ObserverGoogleDrive {
		t.Errorf("events: %+v", evs)
	}
}

// gmailMessage is a users.messages.get format=full answer: a sent message with a PDF attachment.
const gmailMessage = `{"id":"18c2f0a1b2c3d4e5","threadId":"18c2f0a1b2c3d4e5","labelIds":["SENT"],"internalDate":"1763661600000","payload":{"partId":"","mimeType":"multipart/mixed","filename":"","headers":[{"name":"From","value":"Ann <ann@example.com>"},{"name":"To","value":"x@gmail.com"},{"name":"Subject","value":"Q4"}],"body":{"size":0},"parts":[{"partId":"0","mimeType":"text/plain","filename":"","headers":[],"body":{"size":5,"data":"aGVsbG8"}},{"partId":"1","mimeType":"application/pdf","filename":"Q4 plan.pdf","headers":[],"body":{"attachmentId":"ANGjdJ8-att-1","size":48213}}]}}`

// TestNormalizeGmail: `telltale normalize --service gmail` prints one file-emailed event per
// attachment of exported messages; a malformed line is named, exit status 1.
func TestNormalizeGmail(t *testing.T) {
	var out, errb bytes.Buffer
	in := gmailMessage + "\n{\"id\": \n"
	code := Main(context.Background(), []string{"normalize", "--service", "gmail"}, strings.NewReader(in), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "stdin:2:") {
		t.Errorf("exit %d, stderr %q: want 1 and line 2 named", code, errb.String())
	}
	var e event.FileEvent
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &e); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if e.Event.Action != event.ActionEmailed || e.File.Name != "Q4 plan.pdf" || e.File.Size != 48213 || e.User.Email != "ann@example.com" ||
		len(e.Email.Recipients) != 1 || e.Email.Recipients[0] != "x@gmail.com" || e.Event.Observer != event.ObserverGmail {
		t.Errorf("event %+v", e)
	}
}

// oneDriveBlob is a Management Activity API content blob as exported: a download, an anyone
// link, the download again (blobs repeat records), a record without Operation and CreationTime,
// a SharePoint site's record and a string.
const oneDriveBlob = `[
{"Id":"11111111-2222-3333-4444-555555555555","RecordType":6,"CreationTime":"2026-03-02T10:00:00","Operation":"FileDownloaded","Workload":"OneDrive","UserId":"Ada@Example.com","ClientIP":"203.0.113.9","ItemType":"File","ListItemUniqueId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","SiteUrl":"https://example-my.sharepoint.com/personal/ada_example_com/","SourceRelativeUrl":"Documents/Reports","SourceFileName":"q1.xlsx","ObjectId":"https://example-my.sharepoint.com/personal/ada_example_com/Documents/Reports/q1.xlsx"},
{"Id":"22222222-2222-3333-4444-555555555555","RecordType":14,"CreationTime":"2026-03-02T10:01:00","Operation":"AnonymousLinkCreated","Workload":"OneDrive","UserId":"ada@example.com","ClientIP":"203.0.113.9","ItemType":"File","ListItemUniqueId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","SiteUrl":"https://example-my.sharepoint.com/personal/ada_example_com/","SourceRelativeUrl":"Documents/Reports","SourceFileName":"q1.xlsx","ObjectId":"https://example-my.sharepoint.com/personal/ada_example_com/Documents/Reports/q1.xlsx"},
{"Id":"11111111-2222-3333-4444-555555555555","RecordType":6,"CreationTime":"2026-03-02T10:00:00","Operation":"FileDownloaded","Workload":"OneDrive","UserId":"Ada@Example.com","ClientIP":"203.0.113.9","ItemType":"File","ListItemUniqueId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","SiteUrl":"https://example-my.sharepoint.com/personal/ada_example_com/","SourceRelativeUrl":"Documents/Reports","SourceFileName":"q1.xlsx","ObjectId":"https://example-my.sharepoint.com/personal/ada_example_com/Documents/Reports/q1.xlsx"},
{"Id":"broken","Operation":"FileDownloaded"},
{"Id":"44444444-2222-3333-4444-555555555555","RecordType":6,"CreationTime":"2026-03-02T10:03:00","Operation":"FileDownloaded","Workload":"SharePoint","UserId":"ada@example.com","ItemType":"File","SiteUrl":"https://example.sharepoint.com/sites/x/","SourceFileName":"a.docx"},
"not a record"
]
`

// TestNormalizeOneDrive: `telltale normalize --service onedrive` prints one event per exported
// Audit.SharePoint record, each naming its record Id, a record repeated across blobs once; the
// broken records are named by line, the rest read, exit status 1 (issue 15).
func TestNormalizeOneDrive(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"normalize", "--service", "onedrive"}, strings.NewReader(oneDriveBlob), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "stdin:5:") || !strings.Contains(errb.String(), "stdin:7:") ||
		!strings.Contains(errb.String(), "skipped not_onedrive: 1") || !strings.Contains(errb.String(), "skipped duplicate: 1") {
		t.Errorf("exit %d, stderr %q: want 1, lines 5 and 7 named, the SharePoint record and the repeat counted", code, errb.String())
	}
	evs := normalized(t, &out)
	if len(evs) != 2 || evs[0].Event.Action != event.ActionDownloaded || evs[0].User.Email != "ada@example.com" || evs[0].Source.IP != "203.0.113.9" ||
		evs[1].Event.Action != event.ActionShared || evs[1].Sharing.LinkScope != event.LinkAnyone || evs[0].Event.Observer != event.ObserverOneDrive {
		t.Errorf("events: %+v", evs)
	}
	onceEach(t, evs, "11111111-2222-3333-4444-555555555555", "22222222-2222-3333-4444-555555555555")
}

// m365Messages are Graph messages as exported: one with a file, an attached message and a link
// to a cloud file; one claiming attachments without listing them; a broken line; the first again.
const m365Messages = `{"id":"m1","internetMessageId":"<m1@corp.example>","subject":"Q1","sentDateTime":"2026-03-02T09:00:00Z","hasAttachments":true,"from":{"emailAddress":{"address":"Ann@Corp.example"}},"toRecipients":[{"emailAddress":{"address":"x@gmail.com"}}],"attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","id":"a1","name":"a.pdf","size":10,"contentType":"application/pdf"},{"@odata.type":"#microsoft.graph.itemAttachment","id":"a2","name":"fwd","size":200},{"@odata.type":"#microsoft.graph.referenceAttachment","id":"a3","name":"plan.docx","size":0}],"body":{"contentType":"html","content":"<a href=\"https://corp-my.sharepoint.com/:w:/g/personal/ann/abc\">plan.docx</a>"}}
{"id":"m2","hasAttachments":true,"sentDateTime":"2026-03-02T09:00:00Z"}
{"id":
{"id":"m1","internetMessageId":"<m1@corp.example>","subject":"Q1","sentDateTime":"2026-03-02T09:00:00Z","hasAttachments":true,"from":{"emailAddress":{"address":"Ann@Corp.example"}},"toRecipients":[{"emailAddress":{"address":"x@gmail.com"}}],"attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","id":"a1","name":"a.pdf","size":10,"contentType":"application/pdf"}]}
`

// TestNormalizeMicrosoft365Mail: `telltale normalize --service microsoft365_mail` prints one event
// per attachment (a link to a cloud file as a share), each naming its record id, a message read
// twice once; bad lines are named, exit status 1 (issue 15).
func TestNormalizeMicrosoft365Mail(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"normalize", "--service", "microsoft365_mail"}, strings.NewReader(m365Messages), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "stdin:2:") || !strings.Contains(errb.String(), "stdin:3:") || !strings.Contains(errb.String(), "skipped duplicate: 1") {
		t.Errorf("exit %d, stderr %q: want 1, lines 2 and 3 named, the repeat counted", code, errb.String())
	}
	evs := normalized(t, &out)
	if len(evs) != 3 || evs[0].Event.Action != event.ActionEmailed || evs[0].File.Name != "a.pdf" || evs[0].User.Email != "ann@corp.example" ||
		evs[1].File.MimeType != "message/rfc822" || evs[2].Event.Action != event.ActionShared || evs[2].File.URL == "" ||
		len(evs[0].Email.Recipients) != 1 || evs[0].Email.Recipients[0] != "x@gmail.com" {
		t.Errorf("events: %+v", evs)
	}
	onceEach(t, evs, "m1/a1", "m1/a2", "m1/a3")
}

// normalized decodes normalize's output, one event a line, each valid.
func normalized(t *testing.T, out *bytes.Buffer) []event.FileEvent {
	t.Helper()
	var evs []event.FileEvent
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var e event.FileEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("printed event does not validate: %v", err)
		}
		evs = append(evs, e)
	}
	return evs
}

// onceEach: every record id of ids is named by exactly one printed event, and no event names
// another.
func onceEach(t *testing.T, evs []event.FileEvent, ids ...string) {
	t.Helper()
	n := map[string]int{}
	for _, e := range evs {
		for _, id := range e.Event.VendorIDs {
			n[id]++
		}
	}
	for _, id := range ids {
		if n[id] != 1 {
			t.Errorf("record %s is named by %d events, want 1 (%v)", id, n[id], n)
		}
	}
	if len(n) != len(ids) {
		t.Errorf("events name records %v, want %v", n, ids)
	}
}

// getJSON GETs an API path with a bearer token into out.
func getJSON(ctx context.Context, u, tok string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
