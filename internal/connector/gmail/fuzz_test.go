package gmail

import (
	"strings"
	"testing"
)

// FuzzAdapt: DecodeMessage and Adapt never panic; an error says it is a Gmail message's; every
// record carries one valid event or a skip reason, and an id.
func FuzzAdapt(f *testing.F) {
	f.Add(message([]string{"SENT"}, "1764511387000", sentHeaders))
	f.Add([]byte(`{"id":"m","labelIds":["SENT"],"internalDate":1,"payload":{"filename":"a.txt","body":{"data":"aGk="},"headers":[{"name":"To","value":"x@y, <<"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "gmail message") {
				t.Fatalf("error does not say what failed: %v", err)
			}
			return
		}
		for _, mailbox := range []string{"", "alice@corp.example"} {
			for _, r := range Adapt(m, mailbox) {
				if r.VendorID == "" {
					t.Fatal("a record without an id")
				}
				if (r.Skip == "") != (len(r.Events) == 1) {
					t.Fatalf("skip %q with %d events", r.Skip, len(r.Events))
				}
				for i := range r.Events {
					if err := r.Events[i].Validate(); err != nil {
						t.Fatalf("invalid event: %v", err)
					}
				}
			}
		}
	})
}
