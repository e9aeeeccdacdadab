package gmail

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	gmailapi "google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"

	"github.com/telltale-dev/telltale/internal/clock"
	gemu "github.com/telltale-dev/telltale/internal/emulator/google"
)

// wire keeps the body of every answer, by request path, so the adapter decodes the bytes Gmail
// sent, not the client's re-encoding.
type wire struct {
	mu     sync.Mutex
	bodies map[string][]byte
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	w.mu.Lock()
	w.bodies[req.URL.Path] = b
	w.mu.Unlock()
	return resp, nil
}

// emuGmail is the real gmail/v1 client acting as subject against the emulator, its token from the
// emulator's /token through the service account key (JWT bearer grant, domain-wide delegation).
func emuGmail(t *testing.T, srvURL string, emu *gemu.Emulator, w *wire, subject string) *gmailapi.Service {
	t.Helper()
	cfg, err := googleoauth.JWTConfigFromJSON(emu.ServiceAccountKey(srvURL+"/token"), gemu.ScopeGmailReadonly)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = subject
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: w})
	s, err := gmailapi.NewService(context.Background(), option.WithEndpoint(srvURL+"/"), option.WithHTTPClient(cfg.Client(ctx)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEmulatorRoundTrip: sent mail read as the connector will (history.list labelId=SENT from the
// profile's historyId, messages.get format=full, attachments.get) through the real client becomes
// exactly the file-emailed events the emulator's ground truth says: one per attachment (inline
// images too), with its name, size, MIME type, the message's time, sender and every recipient;
// the content downloaded hashes to the ground truth. Drafts and received copies are skipped.
func TestEmulatorRoundTrip(t *testing.T) {
	emu := gemu.New(gemu.Options{Users: 8, Seed: 3, Clock: clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), RateLimitPerMinute: -1})
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	defer emu.Close()
	var alice, bob string
	for _, u := range emu.Users()[1:] {
		if !u.Suspended && !u.Archived {
			if alice == "" {
				alice = u.Email
			} else if bob == "" {
				bob = u.Email
			}
		}
	}
	w := &wire{bodies: map[string][]byte{}}
	s := emuGmail(t, srv.URL, emu, w, alice)
	prof, err := s.Users.GetProfile("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emu.SendMail(alice, []string{"Bob <" + bob + ">", `"Doe, John" <John@Partner.example>`}, []string{"eve@gmail.com"}, []string{"mallory@gmail.com"},
		"Q4 plan", []gemu.MailAttachment{{Name: "Q4 plan.pdf", MimeType: "application/pdf", Content: bytes.Repeat([]byte("%PDF q4 "), 900)},
			{Name: "numbers.csv", MimeType: "text/csv", Content: []byte("a,b\n1,2\n")}, {Name: "image.png", MimeType: "image/png", Content: []byte("\x89PNG\r\n\x1a\n"), Inline: true}}); err != nil {
		t.Fatal(err)
	}
	d, _, _ := emu.SaveDraft("", alice, []string{"x@gmail.com"}, nil, nil, "draft", []gemu.MailAttachment{{Name: "secret.zip", MimeType: "application/zip", Content: []byte("zip")}})
	emu.SaveDraft(d, alice, []string{"x@gmail.com"}, nil, nil, "draft", []gemu.MailAttachment{{Name: "secret.zip", MimeType: "application/zip", Content: []byte("zip2")}})
	emu.SendDraft(alice, d)
	emu.SendMail(alice, []string{"p@partner.example"}, nil, nil, "no attachment", nil)
	emu.StepMail(40)
	truth := map[string]gemu.SentMail{}
	for _, m := range emu.SentMails() {
		if m.From == alice {
			truth[m.ID] = m
		}
	}

	// The connector's stream: SENT messages added since the profile's historyId.
	var ids []string
	tok := ""
	for {
		r, err := s.Users.History.List("me").StartHistoryId(prof.HistoryId).LabelId("SENT").HistoryTypes("messageAdded").MaxResults(3).PageToken(tok).Do()
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range r.History {
			for _, a := range h.MessagesAdded {
				ids = append(ids, a.Message.Id)
			}
		}
		if tok = r.NextPageToken; tok == "" {
			break
		}
	}
	if len(ids) != len(truth) || len(ids) < 3 {
		t.Fatalf("history lists %d sent messages, the ground truth %d", len(ids), len(truth))
	}
	events := 0
	for _, id := range ids {
		want, ok := truth[id]
		if !ok {
			t.Fatalf("history lists %s, not sent by %s", id, alice)
		}
		got, err := s.Users.Messages.Get("me", id).Format("full").Do()
		if err != nil {
			t.Fatal(err)
		}
		raw := w.bodies["/gmail/v1/users/me/messages/"+id]
		m, err := DecodeMessage(raw)
		if err != nil {
			t.Fatalf("decode %s: %v", id, err)
		}
		recs := Adapt(m, alice)
		// The client's re-encoding of the same message adapts the same.
		again, _ := json.Marshal(got)
		if m2, err := DecodeMessage(again); err != nil || !cmp.Equal(Adapt(m2, alice), recs) {
			t.Errorf("%s: the re-encoded message adapts differently: %v", id, err)
		}
		if len(want.Attachments) == 0 {
			if len(recs) != 1 || recs[0].Skip != SkipNoAttachment {
				t.Errorf("%s without attachments: %+v", id, recs)
			}
			continue
		}
		if len(recs) != len(want.Attachments) {
			t.Fatalf("%s: %d records, %d attachments", id, len(recs), len(want.Attachments))
		}
		rcpts := slices.Compact(slices.Concat(want.To, want.Cc, want.Bcc))
		byID := map[string]int{}
		for i, r := range recs {
			byID[r.VendorID] = i
		}
		for _, a := range want.Attachments {
			i, ok := byID[id+"/"+a.PartID]
			if !ok {
				t.Fatalf("%s: no record for part %s: %+v", id, a.PartID, recs)
			}
			r := recs[i]
			if r.Skip != "" || len(r.Events) != 1 || r.Drive != alice {
				t.Fatalf("record %+v", r)
			}
			e := r.Events[0]
			if err := e.Validate(); err != nil {
				t.Errorf("%s: invalid event: %v", r.VendorID, err)
			}
			if e.File.Name != a.Name || e.File.Size != a.Size || e.File.MimeType != a.MimeType || !e.Timestamp.Equal(want.At) ||
				e.User.Email != alice || e.Email.Sender != alice || e.Email.Subject != want.Subject || e.Email.MessageID != want.MessageID {
				t.Errorf("%s: event %+v %+v, want %+v", r.VendorID, e.File, e.Email, a)
			}
			if d := cmp.Diff(uniq(rcpts), e.Email.Recipients); d != "" {
				t.Errorf("%s: recipients (-want +got):\n%s", r.VendorID, d)
			}
			// The hash queue's part: the content by attachment id hashes to the ground truth.
			if m.Attachments[i].AttachmentID == "" {
				t.Fatalf("%s: no attachment id", r.VendorID)
			}
			body, err := s.Users.Messages.Attachments.Get("me", id, m.Attachments[i].AttachmentID).Do()
			if err != nil {
				t.Fatal(err)
			}
			data, err := base64.URLEncoding.DecodeString(padded(body.Data))
			if err != nil {
				t.Fatal(err)
			}
			md, sh := md5.Sum(data), sha256.Sum256(data)
			if hex.EncodeToString(md[:]) != a.MD5 || hex.EncodeToString(sh[:]) != a.SHA256 {
				t.Errorf("%s: downloaded content does not hash to the ground truth", r.VendorID)
			}
			events++
		}
	}
	if events < 5 {
		t.Errorf("only %d events", events)
	}

	// format=metadata, as Gmail answers it, is refused with what to do, not taken for a message
	// without attachments.
	if _, err := s.Users.Messages.Get("me", ids[0]).Format("metadata").Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeMessage(w.bodies["/gmail/v1/users/me/messages/"+ids[0]]); err == nil || !strings.Contains(err.Error(), "export with format=full") {
		t.Errorf("a metadata answer decodes: %v", err)
	}

	// A draft and a received copy are skipped.
	emu.SaveDraft("", alice, []string{"x@gmail.com"}, nil, nil, "left", []gemu.MailAttachment{{Name: "left.pdf", MimeType: "application/pdf", Content: []byte("pdf")}})
	l, err := s.Users.Messages.List("me").LabelIds("DRAFT").Do()
	if err != nil || len(l.Messages) == 0 {
		t.Fatalf("drafts: %+v %v", l, err)
	}
	for _, ref := range l.Messages {
		if _, err := s.Users.Messages.Get("me", ref.Id).Do(); err != nil {
			t.Fatal(err)
		}
		m, err := DecodeMessage(w.bodies["/gmail/v1/users/me/messages/"+ref.Id])
		if recs := Adapt(m, alice); err != nil || len(recs) != 1 || recs[0].Skip != SkipDraft {
			t.Errorf("draft %s: %+v %v", ref.Id, recs, err)
		}
	}
	sb := emuGmail(t, srv.URL, emu, w, bob)
	in, err := sb.Users.Messages.List("me").Q("in:inbox from:" + alice).Do()
	if err != nil || len(in.Messages) == 0 {
		t.Fatalf("bob's inbox: %+v %v", in, err)
	}
	if _, err := sb.Users.Messages.Get("me", in.Messages[0].Id).Do(); err != nil {
		t.Fatal(err)
	}
	m, err := DecodeMessage(w.bodies["/gmail/v1/users/me/messages/"+in.Messages[0].Id])
	if recs := Adapt(m, bob); err != nil || len(recs) != 1 || recs[0].Skip != SkipNotSent {
		t.Errorf("received copy: %+v %v", recs, err)
	}
	if !strings.Contains(m.Header("To"), bob) || m.Header("Bcc") != "" {
		t.Errorf("received copy headers %+v", m.Headers)
	}
}

func uniq(l []string) []string {
	var out []string
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
