package box

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/kit/records"
)

// This file holds the wire shapes of Box event records: entries of GET /2.0/events (enterprise
// streams admin_logs / admin_logs_streaming and the user streams all / changes / sync) and the bodies
// of webhook v2 deliveries. Box's own schema is loose (the spec declares `source` as oneOf six
// shapes, `additional_details` as free-form, and real payloads carry numeric ids where the spec says
// strings), so decoding is done field by field: unknown fields are ignored, null is the same as
// absent, ids may be JSON strings or numbers, and only a wrong type on a field the adapter relies on
// (event_id, event_type, created_at, created_by, source) makes a record undecodable.

// Mini is a Box user, group or folder as nested in other objects (User--Mini, Group--Mini,
// Folder--Mini): every field optional.
type Mini struct {
	Type  string // user, group, folder
	ID    string // a JSON string or number on the wire
	Name  string
	Login string // users only: the primary email address
}

// IsZero reports whether m carries nothing.
func (m Mini) IsZero() bool { return m == Mini{} }

// Source kinds (Source.Kind).
const (
	SourceNone          = ""              // null or absent
	SourceFile          = "file"          // a file: EventSource item_type file, or a File object
	SourceFolder        = "folder"        // a folder: EventSource item_type folder, or a Folder object
	SourceUser          = "user"          // a User object (login, user administration events)
	SourceGroup         = "group"         // a Group object
	SourceWebLink       = "web_link"      // a bookmark
	SourceCollaboration = "collaboration" // a Collaboration object (webhook COLLABORATION.* deliveries)
	SourceAppItem       = "app_item"      // AppItemEventSource
	SourceOther         = "other"         // GenericSource or anything unrecognised
)

// Source is the resource an event is about, whichever of Box's shapes it arrived in:
//
//   - enterprise EventSource {item_type, item_id, item_name, parent, owned_by, classification};
//   - enterprise collaboration events, which carry {folder_id, folder_name} or {file_id, file_name}
//     plus {user_id, user_name} for the collaborator (seen in real COLLABORATION_INVITE records);
//   - a File / Folder object as in the user stream and webhooks (id, name, sha1, size, parent,
//     path_collection, owned_by, shared_link, file_version, times);
//   - a User / Group / Collaboration / AppItem object, or a GenericSource.
type Source struct {
	Kind string // one of the Source* constants
	ID   string
	Name string
	// Parent is the folder holding the item (nil for the root, the trash, or when not given).
	Parent *Mini
	// Path is the folder chain from the root (path_collection), root first; empty when not given.
	Path    []Mini
	OwnedBy *Mini
	SHA1    string // as sent; the adapter keeps it only when it is 40 hex digits
	Size    int64
	HasSize bool
	// VersionNumber is File--Full version_number when present (0 otherwise).
	VersionNumber int64

	Created, Modified               time.Time // created_at, modified_at of a File / Folder object
	ContentCreated, ContentModified time.Time // content_created_at, content_modified_at
	Trashed                         time.Time

	SharedLink     *SharedLink
	Classification string
	Login          string // user sources

	// Collaborator is the person or group a collaboration source grants access to
	// (user_id/user_name of an enterprise collaboration record, accessible_by of a Collaboration).
	Collaborator *Mini
	InviteEmail  string // Collaboration.invite_email: an invitee without a Box account
	Role         string // Collaboration.role
	// Item is the file or folder of a Collaboration source.
	Item *Mini
	Raw  json.RawMessage
}

// SharedLink is the part of a File / Folder shared_link the adapter uses.
type SharedLink struct {
	URL             string
	Access          string // open, company, collaborators
	EffectiveAccess string
}

// Record is one Box event record, decoded leniently (unknown fields ignored, created_by/source may be
// null, source polymorphic: enterprise EventSource {item_type,item_id,item_name,parent,owned_by}, or a
// File / Folder / User object as in the user stream, or absent). Raw keeps the exact bytes.
//
// A webhook v2 body ({"type":"webhook_event","id","trigger","source",...}) decodes into the same
// Record: EventID is the delivery's body id (stable across retries), EventType the trigger
// (FILE.UPLOADED, ...) and Webhook the webhook id.
type Record struct {
	Type       string // "event", or "webhook_event" for a webhook body
	EventID    string
	EventType  string
	CreatedAt  time.Time
	RecordedAt time.Time
	CreatedBy  Mini
	ActionBy   *Mini // the admin who acted for created_by, when Box says
	IPAddress  string
	SessionID  string
	Source     Source
	// AccessibleBy is the collaborator of enterprise collaboration events (top-level accessible_by).
	AccessibleBy *Mini
	// AdditionalDetails is the free-form additional_details object (enterprise events), numbers as
	// json.Number. A JSON string holding an object (as some log pipelines store it) is unwrapped.
	AdditionalDetails map[string]any
	Webhook           string // webhook bodies: the webhook id
	Raw               json.RawMessage
}

// DecodeRecord decodes one Box event record (or webhook body). Errors name the field:
// `box record: created_at "x" is not RFC 3339`.
func DecodeRecord(raw []byte) (Record, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return Record{}, fmt.Errorf("box record: %s", records.Problem(err))
	}
	if top == nil {
		return Record{}, fmt.Errorf("box record: want a JSON object, got null")
	}
	return decodeRecordFields(top, raw)
}

func decodeRecordFields(top map[string]json.RawMessage, raw []byte) (Record, error) {
	r := Record{Raw: json.RawMessage(bytes.Clone(raw))}
	var err error
	if r.Type, err = wireString(top, "type"); err != nil {
		return Record{}, err
	}
	if r.EventID, err = wireID(top, "event_id"); err != nil {
		return Record{}, err
	}
	if r.EventType, err = wireString(top, "event_type"); err != nil {
		return Record{}, err
	}
	if r.CreatedAt, err = wireTime(top, "created_at"); err != nil {
		return Record{}, err
	}
	if r.RecordedAt, err = wireTime(top, "recorded_at"); err != nil {
		r.RecordedAt = time.Time{} // informational only: never fatal
	}
	if r.EventID == "" && r.EventType == "" {
		// A webhook v2 body: id + trigger instead of event_id + event_type.
		if _, ok := top["trigger"]; ok || r.Type == "webhook_event" {
			if r.EventID, err = wireID(top, "id"); err != nil {
				return Record{}, err
			}
			if r.EventType, err = wireString(top, "trigger"); err != nil {
				return Record{}, err
			}
			if w := wireObject(top["webhook"]); w != nil {
				r.Webhook = looseID(w["id"])
			}
		}
	}
	cb, err := wireMini(top, "created_by")
	if err != nil {
		return Record{}, err
	}
	if cb != nil {
		r.CreatedBy = *cb
	}
	r.ActionBy, _ = wireMini(top, "action_by")
	r.AccessibleBy, _ = wireMini(top, "accessible_by")
	r.IPAddress = looseString(top["ip_address"])
	r.SessionID = looseString(top["session_id"])
	if r.Source, err = decodeSource(top["source"]); err != nil {
		return Record{}, err
	}
	r.AdditionalDetails = decodeDetails(top["additional_details"])
	if r.AdditionalDetails == nil {
		r.AdditionalDetails = decodeDetails(top["additional_info"]) // webhook bodies
	}
	return r, nil
}

// decodeSource decodes the polymorphic source field.
func decodeSource(raw json.RawMessage) (Source, error) {
	if records.IsNull(raw) {
		return Source{}, nil
	}
	m := wireObject(raw)
	if m == nil {
		return Source{}, fmt.Errorf("box record: source: want an object or null, got %s", records.Kind(raw))
	}
	s := Source{Raw: json.RawMessage(bytes.Clone(raw))}
	typ := looseString(m["type"])
	switch {
	case m["item_type"] != nil || m["item_id"] != nil:
		// Enterprise EventSource.
		s.Kind = strings.ToLower(looseString(m["item_type"]))
		s.ID = looseID(m["item_id"])
		s.Name = looseString(m["item_name"])
		if s.Kind == "" {
			s.Kind = SourceOther
		}
	case m["folder_id"] != nil || m["file_id"] != nil:
		// Enterprise collaboration records: {folder_id, folder_name | file_id, file_name, user_id, user_name}.
		if m["file_id"] != nil && !records.IsNull(m["file_id"]) {
			s.Kind, s.ID, s.Name = SourceFile, looseID(m["file_id"]), looseString(m["file_name"])
		} else {
			s.Kind, s.ID, s.Name = SourceFolder, looseID(m["folder_id"]), looseString(m["folder_name"])
		}
		if id, name := looseID(m["user_id"]), looseString(m["user_name"]); id != "" || name != "" {
			s.Collaborator = &Mini{Type: "user", ID: id, Name: name, Login: looseString(m["user_login"])}
		}
		if id, name := looseID(m["group_id"]), looseString(m["group_name"]); s.Collaborator == nil && (id != "" || name != "") {
			s.Collaborator = &Mini{Type: "group", ID: id, Name: name}
		}
	default:
		s.Kind = strings.ToLower(typ)
		s.ID = looseID(m["id"])
		s.Name = looseString(m["name"])
		switch s.Kind {
		case SourceFile, SourceFolder, SourceUser, SourceGroup, SourceWebLink, SourceCollaboration, SourceAppItem:
		default:
			s.Kind = SourceOther
		}
	}
	s.Parent = miniOf(m["parent"])
	s.OwnedBy = miniOf(m["owned_by"])
	if pc := wireObject(m["path_collection"]); pc != nil {
		var entries []json.RawMessage
		if json.Unmarshal(pc["entries"], &entries) == nil {
			for _, e := range entries {
				if f := miniOf(e); f != nil {
					s.Path = append(s.Path, *f)
				}
			}
		}
	}
	s.SHA1 = looseString(m["sha1"])
	if s.SHA1 == "" {
		if fv := wireObject(m["file_version"]); fv != nil {
			s.SHA1 = looseString(fv["sha1"])
		}
	}
	s.Size, s.HasSize = looseInt(m["size"])
	s.VersionNumber, _ = looseInt(m["version_number"])
	s.Created = looseTime(m["created_at"])
	s.Modified = looseTime(m["modified_at"])
	s.ContentCreated = looseTime(m["content_created_at"])
	s.ContentModified = looseTime(m["content_modified_at"])
	s.Trashed = looseTime(m["trashed_at"])
	if sl := wireObject(m["shared_link"]); sl != nil {
		s.SharedLink = &SharedLink{
			URL:             looseString(sl["url"]),
			Access:          looseString(sl["access"]),
			EffectiveAccess: looseString(sl["effective_access"]),
		}
	}
	if c := wireObject(m["classification"]); c != nil {
		s.Classification = looseString(c["name"])
	}
	if s.Kind == SourceUser {
		s.Login = looseString(m["login"])
	}
	if s.Kind == SourceCollaboration {
		s.Collaborator = miniOf(m["accessible_by"])
		s.InviteEmail = looseString(m["invite_email"])
		s.Role = looseString(m["role"])
		s.Item = miniOf(m["item"])
	}
	return s, nil
}

// decodeDetails decodes additional_details: an object, or a string holding one; anything else is nil.
func decodeDetails(raw json.RawMessage) map[string]any {
	if records.IsNull(raw) {
		return nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		raw = []byte(strings.TrimSpace(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return nil
	}
	return m
}

// wireString reads a string field; null and absent are "". A number or bool is a type error.
func wireString(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := m[key]
	if !ok || records.IsNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("box record: %s: want a string, got %s", key, records.Kind(raw))
	}
	return strings.TrimSpace(s), nil
}

// wireID reads an id: a string or a number (kept as written).
func wireID(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := m[key]
	if !ok || records.IsNull(raw) {
		return "", nil
	}
	if id, ok := idOf(raw); ok {
		return id, nil
	}
	return "", fmt.Errorf("box record: %s: want a string or a number, got %s", key, records.Kind(raw))
}

// wireTime reads an RFC 3339 time field.
func wireTime(m map[string]json.RawMessage, key string) (time.Time, error) {
	s, err := wireString(m, key)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("box record: %s %q is not RFC 3339 (want e.g. 2022-12-12T10:53:43-08:00)", key, s)
	}
	if !timeInRange(t) {
		return time.Time{}, fmt.Errorf("box record: %s %q is out of range (want a year from 1 to 9999 in UTC)", key, s)
	}
	return t, nil
}

// timeInRange reports whether t can be stored and printed as RFC 3339 in UTC.
func timeInRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

// wireMini reads a user/group mini object; null or absent is nil, another type an error.
func wireMini(m map[string]json.RawMessage, key string) (*Mini, error) {
	raw, ok := m[key]
	if !ok || records.IsNull(raw) {
		return nil, nil
	}
	if wireObject(raw) == nil {
		return nil, fmt.Errorf("box record: %s: want an object or null, got %s", key, records.Kind(raw))
	}
	return miniOf(raw), nil
}

// miniOf decodes a mini object leniently; nil when raw is not an object or carries nothing.
func miniOf(raw json.RawMessage) *Mini {
	m := wireObject(raw)
	if m == nil {
		return nil
	}
	out := Mini{
		Type:  looseString(m["type"]),
		ID:    looseID(m["id"]),
		Name:  looseString(m["name"]),
		Login: looseString(m["login"]),
	}
	if out.Login == "" {
		out.Login = looseString(m["email"]) // Shield alert users carry email, not login
	}
	if out.IsZero() {
		return nil
	}
	return &out
}

// wireObject decodes raw as an object; nil when it is anything else.
func wireObject(raw json.RawMessage) map[string]json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// looseString is raw as a string when it is one, "" otherwise.
func looseString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// looseID is raw as an id (string or number), "" otherwise.
func looseID(raw json.RawMessage) string {
	id, _ := idOf(raw)
	return id
}

func idOf(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return strings.TrimSpace(s), true
	case c == '-' || c >= '0' && c <= '9':
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

// looseInt is raw as an integer (a JSON number or a numeric string).
func looseInt(raw json.RawMessage) (int64, bool) {
	id, ok := idOf(raw)
	if !ok || id == "" {
		return 0, false
	}
	return parseCount(id)
}

// parseCount parses a non-negative integer written as digits (or as a float with no fraction).
func parseCount(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, n >= 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1<<62 || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

// looseTime is raw as an RFC 3339 time, zero otherwise.
func looseTime(raw json.RawMessage) time.Time {
	s := looseString(raw)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || !timeInRange(t) {
		return time.Time{}
	}
	return t
}
