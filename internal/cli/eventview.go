package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wireEvent is the part of a file event the CLI prints in its rows.
type wireEvent struct {
	Timestamp time.Time `json:"@timestamp"`
	Event     struct {
		ID         string `json:"id"`
		Action     string `json:"action"`
		Observer   string `json:"observer"`
		Connection string `json:"connection_name"`
	} `json:"event"`
	User struct {
		Email string `json:"email"`
	} `json:"user"`
	File struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Path     string `json:"path"`
		Size     int64  `json:"size"`
		MimeType string `json:"mime_type"`
	} `json:"file"`
	Sharing struct {
		Exposure   []string `json:"exposure"`
		SharedWith []string `json:"shared_with"`
	} `json:"sharing"`
}

// folderMimeTypes are the file.mime_type values that mean the event is about a folder: connectors
// record folders as inode/directory (Box also prefixes the id with "folder:"); Google Drive's own
// type is accepted too.
var folderMimeTypes = []string{"inode/directory", "application/vnd.google-apps.folder"}

func (e *wireEvent) isFolder() bool {
	return slices.Contains(folderMimeTypes, e.File.MimeType) || strings.HasPrefix(e.File.ID, "folder:")
}

// eventHeaders are the columns of an event row. FILE is always the name and PATH always the full
// path (empty when the service did not say where the file is); a folder's name and path end in "/".
var eventHeaders = []string{"ID", "OBSERVED", "ACTION", "ACTOR", "FILE", "PATH", "SIZE", "EXPOSURE", "SHARED WITH", "CONNECTION"}

func eventRow(raw json.RawMessage) ([]string, error) {
	e, err := decodeWireEvent(raw)
	if err != nil {
		return nil, err
	}
	return e.row(), nil
}

func decodeWireEvent(raw json.RawMessage) (wireEvent, error) {
	var e wireEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

func (e *wireEvent) row() []string {
	name, path, size := e.File.Name, e.File.Path, ""
	if e.File.Size > 0 { // 0 is "not known": the JSON leaves it out
		size = strconv.FormatInt(e.File.Size, 10)
	}
	if e.isFolder() {
		name, path, size = withSlash(name), withSlash(path), ""
	}
	return []string{e.Event.ID, ts(e.Timestamp), e.Event.Action, e.User.Email, name, path, size,
		strings.Join(e.Sharing.Exposure, ","), strings.Join(e.Sharing.SharedWith, ","), e.Event.Connection}
}

func withSlash(s string) string {
	if s == "" || strings.HasSuffix(s, "/") {
		return s
	}
	return s + "/"
}

// timeline puts the event among its file's other events (oldest first, as the API sends them) and
// returns the rows with a first column that marks the event's own row with "*".
func timeline(event json.RawMessage, others []json.RawMessage) (table, error) {
	self, err := decodeWireEvent(event)
	if err != nil {
		return table{}, err
	}
	t := table{headers: append([]string{""}, eventHeaders...)}
	placed := false
	place := func() {
		t.rows = append(t.rows, append([]string{"*"}, self.row()...))
		placed = true
	}
	for _, raw := range others {
		o, err := decodeWireEvent(raw)
		if err != nil {
			return table{}, err
		}
		if !placed && before(self, o) {
			place()
		}
		t.rows = append(t.rows, append([]string{""}, o.row()...))
	}
	if !placed {
		place()
	}
	return t, nil
}

// before reports whether a comes before b in a timeline: observed time, then id.
func before(a, b wireEvent) bool {
	if !a.Timestamp.Equal(b.Timestamp) {
		return a.Timestamp.Before(b.Timestamp)
	}
	ai, _ := strconv.ParseInt(a.Event.ID, 10, 64)
	bi, _ := strconv.ParseInt(b.Event.ID, 10, 64)
	return ai < bi
}

// fieldRows flattens a JSON object into FIELD/VALUE rows in the order of its keys: nested objects
// as dotted names (file.hash.sha256), lists of values joined with commas, anything else in a list
// as JSON. Empty values are left out; every field with a value is there, so the table shows what
// the JSON shows.
func fieldRows(raw json.RawMessage) ([][]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var rows [][]string
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				for dec.More() {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					name := k.(string)
					if prefix != "" {
						name = prefix + "." + name
					}
					if err := walk(name); err != nil {
						return err
					}
				}
				_, err = dec.Token() // '}'
				return err
			case '[':
				var items []string
				for dec.More() {
					var x json.RawMessage
					if err := dec.Decode(&x); err != nil {
						return err
					}
					var s string
					if json.Unmarshal(x, &s) != nil {
						s = string(x)
					}
					items = append(items, s)
				}
				if _, err := dec.Token(); err != nil { // ']'
					return err
				}
				if len(items) > 0 {
					rows = append(rows, []string{prefix, strings.Join(items, ",")})
				}
				return nil
			}
		case nil:
		case string:
			if v != "" {
				rows = append(rows, []string{prefix, v})
			}
		default:
			rows = append(rows, []string{prefix, fmt.Sprint(v)})
		}
		return nil
	}
	if err := walk(""); err != nil && err != io.EOF {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return rows, nil
}
