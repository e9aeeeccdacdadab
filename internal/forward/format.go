package forward

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// Payload formats.
const (
	FormatJSON = "json" // Telltale's event schema (docs/ARCHITECTURE.md), as the API prints it
	FormatCEF  = "cef"  // ArcSight Common Event Format, one line per event
	FormatOCSF = "ocsf" // OCSF 1.8.0: File Hosting Activity (6006), Email Activity (4009) for emailed files
)

// Formats lists the payload formats.
func Formats() []string { return []string{FormatJSON, FormatCEF, FormatOCSF} }

// Record is one formatted event: its stable id (event.id, which every format also carries inside
// the payload, so a receiver can drop a repeat after a retry), its time and its payload.
type Record struct {
	ID   int64
	Time time.Time
	// Body is the payload: a JSON object (json, ocsf) or a CEF line (cef).
	Body []byte
	// Class names the record's kind (a token for a sourcetype or a syslog MSGID): "file_event",
	// "alert", "audit", "device_health", "connection_status", or the OCSF class
	// ("file_hosting_activity", "email_activity", "detection_finding", "api_activity",
	// "entity_management", "inventory_info").
	Class string
	// IDName names ID where a sink carries it beside the payload (the syslog structured-data
	// parameter, the HEC index-time field): "event_id" (the default, when empty), "alert_id",
	// "audit_id", "device_health_id" or "status_change_id", so that ids of different streams
	// never look like the same record.
	IDName string
	// Updated marks a file event sent again because a later report rewrote it (an enriched actor,
	// a new risk): sinks carry updated="true" beside the id, and the payload is the event as it is now.
	Updated bool
}

// idName is r's IDName, event_id by default.
func (r *Record) idName() string {
	if r.IDName == "" {
		return "event_id"
	}
	return r.IDName
}

// Format renders e in format f. Version is Telltale's version, named in CEF headers and OCSF metadata.
func Format(f, version string, e *event.FileEvent) (Record, error) {
	r := Record{ID: e.Event.ID, Time: e.Timestamp, Class: "file_event"}
	var err error
	switch f {
	case FormatJSON:
		r.Body, err = json.Marshal(e)
	case FormatCEF:
		r.Body = CEF(version, e)
	case FormatOCSF:
		o := OCSF(version, e)
		r.Class = strings.ToLower(strings.ReplaceAll(o.ClassName, " ", "_"))
		r.Body, err = json.Marshal(o)
	default:
		err = fmt.Errorf("forward: unknown format %q (want json, cef or ocsf)", f)
	}
	return r, err
}

// ---- CEF ----

// cefSeverity maps Telltale's severity to CEF's 0-10 scale.
func cefSeverity(s event.Severity) string {
	switch s {
	case event.SeverityLow:
		return "3"
	case event.SeverityModerate:
		return "5"
	case event.SeverityHigh:
		return "8"
	case event.SeverityCritical:
		return "10"
	}
	return "1"
}

// CEFHeaderEscape escapes a CEF header field: backslash and pipe are escaped with a backslash;
// a line break (which a header cannot hold) becomes a space.
func CEFHeaderEscape(s string) string {
	if !strings.ContainsAny(s, "\\|\r\n") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '|':
			b.WriteString(`\|`)
		case '\r', '\n':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CEFValueEscape escapes a CEF extension value: backslash and equals sign are escaped with a
// backslash, a line feed is \n and a carriage return \r. A pipe is not escaped in extensions.
func CEFValueEscape(s string) string {
	if !strings.ContainsAny(s, "\\=\r\n") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '=':
			b.WriteString(`\=`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CEF renders e as one CEF:0 line (no syslog header): Device Event Class ID is the action, Name
// says what happened, and the extension uses the standard keys (externalId is the event id).
func CEF(version string, e *event.FileEvent) []byte {
	return cefLine(version, string(e.Event.Action), "File "+strings.TrimPrefix(string(e.Event.Action), "file-"), cefSeverity(e.Risk.Severity),
		func(kv func(k, v string)) { cefFileEvent(kv, e) })
}

// cefLine renders one CEF:0 line: the header with Telltale as vendor and product, then the
// extension that ext writes through kv (empty values are left out; values are escaped).
func cefLine(version, classID, name, severity string, ext func(kv func(k, v string))) []byte {
	var b strings.Builder
	b.Grow(512)
	b.WriteString("CEF:0|Telltale|Telltale|")
	b.WriteString(CEFHeaderEscape(version))
	b.WriteByte('|')
	b.WriteString(CEFHeaderEscape(classID))
	b.WriteByte('|')
	b.WriteString(CEFHeaderEscape(name))
	b.WriteByte('|')
	b.WriteString(severity)
	b.WriteByte('|')
	first := true
	ext(func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(CEFValueEscape(v))
	})
	return []byte(b.String())
}

// cefFileEvent writes a file event's CEF extension.
func cefFileEvent(kv func(k, v string), e *event.FileEvent) {
	kv("externalId", strconv.FormatInt(e.Event.ID, 10))
	kv("rt", strconv.FormatInt(e.Timestamp.UnixMilli(), 10))
	kv("act", string(e.Event.Action))
	kv("suser", e.User.Email)
	kv("suid", e.User.VendorID)
	kv("fname", e.File.Name)
	kv("filePath", e.File.Path)
	kv("fileId", e.File.ID)
	if e.File.Size > 0 {
		kv("fsize", strconv.FormatInt(e.File.Size, 10))
	}
	kv("fileType", e.File.MimeType)
	kv("fileHash", e.File.Hash.SHA256)
	if !e.File.Modified.IsZero() {
		kv("fileModificationTime", strconv.FormatInt(e.File.Modified.UnixMilli(), 10))
	}
	kv("src", e.Source.IP)
	kv("requestClientApplication", e.Source.UserAgent)
	dst := e.Sharing.SharedWith
	if len(e.Email.Recipients) > 0 {
		dst = e.Email.Recipients
	}
	kv("duser", strings.Join(dst, ","))
	kv("msg", e.Email.Subject)
	kv("cat", string(e.File.Category))
	kv("dvchost", string(e.Event.Observer))
	labels := [...]struct{ n, label, v string }{
		{"cs1", "linkScope", string(e.Sharing.LinkScope)},
		{"cs2", "exposure", joinExposure(e.Sharing.Exposure)},
		{"cs3", "connection", e.Event.ConnectionName},
		{"cs4", "indicators", strings.Join(e.Risk.Indicators, ",")},
		{"cs5", "fileOwner", e.File.Owner},
		{"cs6", "md5", e.File.Hash.MD5},
	}
	for _, l := range labels {
		if l.v != "" {
			kv(l.n+"Label", l.label)
			kv(l.n, l.v)
		}
	}
	if e.Risk.Score > 0 {
		kv("cn1Label", "riskScore")
		kv("cn1", strconv.Itoa(e.Risk.Score))
	}
}

func joinExposure(xs []event.Exposure) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}
