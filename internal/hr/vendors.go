package hr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
)

// Bounds of what a source answers.
const (
	maxReport    = 32 << 20 // bytes of a Workday report
	maxEntries   = 100_000  // rows of a report, employees of one BambooHR answer
	maxAnswer    = 1 << 20  // bytes of one BambooHR employee
	aheadDays    = 365      // how far ahead of today a Workday report's window reaches
	bambooFields = "workEmail,status,terminationDate"
)

// The Workday report's prompts and columns (docs/OPERATIONS.md tells the admin to build it so).
const (
	WorkdayFromPrompt = "Termination_Date_On_or_After"
	WorkdayToPrompt   = "Termination_Date_On_or_Before"
	WorkdayEmail      = "Email"
	WorkdayDate       = "Termination_Date"
	WorkdayID         = "Employee_ID"
)

// call sends req and classifies the outcome: the body of a 2xx answer, or an actionable Failure
// naming the vendor.
func (s *Service) call(ctx context.Context, i store.Integration, vendor string, req *http.Request, limit int64) ([]byte, *Failure) {
	resp, body, err := s.client.Do(ctx, "hr:"+strconv.FormatInt(i.ID, 10), req, limit)
	if err == nil {
		return body, nil
	}
	var te *httpx.ThrottledError
	var se *httpx.StatusError
	switch {
	case errors.As(err, &te):
		return nil, &Failure{Msg: fmt.Sprintf("%s is rate limiting Telltale: the next sync waits until %s", vendor, te.Until.UTC().Format(time.RFC3339)),
			Kind: store.IntegrationErrRateLimited}
	case errors.As(err, &se):
		code := se.Code
		if resp != nil {
			code = resp.StatusCode
		}
		ex := excerpt(se.Body, 300)
		switch {
		case code == http.StatusUnauthorized:
			return nil, &Failure{Msg: fmt.Sprintf("%s refused the credentials (401 %s): %s", vendor, ex, fixCredentials(i.Kind)), Kind: store.IntegrationErrAuth}
		case code == http.StatusForbidden:
			return nil, &Failure{Msg: fmt.Sprintf("%s refused access (403 %s): %s", vendor, ex, fixAccess(i.Kind)), Kind: store.IntegrationErrAuth}
		case code == http.StatusTooManyRequests || (code == http.StatusServiceUnavailable && se.RetryAfter > 0):
			wait := ""
			if se.RetryAfter > 0 {
				wait = fmt.Sprintf(" and asks to wait %s", se.RetryAfter.Round(time.Second))
			}
			return nil, &Failure{Msg: fmt.Sprintf("%s is rate limiting Telltale (%d)%s; the next sync retries: sync less often if this persists", vendor, code, wait),
				Kind: store.IntegrationErrRateLimited}
		case code == http.StatusNotFound:
			return nil, &Failure{Msg: fmt.Sprintf("%s answered 404 for %s: %s", vendor, se.URL, fixNotFound(i.Kind))}
		}
		return nil, &Failure{Msg: fmt.Sprintf("%s answered %s: %s", vendor, se.Status, ex)}
	case errors.Is(err, httpx.ErrBlocked):
		return nil, &Failure{Msg: err.Error()}
	}
	return nil, &Failure{Msg: fmt.Sprintf("calling %s: %v", vendor, err)}
}

func fixCredentials(kind string) string {
	if kind == integration.KindWorkday {
		return "check the integration system user's name and password (and that its password has not expired)"
	}
	return "check the API key (BambooHR: your name > API Keys); a key stops working when its user is deactivated"
}

func fixAccess(kind string) string {
	if kind == integration.KindWorkday {
		return "share the report with the integration system user and give its security group access to the report's data source"
	}
	return "the API key's user needs access to work email, status and termination date"
}

func fixNotFound(kind string) string {
	if kind == integration.KindWorkday {
		return "check the report's URL (tenant, owner and report name) and that the report is enabled as a web service"
	}
	return "check the company subdomain"
}

func excerpt(b []byte, n int) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if s == "" {
		return "(empty body)"
	}
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

// cleanEmail returns the address in lower case, or "" when it is not one.
func cleanEmail(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || scope.CheckEmail(v) != "" {
		return ""
	}
	return strings.ToLower(v)
}

// cleanDate returns the YYYY-MM-DD of a vendor's date ("2026-12-31", "2026-12-31-08:00",
// "2026-12-31T00:00:00Z"), or "" when there is none ("", "0000-00-00").
func cleanDate(v string) string {
	v = strings.TrimSpace(v)
	if len(v) < 10 {
		return ""
	}
	d, err := time.Parse(time.DateOnly, v[:10])
	if err != nil || d.Year() < 1900 {
		return ""
	}
	return v[:10]
}

// ---- Workday ----

// workdayWindow is the report's window of termination dates on now's day.
func workdayWindow(now time.Time, days int) (from, to time.Time) {
	today := now.UTC().Truncate(24 * time.Hour)
	return today.AddDate(0, 0, -days), today.AddDate(0, 0, aheadDays)
}

// workdayPrompt is a date as a RaaS URL prompt takes it: the date and its UTC offset.
func workdayPrompt(t time.Time) string { return t.Format(time.DateOnly) + "-00:00" }

type workdayReport struct {
	Entries []map[string]any `json:"Report_Entry"`
}

func (s *Service) workdayReport(ctx context.Context, i store.Integration, st integration.Settings, sec integration.Secrets) (workdayReport, [2]time.Time, *Failure) {
	from, to := workdayWindow(s.o.Clock.Now(), max(st.WindowDays, 1))
	q := url.Values{"format": {"json"}, WorkdayFromPrompt: {workdayPrompt(from)}, WorkdayToPrompt: {workdayPrompt(to)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.URL+"?"+q.Encode(), nil)
	if err != nil {
		return workdayReport{}, [2]time.Time{}, &Failure{Msg: "the report URL: " + err.Error()}
	}
	req.SetBasicAuth(st.Username, sec.Password)
	req.Header.Set("Accept", "application/json")
	body, f := s.call(ctx, i, "Workday", req, maxReport)
	if f != nil {
		return workdayReport{}, [2]time.Time{}, f
	}
	var rep workdayReport
	if err := json.Unmarshal(body, &rep); err != nil || rep.Entries == nil {
		return workdayReport{}, [2]time.Time{}, &Failure{Msg: "Workday's answer is not a RaaS JSON report (an object with Report_Entry): " + excerpt(body, 200) +
			": check that the URL is the report's web service URL"}
	}
	if len(rep.Entries) > maxEntries {
		return workdayReport{}, [2]time.Time{}, &Failure{Msg: fmt.Sprintf("the report has %d rows, more than %d: narrow it to workers with a termination date", len(rep.Entries), maxEntries)}
	}
	return rep, [2]time.Time{from, to}, nil
}

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// workday reads the report: every row with an address and a termination date in the window is a
// departure; a member this source put on the list whose date lies in the window but who is no
// longer in the report had their termination rescinded and is removed.
func (s *Service) workday(ctx context.Context, i store.Integration, st integration.Settings, sec integration.Secrets) ([]Change, int, *Failure) {
	rep, win, f := s.workdayReport(ctx, i, st, sec)
	if f != nil {
		return nil, 0, f
	}
	hasEmail := false
	for _, e := range rep.Entries {
		if _, ok := e[WorkdayEmail]; ok {
			hasEmail = true
			break
		}
	}
	if len(rep.Entries) > 0 { // Workday leaves empty cells out of a row, but a column nobody has is misnamed
		if !hasEmail {
			return nil, 0, &Failure{Msg: fmt.Sprintf("the report's rows have no %s column (they have %s): give the work email column the alias %s and the termination date %s",
				WorkdayEmail, keys(rep.Entries[0]), WorkdayEmail, WorkdayDate)}
		}
	}
	var out []Change
	skipped := 0
	inReport := map[string]bool{}
	for _, e := range rep.Entries {
		email, date := cleanEmail(str(e, WorkdayEmail)), cleanDate(str(e, WorkdayDate))
		if email == "" || date == "" {
			skipped++
			continue
		}
		inReport[email] = true
		out = append(out, Change{Email: email, Departing: true, DepartureDate: date, ExternalID: str(e, WorkdayID)})
	}
	gone, err := s.ownedMembers(ctx, i, func(m store.WatchlistMember) bool {
		d, err := time.Parse(time.DateOnly, m.DepartureDate)
		return !inReport[m.Email] && err == nil && !d.Before(win[0]) && !d.After(win[1])
	})
	if err != nil {
		return nil, 0, &Failure{Msg: "reading the watchlist: " + err.Error()}
	}
	for _, m := range gone {
		out = append(out, Change{Email: m.Email})
	}
	return out, skipped, nil
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	if len(ks) > 10 {
		ks = append(ks[:10], "…")
	}
	return strings.Join(ks, ", ")
}

// ownedMembers returns the Departing employees members this source put on the list that keep accepts.
func (s *Service) ownedMembers(ctx context.Context, i store.Integration, keep func(store.WatchlistMember) bool) ([]store.WatchlistMember, error) {
	dep, err := departingList(ctx, s.st)
	if err != nil {
		return nil, err
	}
	var out []store.WatchlistMember
	for after := ""; ; {
		page, err := s.st.ListWatchlistMembers(ctx, dep.ID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			if m.AddedBy == Actor(i) && keep(m) {
				out = append(out, m)
			}
		}
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].Email
	}
}

// ---- BambooHR ----

type bambooChanged struct {
	Latest    string `json:"latest"`
	Employees map[string]struct {
		ID          string `json:"id"`
		Action      string `json:"action"`
		LastChanged string `json:"lastChanged"`
	} `json:"employees"`
}

func (s *Service) bambooGet(ctx context.Context, i store.Integration, st integration.Settings, sec integration.Secrets, path string, q url.Values, limit int64) ([]byte, *Failure) {
	u := st.APIBase + "/api/gateway.php/" + url.PathEscape(st.Company) + "/v1/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &Failure{Msg: "the BambooHR URL: " + err.Error()}
	}
	req.SetBasicAuth(sec.Token, "x") // BambooHR: the API key is the user name, the password anything
	req.Header.Set("Accept", "application/json")
	return s.call(ctx, i, "BambooHR", req, limit)
}

func (s *Service) bambooChanged(ctx context.Context, i store.Integration, st integration.Settings, sec integration.Secrets, since string) (bambooChanged, *Failure) {
	body, f := s.bambooGet(ctx, i, st, sec, "employees/changed", url.Values{"since": {since}}, maxReport)
	if f != nil {
		return bambooChanged{}, f
	}
	var ans bambooChanged
	if err := json.Unmarshal(body, &ans); err != nil {
		return ans, &Failure{Msg: "BambooHR's answer to employees/changed is not its JSON: " + excerpt(body, 200)}
	}
	if len(ans.Employees) > maxEntries {
		return ans, &Failure{Msg: fmt.Sprintf("BambooHR listed %d changed employees, more than %d", len(ans.Employees), maxEntries)}
	}
	return ans, nil
}

// bambooEmployee fetches one employee's work email, status and termination date.
func (s *Service) bambooEmployee(ctx context.Context, i store.Integration, st integration.Settings, sec integration.Secrets, id string) (map[string]any, *Failure) {
	body, f := s.bambooGet(ctx, i, st, sec, "employees/"+url.PathEscape(id), url.Values{"fields": {bambooFields}}, maxAnswer)
	if f != nil {
		return nil, f
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, &Failure{Msg: "BambooHR's answer for employee " + id + " is not its JSON: " + excerpt(body, 200)}
	}
	return m, nil
}

// bambooChange turns an employee's fields into a change: a termination date not older than the
// window is a departure (announced ones are in the future); none is "not departing".
func bambooChange(id, email, date string, now time.Time, windowDays int) (Change, bool) {
	if email == "" {
		return Change{}, false
	}
	c := Change{Email: email, ExternalID: id}
	if date != "" {
		d, _ := time.Parse(time.DateOnly, date)
		if d.Before(now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -windowDays)) {
			return Change{}, false // left long ago: not a departing employee any more
		}
		c.Departing, c.DepartureDate = true, date
	}
	return c, true
}

// bamboo asks BambooHR which employees changed since the cursor (the first time: the window's
// start), fetches each inserted or updated one, and turns deleted ones known by id into removals.
func (s *Service) bamboo(ctx context.Context, i store.Integration, st integration.Settings, sec integration.Secrets, cursor string) ([]Change, string, int, *Failure) {
	now := s.o.Clock.Now().UTC()
	since := cursor
	if since == "" {
		since = now.AddDate(0, 0, -integration.DefaultWindowDays).Format(time.RFC3339)
	}
	ans, f := s.bambooChanged(ctx, i, st, sec, since)
	if f != nil {
		return nil, "", 0, f
	}
	var out []Change
	skipped := 0
	for key, e := range ans.Employees {
		id := cmpStr(e.ID, key)
		if strings.EqualFold(e.Action, "Deleted") {
			if email, err := s.st.GetHRPerson(ctx, i.ID, id); err == nil {
				out = append(out, Change{Email: email, ExternalID: id})
			}
			continue
		}
		m, f := s.bambooEmployee(ctx, i, st, sec, id)
		if f != nil {
			return nil, "", 0, f
		}
		c, ok := bambooChange(id, cleanEmail(str(m, "workEmail")), cleanDate(str(m, "terminationDate")), now, integration.DefaultWindowDays)
		if !ok {
			if cleanEmail(str(m, "workEmail")) == "" {
				skipped++
			}
			continue
		}
		out = append(out, c)
	}
	next := ans.Latest
	if next == "" {
		next = now.Format(time.RFC3339)
	}
	return out, next, skipped, nil
}
