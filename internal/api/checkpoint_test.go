package api_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/store"
)

func checkpointOf(t *testing.T, body []byte) client.Checkpoint {
	t.Helper()
	var c client.Checkpoint
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("checkpoint %s: %v", body, err)
	}
	return c
}

// TestCheckpointOwnership (issue 12, defect 4): a checkpoint belongs to the user who created it;
// another user cannot read, move or delete it, an admin can; an acknowledgement beyond the newest
// event is refused naming after_id; the owner can reset it backwards and delete it; every change
// is audited with the old and new position.
func TestCheckpointOwnership(t *testing.T) {
	f := newFixture(t)
	evs := seedEvents(t, f, 20, 7)
	newest, err := f.app.Store.NewestEventID(context.Background())
	if err != nil || newest < int64(len(evs)) {
		t.Fatalf("newest event id %d %v", newest, err)
	}
	top := strconv.FormatInt(newest, 10)
	owner, other := f.userToken(t, auth.RoleAnalyst), f.userToken(t, auth.RoleIntegration)
	path := "/api/v1/export-checkpoints/siem"

	code, body := f.do(t, owner, "PUT", path, client.Checkpoint{AfterID: top})
	if c := checkpointOf(t, body); code != 200 || c.AfterID != top || c.Owner != "user-analyst" {
		t.Fatalf("create: %d %s", code, body)
	}
	// Beyond the newest event: refused, naming the field and the newest id; nothing changes.
	code, body = f.do(t, owner, "PUT", path, client.Checkpoint{AfterID: "9223372036854775807"})
	if p := problem(t, body); code != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "after_id" || !strings.Contains(p.Detail, "newest event id ("+top+")") {
		t.Errorf("beyond the newest event: %d %+v", code, p)
	}
	// Another user: the checkpoint is not theirs to see, move, delete or export with.
	if code, body = f.do(t, other, "GET", path, nil); code != 404 {
		t.Errorf("another user reads it: %d %s", code, body)
	}
	if code, body = f.do(t, other, "PUT", path, client.Checkpoint{AfterID: "1", Reset: true}); code != 409 {
		t.Errorf("another user moves it: %d %s", code, body)
	}
	if code, body = f.do(t, other, "DELETE", path, nil); code != 404 {
		t.Errorf("another user deletes it: %d %s", code, body)
	}
	if code, body = f.do(t, other, "POST", "/api/v1/file-events/export", client.ExportRequest{Format: "jsonl", Checkpoint: "siem"}); code != 409 {
		t.Errorf("another user exports with it: %d %s", code, body)
	}
	if _, body = f.do(t, other, "GET", "/api/v1/export-checkpoints", nil); strings.Contains(string(body), "siem") {
		t.Errorf("another user lists it: %s", body)
	}
	// The owner's checkpoint did not move; an admin sees it and its owner.
	code, body = f.do(t, f.admin, "GET", path, nil)
	if c := checkpointOf(t, body); code != 200 || c.AfterID != top || c.Owner != "user-analyst" {
		t.Errorf("admin reads it: %d %s", code, body)
	}
	if _, body = f.do(t, f.admin, "GET", "/api/v1/export-checkpoints", nil); !strings.Contains(string(body), "siem") {
		t.Errorf("admin list: %s", body)
	}
	// An acknowledgement never moves back; an explicit reset does, and the export follows it.
	if _, body = f.do(t, owner, "PUT", path, client.Checkpoint{AfterID: "1"}); checkpointOf(t, body).AfterID != top {
		t.Errorf("acknowledgement moved back: %s", body)
	}
	reset := strconv.FormatInt(newest-3, 10)
	if code, body = f.do(t, owner, "PUT", path, client.Checkpoint{AfterID: reset, Reset: true}); code != 200 || checkpointOf(t, body).AfterID != reset {
		t.Errorf("reset: %d %s", code, body)
	}
	code, body = f.do(t, owner, "POST", "/api/v1/file-events/export", client.ExportRequest{Format: "jsonl", Checkpoint: "siem"})
	if n := strings.Count(string(body), "\n"); code != 200 || n != 3 {
		t.Errorf("export after the reset: %d, %d events, want 3", code, n)
	}
	// The owner deletes it; it is gone.
	if code, body = f.do(t, owner, "DELETE", path, nil); code != 204 {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, _ = f.do(t, owner, "GET", path, nil); code != 404 {
		t.Errorf("after delete: %d", code)
	}
	// Every change is audited, with the positions.
	_, body = f.do(t, f.admin, "GET", "/api/v1/audit?action=file_events.checkpoint", nil)
	var audit client.AuditList
	json.Unmarshal(body, &audit)
	seen := map[string]bool{}
	for _, e := range audit.Items {
		seen[e.Action+" "+e.Outcome] = true
		if e.Action == "file_events.checkpoint" && e.Outcome == "ok" && strings.Contains(string(e.Details), `"reset":true`) &&
			!strings.Contains(string(e.Details), `"old_after_id":`+top) {
			t.Errorf("reset audited without the old position: %s", e.Details)
		}
	}
	for _, want := range []string{"file_events.checkpoint ok", "file_events.checkpoint 422 Unprocessable Entity", "file_events.checkpoint 409 Conflict",
		"file_events.checkpoint.delete ok", "file_events.checkpoint.delete 404 Not Found"} {
		if !seen[want] {
			t.Errorf("audit has no %q: %s", want, body)
		}
	}
}

// TestCheckpointWithoutOwner: a checkpoint created before owners were recorded is adopted by the
// first non-admin user who uses it; an admin using it does not take it.
func TestCheckpointWithoutOwner(t *testing.T) {
	f := newFixture(t)
	seedEvents(t, f, 5, 8)
	if _, err := f.app.Store.CreateCheckpoint(context.Background(), store.Checkpoint{Name: "legacy", AfterID: 2}); err != nil {
		t.Fatal(err)
	}
	first, second := f.userToken(t, auth.RoleIntegration), f.userToken(t, auth.RoleAnalyst)
	if code, body := f.do(t, f.admin, "PUT", "/api/v1/export-checkpoints/legacy", client.Checkpoint{AfterID: "3"}); code != 200 || checkpointOf(t, body).Owner != "" {
		t.Errorf("admin acknowledges: %d %s", code, body)
	}
	code, body := f.do(t, first, "POST", "/api/v1/file-events/export", client.ExportRequest{Format: "jsonl", Checkpoint: "legacy"})
	if n := strings.Count(string(body), "\n"); code != 200 || n != 2 {
		t.Errorf("first user exports with it: %d, %d events, want 2", code, n)
	}
	if code, body = f.do(t, first, "GET", "/api/v1/export-checkpoints/legacy", nil); code != 200 || checkpointOf(t, body).Owner != "user-integration" {
		t.Errorf("adopted: %d %s", code, body)
	}
	if code, body = f.do(t, second, "PUT", "/api/v1/export-checkpoints/legacy", client.Checkpoint{AfterID: "4"}); code != 409 {
		t.Errorf("second user after the adoption: %d %s", code, body)
	}
}
