package box

import (
	"encoding/json"
	"time"
)

// Wire types of the Box API calls the connector makes (from Box's OpenAPI spec, commit c9a878a9:
// schemas Users, User--Full, Groups, GroupMemberships, Items, File--Full, Folder--Mini, Events,
// ClientError, AccessToken). Unknown fields are ignored; only what the connector reads is declared.

// apiError is the ClientError schema of /2.0.
type apiError struct {
	Type      string `json:"type"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// apiUserMini is User--Mini.
type apiUserMini struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Login string `json:"login"`
}

// apiUser is the part of User--Full the connector reads.
type apiUser struct {
	apiUserMini
	Status string `json:"status"` // active, inactive, cannot_delete_edit, cannot_delete_edit_upload
}

// apiUsers is the Users page (marker or offset paging).
type apiUsers struct {
	Entries    []apiUser `json:"entries"`
	NextMarker string    `json:"next_marker"`
	TotalCount int64     `json:"total_count"`
	Offset     int64     `json:"offset"`
	Limit      int64     `json:"limit"`
}

// apiGroup is Group--Mini.
type apiGroup struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// apiGroups is the Groups page (offset paging).
type apiGroups struct {
	Entries    []apiGroup `json:"entries"`
	TotalCount int64      `json:"total_count"`
	Offset     int64      `json:"offset"`
	Limit      int64      `json:"limit"`
}

// apiMemberships is the GroupMemberships page (offset paging).
type apiMemberships struct {
	Entries []struct {
		User apiUserMini `json:"user"`
	} `json:"entries"`
	TotalCount int64 `json:"total_count"`
	Offset     int64 `json:"offset"`
	Limit      int64 `json:"limit"`
}

// apiSharedLink is the shared_link object of a file or folder.
type apiSharedLink struct {
	URL             string `json:"url"`
	Access          string `json:"access"` // open, company, collaborators
	EffectiveAccess string `json:"effective_access"`
}

// apiItem is a File or Folder entry of a folder listing, with the fields the connector asks for.
type apiItem struct {
	Type       string         `json:"type"` // file, folder, web_link
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Size       int64          `json:"size"`
	SHA1       string         `json:"sha1"`
	ModifiedAt *time.Time     `json:"modified_at"`
	OwnedBy    *apiUserMini   `json:"owned_by"`
	SharedLink *apiSharedLink `json:"shared_link"`
}

// apiItems is the Items page of GET /folders/{id}/items (marker or offset paging).
type apiItems struct {
	Entries    []apiItem `json:"entries"`
	NextMarker *string   `json:"next_marker"`
	TotalCount int64     `json:"total_count"`
	Offset     int64     `json:"offset"`
	Limit      int64     `json:"limit"`
}

// apiEvents is the Events page; next_stream_position is a string or an int64 in the spec (anyOf),
// read as json.Number so positions beyond 2^53 survive.
type apiEvents struct {
	ChunkSize          int64             `json:"chunk_size"`
	NextStreamPosition json.RawMessage   `json:"next_stream_position"`
	Entries            []json.RawMessage `json:"entries"`
}

// position returns next_stream_position as a decimal string, whatever its JSON type.
func (e apiEvents) position() (string, bool) {
	raw := e.NextStreamPosition
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, s != ""
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// nower tells the time (the injected clock of connector.Deps).
type nower interface{ Now() time.Time }

// apiWebhooks is the page of GET /webhooks (Webhooks: marker paging of Webhook--Mini).
type apiWebhooks struct {
	Entries []struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		Target struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"target"`
	} `json:"entries"`
	NextMarker *string `json:"next_marker"`
	Limit      int64   `json:"limit"`
}
