// Package client is the public Go client for Telltale's REST API (/api/v1). It uses only the standard
// library. The command-line interface is built on it; scripts and integrations can import it too.
//
//	c := client.New("http://127.0.0.1:8080", os.Getenv("TELLTALE_TOKEN"))
//	conns, err := c.Connections(ctx)
//
// Errors from the server are *Problem values (RFC 9457) whose message says what to do.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Client talks to one Telltale server.
type Client struct {
	base  string
	token string
	http  *http.Client
	total time.Duration // of an ordinary call
	idle  time.Duration // of a streaming call
}

// New returns a client for the server at base (for example http://127.0.0.1:8080) with an API token,
// DefaultTimeout for ordinary calls and DefaultIdleTimeout for streaming ones (WithTimeouts).
func New(base, token string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{},
		total: DefaultTimeout, idle: DefaultIdleTimeout}
}

// WithHTTPClient replaces the HTTP client (transport, proxy). Its own Timeout, if set, bounds every
// call, streams included: leave it 0 and set the client's timeouts with WithTimeouts.
func (c *Client) WithHTTPClient(h *http.Client) *Client { c.http = h; return c }

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	return c.doLen(ctx, method, path, body, contentType, 0)
}

// doLen is do with the body's length when the caller knows it (> 0), so that the server can refuse
// a body that is too large before it is sent.
func (c *Client) doLen(ctx context.Context, method, path string, body io.Reader, contentType string, length int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if length > 0 && req.ContentLength == 0 {
		req.ContentLength = length
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if te := timeoutCause(ctx, err); te != err {
			return nil, fmt.Errorf("telltale: %s %s: %w", method, path, te)
		}
		return nil, fmt.Errorf("telltale: %s %s: %w (is the server running at %s?)", method, path, err, c.base)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, readProblem(resp)
	}
	return resp, nil
}

func readProblem(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var p Problem
	if json.Unmarshal(b, &p) == nil && p.Status != 0 {
		return &p
	}
	return &Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
}

// stream starts a streaming call: no total timeout, the idle timeout whenever bytes should be
// moving. With upload, body is sent under the idle timeout and the answer is then awaited under the
// total one; otherwise the response headers are awaited under the idle timeout. The caller reads
// and closes the response body.
func (c *Client) stream(ctx context.Context, method, path string, body io.Reader, contentType string, length int64, upload bool) (*http.Response, error) {
	what := "from the server"
	if upload {
		what = "taken by the server"
	}
	wctx, w := newWatchdog(ctx, c.idle, what)
	if upload && body != nil {
		body = &watchedUpload{r: body, w: w, total: c.total}
	} else {
		w.wait() // for the response headers
	}
	resp, err := c.doLen(wctx, method, path, body, contentType, length)
	w.done()
	if err != nil {
		w.stop()
		return nil, err
	}
	w.back(c.idle)
	resp.Body = &watchedBody{body: resp.Body, ctx: wctx, w: w}
	return resp, nil
}

// streamJSON is an upload whose answer is JSON.
func (c *Client) streamJSON(ctx context.Context, method, path string, body io.Reader, contentType string, length int64, out any) error {
	resp, err := c.stream(ctx, method, path, body, contentType, length, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("telltale: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// json is an ordinary call, bounded by the total timeout.
func (c *Client) json(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := c.withTotal(ctx)
	defer cancel()
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, method, path, body, ct)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return timeoutCause(ctx, err)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("telltale: %s %s: decode response: %w", method, path, timeoutCause(ctx, err))
	}
	return nil
}

func id(s string) string { return url.PathEscape(s) }

// Connections lists every data connection.
func (c *Client) Connections(ctx context.Context) ([]Connection, error) {
	var out struct {
		Items []Connection `json:"items"`
	}
	return out.Items, c.json(ctx, "GET", "/api/v1/connections", nil, &out)
}

// Connection returns one connection.
func (c *Client) Connection(ctx context.Context, connID string) (Connection, error) {
	var out Connection
	return out, c.json(ctx, "GET", "/api/v1/connections/"+id(connID), nil, &out)
}

// CreateConnection adds a data connection.
func (c *Client) CreateConnection(ctx context.Context, nc NewConnection) (Connection, error) {
	var out Connection
	return out, c.json(ctx, "POST", "/api/v1/connections", nc, &out)
}

// UpdateConnection changes a connection's display name.
func (c *Client) UpdateConnection(ctx context.Context, connID string, u ConnectionUpdate) (Connection, error) {
	var out Connection
	return out, c.json(ctx, "PATCH", "/api/v1/connections/"+id(connID), u, &out)
}

// Deauthorize stops collection on a connection (R1.6).
func (c *Client) Deauthorize(ctx context.Context, connID string) (Connection, error) {
	var out Connection
	return out, c.json(ctx, "POST", "/api/v1/connections/"+id(connID)+"/deauthorize", struct{}{}, &out)
}

// Resume re-runs setup of a deauthorized connection (R1.7).
func (c *Client) Resume(ctx context.Context, connID string, r ResumeRequest) (Connection, error) {
	var out Connection
	return out, c.json(ctx, "POST", "/api/v1/connections/"+id(connID)+"/resume", r, &out)
}

// SetMaintenance starts or ends maintenance.
func (c *Client) SetMaintenance(ctx context.Context, connID string, on bool) (Connection, error) {
	var out Connection
	return out, c.json(ctx, "POST", "/api/v1/connections/"+id(connID)+"/maintenance", MaintenanceRequest{Enabled: on}, &out)
}

// DeleteConnection deletes a deauthorized connection and everything collected through it.
func (c *Client) DeleteConnection(ctx context.Context, connID string) error {
	return c.json(ctx, "DELETE", "/api/v1/connections/"+id(connID), nil, nil)
}

// StatusHistory returns a connection's status history, oldest first.
func (c *Client) StatusHistory(ctx context.Context, connID string) ([]StatusChange, error) {
	var out struct {
		Items []StatusChange `json:"items"`
	}
	return out.Items, c.json(ctx, "GET", "/api/v1/connections/"+id(connID)+"/history", nil, &out)
}

// UploadScope replaces the scope list of a deauthorized connection with a CSV of kind users or groups.
// It is a streaming call (the idle timeout, no total one).
func (c *Client) UploadScope(ctx context.Context, connID, kind string, csv io.Reader) (Connection, error) {
	var out Connection
	return out, c.streamJSON(ctx, "PUT", "/api/v1/connections/"+id(connID)+"/scope?kind="+url.QueryEscape(kind), csv, "text/csv", 0, &out)
}

// DownloadScope writes the connection's scope as CSV to w (R2.10). It is a streaming call (the idle
// timeout, no total one).
func (c *Client) DownloadScope(ctx context.Context, connID string, w io.Writer) error {
	path := "/api/v1/connections/" + id(connID) + "/scope"
	resp, err := c.stream(ctx, "GET", path, nil, "", 0, false)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err = io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("telltale: GET %s: %w", path, err)
	}
	return nil
}

// Drives lists a page of a connection's drives (kind "drives") or mailboxes (kind "mailboxes").
func (c *Client) Drives(ctx context.Context, connID, kind, after string, limit int) (DriveList, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	var out DriveList
	return out, c.json(ctx, "GET", "/api/v1/connections/"+id(connID)+"/"+kind+"?"+q.Encode(), nil, &out)
}

// Settings returns the organization settings.
func (c *Client) Settings(ctx context.Context) (Settings, error) {
	var out Settings
	return out, c.json(ctx, "GET", "/api/v1/settings", nil, &out)
}

// PutSettings replaces the organization settings.
func (c *Client) PutSettings(ctx context.Context, s Settings) (Settings, error) {
	var out Settings
	return out, c.json(ctx, "PUT", "/api/v1/settings", s, &out)
}

// Me describes the caller.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var out Me
	return out, c.json(ctx, "GET", "/api/v1/me", nil, &out)
}

// Users lists login users and service accounts.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var out struct {
		Items []User `json:"items"`
	}
	return out.Items, c.json(ctx, "GET", "/api/v1/users", nil, &out)
}

// CreateUser adds a user or service account.
func (c *Client) CreateUser(ctx context.Context, u NewUser) (User, error) {
	var out User
	return out, c.json(ctx, "POST", "/api/v1/users", u, &out)
}

// ResetPassword sets a user's password (admins); the user must change it at the next sign-in, and
// a sign-in lockout of the user ends.
func (c *Client) ResetPassword(ctx context.Context, userID, password string) error {
	return c.json(ctx, "POST", "/api/v1/users/"+id(userID)+"/password", PasswordChange{New: password}, nil)
}

// CreateToken creates an API token for the caller, or for userID when it is not empty (admins).
func (c *Client) CreateToken(ctx context.Context, userID string, t NewToken) (CreatedToken, error) {
	path := "/api/v1/tokens"
	if userID != "" {
		path = "/api/v1/users/" + id(userID) + "/tokens"
	}
	var out CreatedToken
	return out, c.json(ctx, "POST", path, t, &out)
}

// Audit lists the audit log, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditList, error) {
	var out AuditList
	return out, c.json(ctx, "GET", "/api/v1/audit?"+auditValues(q).Encode(), nil, &out)
}

func auditValues(q AuditQuery) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"actor": q.Actor, "action": q.Action, "target": q.Target, "before": q.Before} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339))
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	return v
}

// ExportAudit streams every audit entry matching q (Before and Limit ignored), newest first, as
// CSV or JSON lines (format "csv" or "jsonl"). The caller closes the body.
func (c *Client) ExportAudit(ctx context.Context, q AuditQuery, format string) (io.ReadCloser, error) {
	q.Before, q.Limit = "", 0
	v := auditValues(q)
	v.Set("format", format)
	resp, err := c.stream(ctx, "GET", "/api/v1/audit/export?"+v.Encode(), nil, "", 0, false)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// VerifyAudit checks the audit log's hash chain from its first record to its last.
func (c *Client) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	var out AuditVerification
	resp, err := c.stream(ctx, "GET", "/api/v1/audit/verify", nil, "", 0, false)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("telltale: GET /api/v1/audit/verify: decode response: %w", err)
	}
	return out, nil
}

// ImportRecords sends exported vendor records (Box: admin events as JSON lines or API pages) to be
// stored through a connection; records already stored are skipped.
func (c *Client) ImportRecords(ctx context.Context, connID string, records io.Reader) (ImportResult, error) {
	return c.ImportRecordsWith(ctx, connID, records, ImportOptions{})
}

// ImportOptions change an import.
type ImportOptions struct {
	// SkipMalformed imports the usable records of a file that has malformed ones; without it such
	// a file is refused whole (a *Problem listing the first 100 by line).
	SkipMalformed bool
}

// ImportRecordsWith is ImportRecords with options. When records is a regular file its size is
// sent, so that a file over the server's import limit is refused before it is uploaded. It is a
// streaming call: the idle timeout while records are sent, then the total timeout for the answer.
func (c *Client) ImportRecordsWith(ctx context.Context, connID string, records io.Reader, opt ImportOptions) (ImportResult, error) {
	var length int64
	if f, ok := records.(interface{ Stat() (os.FileInfo, error) }); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
			if s, ok := records.(io.Seeker); ok {
				if pos, err := s.Seek(0, io.SeekCurrent); err == nil {
					length = st.Size() - pos
				}
			}
		}
	}
	path := "/api/v1/connections/" + id(connID) + "/import"
	if opt.SkipMalformed {
		path += "?skip_malformed=true"
	}
	var out ImportResult
	return out, c.streamJSON(ctx, "POST", path, records, "application/x-ndjson", length, &out)
}

// Connectors lists the data connectors with their fields, permissions and setup steps.
func (c *Client) Connectors(ctx context.Context) ([]ConnectorSpec, error) {
	var out struct {
		Items []ConnectorSpec `json:"items"`
	}
	return out.Items, c.json(ctx, "GET", "/api/v1/connectors", nil, &out)
}

// Verify calls the vendor with credentials before a connection is added.
func (c *Client) Verify(ctx context.Context, service string, r VerifyRequest) (VerifyResult, error) {
	var out VerifyResult
	return out, c.json(ctx, "POST", "/api/v1/connectors/"+url.PathEscape(service)+"/verify", r, &out)
}

// SearchEvents returns one page of file events matching the request.
func (c *Client) SearchEvents(ctx context.Context, r SearchRequest) (SearchResult, error) {
	var out SearchResult
	return out, c.json(ctx, "POST", "/api/v1/file-events/search", r, &out)
}

// Event returns one file event with its file's timeline.
func (c *Client) Event(ctx context.Context, eventID string) (EventDetails, error) {
	var out EventDetails
	return out, c.json(ctx, "GET", "/api/v1/file-events/"+id(eventID), nil, &out)
}

// GroupEvents counts matching events by one dimension.
func (c *Client) GroupEvents(ctx context.Context, r GroupRequest) (GroupResult, error) {
	var out GroupResult
	return out, c.json(ctx, "POST", "/api/v1/file-events/group", r, &out)
}

// ExportEvents starts a streamed export; the caller reads and closes the body. It has no total
// timeout: a read that waits longer than the idle timeout fails with a *TimeoutError.
func (c *Client) ExportEvents(ctx context.Context, r ExportRequest) (io.ReadCloser, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	resp, err := c.stream(ctx, "POST", "/api/v1/file-events/export", bytes.NewReader(b), "application/json", 0, false)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// AckCheckpoint records that an incremental export delivered every event up to afterID.
func (c *Client) AckCheckpoint(ctx context.Context, name, afterID string) (Checkpoint, error) {
	var out Checkpoint
	return out, c.json(ctx, "PUT", "/api/v1/export-checkpoints/"+url.PathEscape(name), Checkpoint{AfterID: afterID}, &out)
}

// Checkpoints lists the incremental exports' checkpoints the caller owns (every one for an admin).
func (c *Client) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	var out struct {
		Items []Checkpoint `json:"items"`
	}
	return out.Items, c.json(ctx, "GET", "/api/v1/export-checkpoints", nil, &out)
}

// ResetCheckpoint sets a checkpoint to afterID, backwards too ("0": the next export starts over).
func (c *Client) ResetCheckpoint(ctx context.Context, name, afterID string) (Checkpoint, error) {
	var out Checkpoint
	return out, c.json(ctx, "PUT", "/api/v1/export-checkpoints/"+url.PathEscape(name), Checkpoint{AfterID: afterID, Reset: true}, &out)
}

// DeleteCheckpoint deletes a checkpoint.
func (c *Client) DeleteCheckpoint(ctx context.Context, name string) error {
	return c.json(ctx, "DELETE", "/api/v1/export-checkpoints/"+url.PathEscape(name), nil, nil)
}

// SavedSearches lists saved searches.
func (c *Client) SavedSearches(ctx context.Context) ([]SavedSearch, error) {
	var out struct {
		Items []SavedSearch `json:"items"`
	}
	return out.Items, c.json(ctx, "GET", "/api/v1/saved-searches", nil, &out)
}

// SaveSearch saves a query under a name.
func (c *Client) SaveSearch(ctx context.Context, in SavedSearchInput) (SavedSearch, error) {
	var out SavedSearch
	return out, c.json(ctx, "POST", "/api/v1/saved-searches", in, &out)
}

// Rules lists the alert rules.
func (c *Client) Rules(ctx context.Context) ([]AlertRule, error) {
	var out AlertRuleList
	return out.Items, c.json(ctx, "GET", "/api/v1/rules", nil, &out)
}

// CreateRule creates an alert rule.
func (c *Client) CreateRule(ctx context.Context, in AlertRuleInput) (AlertRule, error) {
	var out AlertRule
	return out, c.json(ctx, "POST", "/api/v1/rules", in, &out)
}

// TestRule backtests a rule on the stored events of the last days.
func (c *Client) TestRule(ctx context.Context, r RuleTestRequest) (RuleTestResult, error) {
	var out RuleTestResult
	return out, c.json(ctx, "POST", "/api/v1/rules/test", r, &out)
}

// AlertQuery selects alerts to list.
type AlertQuery struct {
	States     []string
	Severities []string
	Rule       string
	Person     string
	Assignee   string
	Before     string
	Limit      int
}

// Alerts lists alerts, newest first.
func (c *Client) Alerts(ctx context.Context, q AlertQuery) (AlertList, error) {
	v := url.Values{}
	for k, s := range map[string]string{"rule": q.Rule, "person": q.Person, "assignee": q.Assignee, "before": q.Before} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for _, s := range q.States {
		v.Add("state", s)
	}
	for _, s := range q.Severities {
		v.Add("severity", s)
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	var out AlertList
	return out, c.json(ctx, "GET", "/api/v1/alerts?"+v.Encode(), nil, &out)
}

// Alert returns an alert with its first events and its history.
func (c *Client) Alert(ctx context.Context, alertID string) (AlertDetails, error) {
	var out AlertDetails
	return out, c.json(ctx, "GET", "/api/v1/alerts/"+id(alertID), nil, &out)
}

// UpdateAlert changes an alert's state, resolution or assignee, or adds a note.
func (c *Client) UpdateAlert(ctx context.Context, alertID string, u AlertUpdate) (Alert, error) {
	var out Alert
	return out, c.json(ctx, "PATCH", "/api/v1/alerts/"+id(alertID), u, &out)
}

// BulkUpdateAlerts changes the state of many alerts.
func (c *Client) BulkUpdateAlerts(ctx context.Context, u AlertBulkUpdate) (AlertBulkResult, error) {
	var out AlertBulkResult
	return out, c.json(ctx, "POST", "/api/v1/alerts/bulk", u, &out)
}

// Watchlists lists the watchlists with their member counts.
func (c *Client) Watchlists(ctx context.Context) (WatchlistList, error) {
	var out WatchlistList
	return out, c.json(ctx, "GET", "/api/v1/watchlists", nil, &out)
}

// WatchlistMembers lists one page of a watchlist's members after the address after.
func (c *Client) WatchlistMembers(ctx context.Context, watchlistID, after string, limit int) (WatchlistMembers, error) {
	v := url.Values{}
	if after != "" {
		v.Set("after", after)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out WatchlistMembers
	return out, c.json(ctx, "GET", "/api/v1/watchlists/"+id(watchlistID)+"/members?"+v.Encode(), nil, &out)
}

// AddWatchlistMembers adds members to a watchlist (or updates them).
func (c *Client) AddWatchlistMembers(ctx context.Context, watchlistID string, ms []WatchlistMember) (WatchlistChange, error) {
	var out WatchlistChange
	return out, c.json(ctx, "POST", "/api/v1/watchlists/"+id(watchlistID)+"/members", WatchlistMembersInput{Members: ms}, &out)
}

// RemoveWatchlistMembers removes members from a watchlist by address.
func (c *Client) RemoveWatchlistMembers(ctx context.Context, watchlistID string, emails []string) (WatchlistChange, error) {
	var out WatchlistChange
	return out, c.json(ctx, "POST", "/api/v1/watchlists/"+id(watchlistID)+"/members/remove", WatchlistRemoveInput{Emails: emails}, &out)
}

// UploadWatchlistMembers adds the members of a CSV (Email, optional Departure Date and Notes) to a
// watchlist, or with replace makes them its only members. A bad file changes nothing.
func (c *Client) UploadWatchlistMembers(ctx context.Context, watchlistID string, csv io.Reader, replace bool) (WatchlistChange, error) {
	var out WatchlistChange
	return out, c.streamJSON(ctx, "POST", "/api/v1/watchlists/"+id(watchlistID)+"/members.csv?replace="+strconv.FormatBool(replace), csv, "text/csv", 0, &out)
}

// Integrations lists the automated integrations.
func (c *Client) Integrations(ctx context.Context) (IntegrationList, error) {
	var out IntegrationList
	return out, c.json(ctx, "GET", "/api/v1/integrations", nil, &out)
}

// CreateIntegration adds an integration.
func (c *Client) CreateIntegration(ctx context.Context, in IntegrationInput) (Integration, error) {
	var out Integration
	return out, c.json(ctx, "POST", "/api/v1/integrations", in, &out)
}

// SetIntegrationConnected connects (verifying its credentials) or disconnects an integration.
func (c *Client) SetIntegrationConnected(ctx context.Context, integrationID string, connected bool) (Integration, error) {
	action := "disconnect"
	if connected {
		action = "connect"
	}
	var out Integration
	return out, c.json(ctx, "POST", "/api/v1/integrations/"+id(integrationID)+"/"+action, nil, &out)
}

// TestIntegration sends a test delivery.
func (c *Client) TestIntegration(ctx context.Context, integrationID string) (Delivery, error) {
	var out Delivery
	return out, c.json(ctx, "POST", "/api/v1/integrations/"+id(integrationID)+"/test", nil, &out)
}

// Deliveries lists an integration's deliveries, newest first (state "" for all).
func (c *Client) Deliveries(ctx context.Context, integrationID, state, before string, limit int) (DeliveryList, error) {
	v := url.Values{}
	if state != "" {
		v.Set("state", state)
	}
	if before != "" {
		v.Set("before", before)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out DeliveryList
	return out, c.json(ctx, "GET", "/api/v1/integrations/"+id(integrationID)+"/deliveries?"+v.Encode(), nil, &out)
}

// ReplayDelivery sends a finished delivery again with its idempotency key.
func (c *Client) ReplayDelivery(ctx context.Context, deliveryID string) (Delivery, error) {
	var out Delivery
	return out, c.json(ctx, "POST", "/api/v1/deliveries/"+id(deliveryID)+"/replay", nil, &out)
}

// HRSources lists the HR sources with their last sync.
func (c *Client) HRSources(ctx context.Context) (HRSourceList, error) {
	var out HRSourceList
	return out, c.json(ctx, "GET", "/api/v1/hr-sources", nil, &out)
}

// SyncHRSource polls a Workday or BambooHR source now.
func (c *Client) SyncHRSource(ctx context.Context, sourceID string) (HRSyncResult, error) {
	var out HRSyncResult
	return out, c.json(ctx, "POST", "/api/v1/hr-sources/"+id(sourceID)+"/sync", nil, &out)
}

// UploadHR applies a CSV (Email, optional Departure Date and Action) to an hr_csv source. A bad
// file changes nothing.
func (c *Client) UploadHR(ctx context.Context, sourceID string, csv io.Reader) (HRSyncResult, error) {
	var out HRSyncResult
	return out, c.streamJSON(ctx, "POST", "/api/v1/hr-sources/"+id(sourceID)+"/upload", csv, "text/csv", 0, &out)
}

// Flows lists the flows.
func (c *Client) Flows(ctx context.Context) (FlowList, error) {
	var out FlowList
	return out, c.json(ctx, "GET", "/api/v1/flows", nil, &out)
}

// CreateFlow adds a flow.
func (c *Client) CreateFlow(ctx context.Context, in FlowInput) (Flow, error) {
	var out Flow
	return out, c.json(ctx, "POST", "/api/v1/flows", in, &out)
}

// TestFlow sends a test delivery to each of the flow's integrations.
func (c *Client) TestFlow(ctx context.Context, flowID string) (DeliveryList, error) {
	var out DeliveryList
	return out, c.json(ctx, "POST", "/api/v1/flows/"+id(flowID)+"/test", nil, &out)
}

// CaseQuery selects cases to list.
type CaseQuery struct {
	States   []string
	Person   string
	Alert    string
	Assignee string
	Before   string
	Limit    int
}

// Cases lists a page of cases, newest first.
func (c *Client) Cases(ctx context.Context, q CaseQuery) (CaseList, error) {
	v := url.Values{}
	if len(q.States) > 0 {
		v.Set("state", strings.Join(q.States, ","))
	}
	for k, x := range map[string]string{"person": q.Person, "alert": q.Alert, "assignee": q.Assignee, "before": q.Before} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out CaseList
	return out, c.json(ctx, "GET", "/api/v1/cases?"+v.Encode(), nil, &out)
}

// CreateCase opens a case.
func (c *Client) CreateCase(ctx context.Context, in CaseInput) (Case, error) {
	var out Case
	return out, c.json(ctx, "POST", "/api/v1/cases", in, &out)
}

// Case reads a case with its people, alerts, first events and history.
func (c *Client) Case(ctx context.Context, caseID string) (CaseDetails, error) {
	var out CaseDetails
	return out, c.json(ctx, "GET", "/api/v1/cases/"+id(caseID), nil, &out)
}

// UpdateCase changes a case.
func (c *Client) UpdateCase(ctx context.Context, caseID string, u CaseUpdate) (Case, error) {
	var out Case
	return out, c.json(ctx, "PATCH", "/api/v1/cases/"+id(caseID), u, &out)
}

// AddToCase adds people, alerts and events to a case.
func (c *Client) AddToCase(ctx context.Context, caseID string, in CaseItemsInput) (CaseItemsAdded, error) {
	var out CaseItemsAdded
	return out, c.json(ctx, "POST", "/api/v1/cases/"+id(caseID)+"/items", in, &out)
}

// ExportCase streams a case's zip archive.
func (c *Client) ExportCase(ctx context.Context, caseID string) (io.ReadCloser, error) {
	resp, err := c.stream(ctx, "POST", "/api/v1/cases/"+id(caseID)+"/export", nil, "", 0, false)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Person reads a person's page: watchlists, rolling risk, alerts, cases and recent events.
func (c *Client) Person(ctx context.Context, email string) (Person, error) {
	var out Person
	return out, c.json(ctx, "GET", "/api/v1/people/"+url.PathEscape(email), nil, &out)
}

// People lists a page of people by address (after: the previous page's Next).
func (c *Client) People(ctx context.Context, after string, limit int) (PeopleList, error) {
	v := url.Values{}
	if after != "" {
		v.Set("after", after)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out PeopleList
	return out, c.json(ctx, "GET", "/api/v1/people?"+v.Encode(), nil, &out)
}

// AddAlias makes alias another address of the person (admins).
func (c *Client) AddAlias(ctx context.Context, email, alias string) ([]PersonAlias, error) {
	var out PersonAliases
	return out.Items, c.json(ctx, "POST", "/api/v1/people/"+url.PathEscape(email)+"/aliases", AliasInput{Alias: alias}, &out)
}

// RemoveAlias removes one of the person's aliases (admins).
func (c *Client) RemoveAlias(ctx context.Context, email, alias string) error {
	return c.json(ctx, "DELETE", "/api/v1/people/"+url.PathEscape(email)+"/aliases/"+url.PathEscape(alias), nil, nil)
}

// Exposure reads a page of what the person owns that is shared now.
func (c *Client) Exposure(ctx context.Context, email, after string, limit int) (Exposure, error) {
	v := url.Values{}
	if after != "" {
		v.Set("after", after)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out Exposure
	return out, c.json(ctx, "GET", "/api/v1/people/"+url.PathEscape(email)+"/exposure?"+v.Encode(), nil, &out)
}

// ExposureCSV streams every file the person owns that is shared now, as CSV.
func (c *Client) ExposureCSV(ctx context.Context, email string) (io.ReadCloser, error) {
	resp, err := c.stream(ctx, "GET", "/api/v1/people/"+url.PathEscape(email)+"/exposure.csv", nil, "", 0, false)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// DeploymentSecrets lists the deployment secrets endpoint agents enrol with (admins).
func (c *Client) DeploymentSecrets(ctx context.Context) (DeploymentSecretList, error) {
	var out DeploymentSecretList
	return out, c.json(ctx, "GET", "/api/v1/deployment-secrets", nil, &out)
}

// CreateDeploymentSecret creates one; the answer holds the secret, shown this once.
func (c *Client) CreateDeploymentSecret(ctx context.Context, in DeploymentSecretInput) (DeploymentSecret, error) {
	var out DeploymentSecret
	return out, c.json(ctx, "POST", "/api/v1/deployment-secrets", in, &out)
}

// DeploymentSecretAction extends, revokes or reactivates a secret (action extend, revoke or
// reactivate; in is nil for revoke, and for reactivating a secret that has not expired).
func (c *Client) DeploymentSecretAction(ctx context.Context, secretID, action string, in *DeploymentSecretExpiry) (DeploymentSecret, error) {
	var out DeploymentSecret
	var body any
	if in != nil {
		body = in
	}
	return out, c.json(ctx, "POST", "/api/v1/deployment-secrets/"+id(secretID)+"/"+url.PathEscape(action), body, &out)
}

// Devices lists devices; q holds the filters (os, version, person, host, state, flag, sort,
// order, offset, limit).
func (c *Client) Devices(ctx context.Context, q url.Values) (DeviceList, error) {
	var out DeviceList
	path := "/api/v1/devices"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return out, c.json(ctx, "GET", path, nil, &out)
}

// DeviceAction deactivates or reactivates a device (action deactivate or reactivate).
func (c *Client) DeviceAction(ctx context.Context, deviceID, action string) (Device, error) {
	var out Device
	return out, c.json(ctx, "POST", "/api/v1/devices/"+id(deviceID)+"/"+url.PathEscape(action), nil, &out)
}

// StartRescore starts a re-score job over a range of observed time (docs/RISK.md).
func (c *Client) StartRescore(ctx context.Context, from, to time.Time) (RescoreJob, error) {
	var out RescoreJob
	return out, c.json(ctx, "POST", "/api/v1/risk/rescore", RescoreRequest{From: from, To: to}, &out)
}

// RescoreJob returns a re-score job and its progress.
func (c *Client) RescoreJob(ctx context.Context, id string) (RescoreJob, error) {
	var out RescoreJob
	return out, c.json(ctx, "GET", "/api/v1/risk/rescore/"+url.PathEscape(id), nil, &out)
}

// RescoreJobs lists the latest re-score jobs, newest first.
func (c *Client) RescoreJobs(ctx context.Context) (RescoreJobs, error) {
	var out RescoreJobs
	return out, c.json(ctx, "GET", "/api/v1/risk/rescore", nil, &out)
}

// CancelRescore stops a running re-score job; the events it re-scored keep their new risk.
func (c *Client) CancelRescore(ctx context.Context, id string) (RescoreJob, error) {
	var out RescoreJob
	return out, c.json(ctx, "POST", "/api/v1/risk/rescore/"+url.PathEscape(id)+"/cancel", nil, &out)
}
