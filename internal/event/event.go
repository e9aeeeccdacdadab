// Package event defines Telltale's normalized file event: the one record every connector produces,
// every store keeps and every API, export and `telltale normalize` prints. Its JSON field names are a
// public contract: add fields, never rename them. It imports only the standard library.
package event

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// FileEvent is one file event. Empty fields are omitted from its JSON encoding.
type FileEvent struct {
	Timestamp time.Time `json:"@timestamp"` // time observed (vendor time)
	Event     Meta      `json:"event"`
	User      User      `json:"user,omitzero"`
	File      File      `json:"file,omitzero"`
	Sharing   Sharing   `json:"sharing,omitzero"`
	Email     Email     `json:"email,omitzero"`
	Source    Source    `json:"source,omitzero"`
	Risk      Risk      `json:"risk,omitzero"`
}

// Meta describes the event itself: what happened, who observed it and where it came from.
type Meta struct {
	ID             int64     `json:"id,omitempty,string"` // assigned by the store, in insertion order
	Action         Action    `json:"action"`
	Observer       Observer  `json:"observer"`
	ConnectionID   int64     `json:"connection_id,omitempty,string"`
	ConnectionName string    `json:"connection_name,omitempty"`
	Inserted       time.Time `json:"inserted,omitzero"` // when the store accepted it
	Count          int       `json:"count,omitempty"`   // vendor actions coalesced into this event (R3.6)
	VendorIDs      []string  `json:"vendor_ids,omitempty"`
	// Feeds are the vendor feeds that reported this action, the one that stored it first, where a
	// connector reads one action from two feeds (Google Drive: "changes" within seconds, "reports"
	// hours later) and merges them into one event; empty for a connector with one feed.
	Feeds []string `json:"feeds,omitempty"`
	// Enriched names the fields a later feed filled after the event was stored, and that feed.
	Enriched []Provenance `json:"enriched,omitempty"`
}

// Provenance says which feed supplied a field (a dotted name of this schema: "source.ip").
type Provenance struct {
	Field string `json:"field"`
	Feed  string `json:"feed"`
}

// User is the actor.
type User struct {
	Email    string `json:"email,omitempty"`
	VendorID string `json:"vendor_id,omitempty"`
	Name     string `json:"name,omitempty"`
}

// File identifies the file the event is about.
type File struct {
	ID                string    `json:"id,omitempty"`
	Name              string    `json:"name,omitempty"`
	Directory         string    `json:"directory,omitempty"`
	Path              string    `json:"path,omitempty"`
	Size              int64     `json:"size,omitempty"`
	MimeType          string    `json:"mime_type,omitempty"`
	Category          Category  `json:"category,omitempty"`
	Owner             string    `json:"owner,omitempty"`
	Created           time.Time `json:"created,omitzero"`
	Modified          time.Time `json:"modified,omitzero"`
	URL               string    `json:"url,omitempty"`
	DriveID           string    `json:"drive_id,omitempty"`
	OriginalName      string    `json:"original_name,omitempty"`
	OriginalDirectory string    `json:"original_directory,omitempty"`
	Hash              Hash      `json:"hash,omitzero"`
}

// Hash holds content hashes as lowercase hex (QuickXor as the vendor's base64).
type Hash struct {
	MD5      string `json:"md5,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	SHA1     string `json:"sha1,omitempty"`
	QuickXor string `json:"quick_xor,omitempty"`
}

// HexDigest is s as a digest of digits lowercase hex digits (a vendor's checksum, whatever its
// case), or "" when it is not one: a malformed vendor hash is dropped, not stored.
func HexDigest(s string, digits int) string {
	s = strings.ToLower(s)
	if len(s) != digits {
		return ""
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return ""
		}
	}
	return s
}

// Sharing is the sharing state of the file after the event.
type Sharing struct {
	LinkScope  LinkScope  `json:"link_scope,omitempty"`
	SharedWith []string   `json:"shared_with,omitempty"`
	Exposure   []Exposure `json:"exposure,omitempty"`
	// Tenants places destinations in their organization's tenant where the vendor's record names
	// it (a Google Workspace domain of a domain-wide share): a destination the record does not
	// place is left out, never guessed. Trust entries of kind tenant (R6.5) match them.
	Tenants []DestinationTenant `json:"tenants,omitempty"`
}

// DestinationTenant is the tenant of one destination of an event.
type DestinationTenant struct {
	To     string `json:"to"`     // the destination as in shared_with or the recipients (an address or a domain)
	Tenant string `json:"tenant"` // the tenant's id in the vendor's words (a Google Workspace domain, a Box enterprise id, a Microsoft tenant id)
}

// MaxTenants bounds an event's destination tenants.
const MaxTenants = 100

// Email describes the message for file-emailed events.
type Email struct {
	Sender     string   `json:"sender,omitempty"`
	From       string   `json:"from,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	MessageID  string   `json:"message_id,omitempty"`
}

// Source is where the actor acted from, when the vendor says.
type Source struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// Risk is the event's risk as ingest assessed it (docs/RISK.md): trust, the score (the sum of the
// weights of its indicators), the severity band of the score, the indicators and, for each, its
// weight and why it applies, as they were when the event was stored.
type Risk struct {
	Trusted     bool     `json:"trusted,omitempty"`
	TrustReason string   `json:"trust_reason,omitempty"`
	Score       int      `json:"score,omitempty"`
	Severity    Severity `json:"severity,omitempty"`
	Indicators  []string `json:"indicators,omitempty"` // names, as Indicators lists them
	Reasons     []Reason `json:"reasons,omitempty"`    // one per indicator, in the same order
}

// Reason explains one indicator of an event's risk.
type Reason struct {
	Indicator string `json:"indicator"`
	Weight    int    `json:"weight"`
	Why       string `json:"why,omitempty"`
}

// Validate reports the first reason the event cannot be stored, naming the field.
func (e *FileEvent) Validate() error {
	if e.Timestamp.IsZero() {
		return fmt.Errorf("event: @timestamp is required")
	}
	if !e.Event.Action.Valid() {
		return fmt.Errorf("event: event.action %q is not one of %v", e.Event.Action, Actions())
	}
	if !e.Event.Observer.Valid() {
		return fmt.Errorf("event: event.observer %q is not one of %v", e.Event.Observer, Observers())
	}
	if e.Sharing.LinkScope != "" && !e.Sharing.LinkScope.Valid() {
		return fmt.Errorf("event: sharing.link_scope %q is not one of anyone, organization, specific, none", e.Sharing.LinkScope)
	}
	if len(e.Sharing.Tenants) > MaxTenants {
		return fmt.Errorf("event: sharing.tenants has %d entries; at most %d", len(e.Sharing.Tenants), MaxTenants)
	}
	for i, t := range e.Sharing.Tenants {
		if t.To == "" || t.Tenant == "" {
			return fmt.Errorf("event: sharing.tenants[%d] needs both to (the destination) and tenant (its id)", i)
		}
	}
	for _, x := range e.Sharing.Exposure {
		if !x.Valid() {
			return fmt.Errorf("event: sharing.exposure %q is not one of %v", x, Exposures())
		}
	}
	for _, h := range []struct {
		field, value string
		digits       int
	}{{"md5", e.File.Hash.MD5, 32}, {"sha256", e.File.Hash.SHA256, 64}, {"sha1", e.File.Hash.SHA1, 40}} {
		if h.value != "" && !isLowerHex(h.value, h.digits) {
			return fmt.Errorf("event: file.hash.%s %q is not %d lowercase hex digits", h.field, h.value, h.digits)
		}
	}
	if e.Risk.Severity != "" && !e.Risk.Severity.Valid() {
		return fmt.Errorf("event: risk.severity %q is not one of %v", e.Risk.Severity, Severities())
	}
	if e.Risk.Score < 0 {
		return fmt.Errorf("event: risk.score %d is negative", e.Risk.Score)
	}
	return nil
}

// DedupeKey is the key under which the store keeps an event once (R3.8). Events carrying vendor ids are
// keyed by observer, connection and their first vendor id, so the same vendor record delivered twice
// (or a page redone after a crash) maps to the same key. Events without vendor ids are keyed by their
// content, minus the fields the store assigns.
func (e *FileEvent) DedupeKey() [16]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(e.Event.ConnectionID))
	h.Write([]byte(e.Event.Observer))
	h.Write([]byte{0})
	h.Write(n[:])
	if len(e.Event.VendorIDs) > 0 {
		h.Write([]byte{'v'})
		h.Write([]byte(e.Event.VendorIDs[0]))
	} else {
		c := *e
		c.Event.ID = 0
		c.Event.Inserted = time.Time{}
		c.Event.ConnectionName = ""
		b, _ := json.Marshal(&c)
		h.Write([]byte{'c'})
		h.Write(b)
	}
	var k [16]byte
	copy(k[:], h.Sum(nil))
	return k
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
