package servicenow

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAnswersLikeServiceNow: the emulator answers with the shapes of ServiceNow's documented
// examples: {"result":...} with string values, 201 with a Location on create, the error envelope
// {"error":{"message","detail"},"status":"failure"} on 401, 404 and 429 (with Retry-After and the
// X-RateLimit headers), and the OAuth token endpoint's answers.
func TestAnswersLikeServiceNow(t *testing.T) {
	emu := New(Options{Users: map[string]string{"u": "p"}, Clients: map[string]string{"c": "s"}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	do := func(method, path, body, user, pass string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
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
	isFailure := func(m map[string]any, msg string) bool {
		e, _ := m["error"].(map[string]any)
		_, hasDetail := e["detail"].(string)
		return m["status"] == "failure" && e["message"] == msg && hasDetail && len(m) == 2 && len(e) == 2
	}
	if resp, m := do("GET", "/api/now/table/incident", "", "u", "wrong"); resp.StatusCode != 401 || !isFailure(m, "User Not Authenticated") {
		t.Errorf("401: %d %v", resp.StatusCode, m)
	}
	resp, m := do("POST", "/api/now/table/incident", `{"short_description":"x","correlation_id":"k1","urgency":1,"nonsense":"y"}`, "u", "p")
	res, _ := m["result"].(map[string]any)
	if resp.StatusCode != 201 || !strings.Contains(resp.Header.Get("Location"), "/api/now/table/incident/") || res["urgency"] != "1" || res["correlation_id"] != "k1" ||
		res["nonsense"] != nil || !strings.HasPrefix(res["number"].(string), "INC") {
		t.Errorf("create: %d %v", resp.StatusCode, m)
	}
	sysID := res["sys_id"].(string)
	resp, m = do("GET", "/api/now/table/incident?sysparm_query="+url.QueryEscape("correlation_id=k1")+"&sysparm_fields=sys_id,number", "", "u", "p")
	list, _ := m["result"].([]any)
	if resp.StatusCode != 200 || len(list) != 1 || len(list[0].(map[string]any)) != 2 || resp.Header.Get("X-Total-Count") != "1" {
		t.Errorf("search: %v", m)
	}
	if _, m = do("GET", "/api/now/table/incident?sysparm_query=correlation_id=nope", "", "u", "p"); len(m["result"].([]any)) != 0 {
		t.Errorf("search for nothing: %v", m)
	}
	if resp, m = do("PATCH", "/api/now/table/incident/"+sysID, `{"state":"6"}`, "u", "p"); resp.StatusCode != 403 || !isFailure(m, "Operation Failed") {
		t.Errorf("resolve without a close code: %d %v", resp.StatusCode, m)
	}
	if resp, _ = do("PATCH", "/api/now/table/incident/"+sysID, `{"state":"2","work_notes":"first note"}`, "u", "p"); resp.StatusCode != 200 {
		t.Errorf("a work note: %d", resp.StatusCode)
	}
	if _, m = do("GET", "/api/now/table/incident/"+sysID+"?sysparm_fields=work_notes", "", "u", "p"); m["result"].(map[string]any)["work_notes"] != "" {
		t.Errorf("a journal's value: %v", m)
	}
	if _, m = do("GET", "/api/now/table/incident/"+sysID+"?sysparm_fields=work_notes&sysparm_display_value=true", "", "u", "p"); !strings.Contains(m["result"].(map[string]any)["work_notes"].(string), "(Work notes)\nfirst note") {
		t.Errorf("a journal's display value: %v", m)
	}
	if resp, m = do("PATCH", "/api/now/table/incident/nope", `{"state":"2"}`, "u", "p"); resp.StatusCode != 404 || !isFailure(m, "No Record found") {
		t.Errorf("404: %d %v", resp.StatusCode, m)
	}
	emu.Fail(Fault{RateLimit: 90 * time.Second})
	if resp, m = do("GET", "/api/now/table/incident", "", "u", "p"); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "90" ||
		resp.Header.Get("X-RateLimit-Reset") == "" || resp.Header.Get("X-RateLimit-Limit") == "" || !isFailure(m, "Rate limit exceeded") {
		t.Errorf("429: %d %v %v", resp.StatusCode, resp.Header, m)
	}
	token := func(form url.Values) (int, map[string]any) {
		resp, err := http.PostForm(srv.URL+"/oauth_token.do", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := token(url.Values{"grant_type": {"password"}, "client_id": {"c"}, "client_secret": {"s"}, "username": {"u"}, "password": {"p"}}); code != 200 ||
		m["access_token"] == "" || m["refresh_token"] == nil || m["token_type"] != "Bearer" || m["expires_in"] != float64(1800) {
		t.Errorf("password grant: %d %v", code, m)
	}
	if code, m := token(url.Values{"grant_type": {"password"}, "client_id": {"c"}, "client_secret": {"s"}, "username": {"u"}, "password": {"x"}}); code != 401 ||
		m["error"] != "server_error" || m["error_description"] != "access_denied" {
		t.Errorf("a wrong password: %d %v", code, m)
	}
}
