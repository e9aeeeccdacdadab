package event

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// CleanText makes every text of the event one that both stores can hold and give back as it is:
// each byte that is not part of a UTF-8 character (a vendor's CSV export in Latin-1) and each NUL
// character (a "\u0000" in a vendor's JSON record) becomes U+FFFD, the replacement character, in
// the names, addresses, recipients, reasons and every other string of the event. PostgreSQL's
// text can hold neither, and an event it refused would stop its page, and so its connection, for
// ever; SQLite would keep bytes PostgreSQL cannot. The vendor ids are left as they are: they make
// the dedupe key (a record delivered again must find the key it was stored under) and are kept in
// the event's JSON document only, which holds any text. An event already clean is left as it
// is, at the cost of one look at each string. (TestCleanTextCoversEveryString checks, by
// reflection, that a string field added to the event is cleaned too.)
//
// The addresses and ids (actor, owner, recipients, sender, shared-with, tenants, message id,
// file and drive ids, MIME type, source address) are also clipped to MaxKeyBytes (ClipKey): they
// are keys of indexes, or may become keys (alert groups, counts), and PostgreSQL
// refuses an index entry over about 2.7 kB, which would stop the page as a NUL would. No vendor
// writes one that long (an e-mail address is at most 254 bytes); a broken or hostile source can.
func (e *FileEvent) CleanText() {
	m := &e.Event
	cleanTyped(&m.Action)
	cleanTyped(&m.Observer)
	cleanS(&m.ConnectionName)
	cleanAll(m.Feeds)
	for i := range m.Enriched {
		cleanS(&m.Enriched[i].Field)
		cleanS(&m.Enriched[i].Feed)
	}
	cleanS(&e.User.Email)
	cleanS(&e.User.VendorID)
	cleanS(&e.User.Name)
	clipAll(&e.User.Email, &e.User.VendorID)
	f := &e.File
	for _, p := range []*string{&f.ID, &f.Name, &f.Directory, &f.Path, &f.MimeType, &f.Owner, &f.URL, &f.DriveID,
		&f.OriginalName, &f.OriginalDirectory, &f.Hash.MD5, &f.Hash.SHA256, &f.Hash.SHA1, &f.Hash.QuickXor} {
		cleanS(p)
	}
	clipAll(&f.ID, &f.Owner, &f.DriveID, &f.MimeType)
	cleanTyped(&f.Category)
	cleanTyped(&e.Sharing.LinkScope)
	cleanAll(e.Sharing.SharedWith)
	for i := range e.Sharing.SharedWith {
		clipAll(&e.Sharing.SharedWith[i])
	}
	for i := range e.Sharing.Exposure {
		cleanTyped(&e.Sharing.Exposure[i])
	}
	for i := range e.Sharing.Tenants {
		cleanS(&e.Sharing.Tenants[i].To)
		cleanS(&e.Sharing.Tenants[i].Tenant)
		clipAll(&e.Sharing.Tenants[i].To, &e.Sharing.Tenants[i].Tenant)
	}
	cleanS(&e.Email.Sender)
	cleanS(&e.Email.From)
	cleanAll(e.Email.Recipients)
	for i := range e.Email.Recipients {
		clipAll(&e.Email.Recipients[i])
	}
	cleanS(&e.Email.Subject)
	cleanS(&e.Email.MessageID)
	cleanS(&e.Source.IP)
	clipAll(&e.Email.Sender, &e.Email.From, &e.Email.MessageID, &e.Source.IP)
	cleanS(&e.Source.UserAgent)
	cleanS(&e.Risk.TrustReason)
	cleanTyped(&e.Risk.Severity)
	cleanAll(e.Risk.Indicators)
	for i := range e.Risk.Reasons {
		cleanS(&e.Risk.Reasons[i].Indicator)
		cleanS(&e.Risk.Reasons[i].Why)
	}
}

// CleanString is s as CleanText leaves it: each NUL and each byte that does not start a UTF-8
// character replaced by U+FFFD (byte by byte, as encoding/json does).
func CleanString(s string) string {
	if Storable(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == 0 || r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Storable reports whether s is text both stores hold as it is: UTF-8 with no NUL character. The
// API refuses requests whose text is not (api.requestText); the store cleans vendors' text that is
// not (CleanText).
func Storable(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// MaxKeyBytes is the longest address or id an event keeps (ClipKey).
const MaxKeyBytes = 512

// ClipKey is s when it is at most MaxKeyBytes long; a longer s is cut to fit, at a character
// boundary, and ends in "…" and 16 hex digits of its SHA-256, so two long texts that differ only
// after the cut stay two keys, and the same text always clips the same way (a record delivered
// again finds its key). ClipKey of a clipped text is that text.
func ClipKey(s string) string {
	if len(s) <= MaxKeyBytes {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tail := "\u2026" + hex.EncodeToString(sum[:8])
	cut := MaxKeyBytes - len(tail)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + tail
}

// CleanKey is an address or id as events keep it: CleanString, then ClipKey. The stores use it
// for the keys they take from vendors outside events (a drive's id, a file's id in the index, a
// person's destinations), so those agree with the events' own.
func CleanKey(s string) string { return ClipKey(CleanString(s)) }

func clipAll(ps ...*string) {
	for _, p := range ps {
		if len(*p) > MaxKeyBytes {
			*p = ClipKey(*p)
		}
	}
}

func cleanS(p *string) {
	if !Storable(*p) {
		*p = CleanString(*p)
	}
}

func cleanTyped[T ~string](p *T) {
	if !Storable(string(*p)) {
		*p = T(CleanString(string(*p)))
	}
}

func cleanAll(ss []string) {
	for i := range ss {
		cleanS(&ss[i])
	}
}
