package ingest

import (
	"testing"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/hashing"
)

// TestNeedsHashEmailed: an attachment an email connection's user sent is downloaded for its MD5
// and SHA-256 (R4.3) unless it has both; a cloud connection's "emailed" record (Drive's email as
// attachment) is not a download, as before.
func TestNeedsHashEmailed(t *testing.T) {
	s := &Service{hasher: hashing.New(1<<20, 1)}
	mail := connector.Spec{ServiceType: connection.Email}
	cloud := connector.Spec{ServiceType: connection.Cloud}
	ev := func(h event.Hash) *event.FileEvent {
		return &event.FileEvent{Event: event.Meta{Action: event.ActionEmailed}, File: event.File{ID: "m1/2", Size: 10, MimeType: "application/pdf", Hash: h}}
	}
	if !s.needsHash(mail, ev(event.Hash{})) {
		t.Error("an emailed attachment without hashes is not downloaded")
	}
	if s.needsHash(mail, ev(event.Hash{MD5: "x", SHA256: "y"})) {
		t.Error("an emailed attachment with both hashes is downloaded again")
	}
	if s.needsHash(cloud, ev(event.Hash{})) {
		t.Error("a cloud connection's emailed record is downloaded")
	}
}
