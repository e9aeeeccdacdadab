package m365mail

import (
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

func TestAdaptSkipsAndLinks(t *testing.T) {
	mb := Mailbox{UserID: "u1", UPN: "ann@corp.example"}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if r := Adapt(Message{ID: "m1", IsDraft: true, Attachments: []Attachment{{ID: "a"}}}, mb); len(r) != 1 || r[0].Skip != SkipDraft || r[0].Drive != "u1" {
		t.Errorf("draft: %+v", r)
	}
	if r := Adapt(Message{ID: "m2", SentDateTime: at}, mb); len(r) != 1 || r[0].Skip != SkipNoAttachment || r[0].VendorID != "m2" {
		t.Errorf("no attachment: %+v", r)
	}
	m := Message{ID: "m3", SentDateTime: at, Attachments: []Attachment{
		{Type: kindReference, ID: "r1", Name: "Budget.xlsx", Size: 500},
		{Type: kindReference, ID: "r2", Name: "Plan.docx"}}}
	m.Body = &struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	}{"html", `<p>see Plan.docx: https://corp-my.sharepoint.com/:w:/g/p/plan?e=1&amp;x=2<br>Budget.xlsx: https://corp-my.sharepoint.com/:x:/g/p/budget</p>`}
	r := Adapt(m, mb)
	if len(r) != 2 || r[0].Events[0].File.URL != "https://corp-my.sharepoint.com/:x:/g/p/budget" ||
		r[1].Events[0].File.URL != "https://corp-my.sharepoint.com/:w:/g/p/plan?e=1&x=2" || r[0].Events[0].Event.Action != event.ActionShared || r[0].Events[0].File.Size != 0 {
		t.Errorf("links: %+v", r)
	}
	m.Body.Content = `<a href="https://corp-my.sharepoint.com/only">Budget</a>`
	m.Attachments = m.Attachments[:1]
	if r := Adapt(m, mb); r[0].Events[0].File.URL != "https://corp-my.sharepoint.com/only" {
		t.Errorf("the only link: %+v", r[0].Events[0].File)
	}
}

// TestReadRecords: exported messages are read as a Graph page or JSON lines, a bad one reported
// with its line and the rest read; the sender is the from address.
func TestReadRecords(t *testing.T) {
	in := `{"value":[{"id":"m1","sentDateTime":"2026-03-02T09:00:00Z","hasAttachments":true,"from":{"emailAddress":{"address":"Ann@Corp.example"}},` +
		`"toRecipients":[{"emailAddress":{"address":"x@gmail.com"}}],"attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","id":"a1","name":"a.pdf","size":10}]}]}
{"id":"m2","hasAttachments":true,"sentDateTime":"2026-03-02T09:00:00Z"}
{"id":"m3","sentDateTime":"2026-03-02T09:00:00Z"}
`
	var recs []string
	var errs []string
	err := New().ReadRecords(strings.NewReader(in), func(line int, rec connector.Record, err error) error {
		if err != nil {
			errs = append(errs, err.Error())
			return nil
		}
		s := rec.VendorID + " " + rec.Skip
		if len(rec.Events) == 1 {
			s += rec.Events[0].Email.Sender
		}
		recs = append(recs, s)
		return nil
	})
	if err != nil || len(errs) != 1 || !strings.Contains(errs[0], "line 2") || !strings.Contains(errs[0], "$expand=attachments") ||
		len(recs) != 2 || recs[0] != "m1/a1 ann@corp.example" || recs[1] != "m3 no_attachment" {
		t.Errorf("records %q, errors %q, %v", recs, errs, err)
	}
}
