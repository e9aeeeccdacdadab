package jira

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAnswersLikeJira: the emulator answers with the shapes of Atlassian's documented examples:
// CreatedIssue {id, key, self}, the enhanced search's {issues, isLast} (nextPageToken only when
// there is a next page), the ErrorCollection {errorMessages, errors} on 400, 401, 404 and 429
// (with Retry-After and X-RateLimit-Reset), and ADF required in v3.
func TestAnswersLikeJira(t *testing.T) {
	emu := New(Options{Email: "a@corp.example", Token: "tok", Projects: []string{"SEC"}, Now: func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	do := func(method, path, body, token string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.SetBasicAuth("a@corp.example", token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
		return resp, m
	}
	collection := func(m map[string]any) bool {
		_, a := m["errorMessages"].([]any)
		_, b := m["errors"].(map[string]any)
		return a && b && len(m) == 2
	}
	doc := `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"hi"}]}]}`
	if resp, m := do("GET", "/rest/api/3/myself", "", "bad"); resp.StatusCode != 401 || !collection(m) {
		t.Errorf("401: %d %v", resp.StatusCode, m)
	}
	resp, m := do("POST", "/rest/api/3/issue", `{"fields":{"project":{"key":"SEC"},"issuetype":{"name":"Task"},"summary":"s","description":`+doc+`,"labels":["telltale-k1"]}}`, "tok")
	if resp.StatusCode != 201 || m["key"] != "SEC-1" || m["id"] == "" || !strings.HasSuffix(m["self"].(string), "/rest/api/3/issue/"+m["id"].(string)) || len(m) != 3 {
		t.Errorf("create: %d %v", resp.StatusCode, m)
	}
	resp, m = do("POST", "/rest/api/3/issue", `{"fields":{"project":{"key":"NOPE"},"issuetype":{"name":"Task"},"summary":"","description":"plain text","labels":["a b"]}}`, "tok")
	errs, _ := m["errors"].(map[string]any)
	if resp.StatusCode != 400 || !collection(m) || errs["project"] == nil || errs["summary"] == nil || errs["description"] == nil || errs["labels"] == nil {
		t.Errorf("a bad issue: %d %v", resp.StatusCode, m)
	}
	empty := `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":""}]}]}`
	if resp, m = do("POST", "/rest/api/3/issue/SEC-1/comment", `{"body":`+empty+`}`, "tok"); resp.StatusCode != 400 {
		t.Errorf("an empty text node: %d %v", resp.StatusCode, m)
	}
	if resp, m = do("POST", "/rest/api/3/issue/SEC-1/comment", `{"body":`+doc+`}`, "tok"); resp.StatusCode != 201 || m["id"] == nil || m["body"] == nil || m["created"] == nil {
		t.Errorf("comment: %d %v", resp.StatusCode, m)
	}
	if resp, m = do("POST", "/rest/api/3/issue/SEC-9/comment", `{"body":`+doc+`}`, "tok"); resp.StatusCode != 404 || !collection(m) {
		t.Errorf("comment on a missing issue: %d %v", resp.StatusCode, m)
	}
	resp, m = do("POST", "/rest/api/3/search/jql", `{"jql":"project = \"SEC\" AND labels = \"telltale-k1\"","fields":["summary"],"maxResults":1}`, "tok")
	issues, _ := m["issues"].([]any)
	if resp.StatusCode != 200 || len(issues) != 1 || m["isLast"] != true || m["nextPageToken"] != nil {
		t.Errorf("search: %v", m)
	}
	if resp, m = do("POST", "/rest/api/3/search/jql", `{"jql":"labels ~ telltale"}`, "tok"); resp.StatusCode != 400 || !collection(m) {
		t.Errorf("JQL the emulator does not understand: %d %v", resp.StatusCode, m)
	}
	emu.Fail(Fault{RateLimit: 2 * time.Minute})
	if resp, m = do("GET", "/rest/api/3/myself", "", "tok"); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "120" ||
		resp.Header.Get("X-RateLimit-Reset") != "2026-12-01T09:02Z" || !collection(m) {
		t.Errorf("429: %d %v %v", resp.StatusCode, resp.Header, m)
	}
}
