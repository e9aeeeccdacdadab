package console

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/chart"
	"github.com/telltale-dev/telltale/internal/csvsafe"
)

// The dashboards (issue 18, R8.4): the Risk Exposure dashboard, where analysts land after signing
// in, and the Insider risk trends. Each chart is an SVG drawn here from the API's answer, with its
// numbers as a table and a CSV download, so a page is complete without JavaScript.

var dashRanges = []string{"24h", "7d", "30d", "90d", "365d"}

var vectorNames = map[string]string{
	"public_link": "Public link", "external_share": "External share", "email": "E-mail to untrusted domain", "endpoint": "Endpoint",
}

func vectorName(v string) string {
	if n, ok := vectorNames[v]; ok {
		return n
	}
	return v
}

// cell is a table cell, linked when Href is set.
type cell struct{ Text, Href string }

// chartBlock is one chart with its table and CSV download.
type chartBlock struct {
	ID, Title string
	SVG       template.HTML // drawn by internal/chart, its text escaped there
	Head      []string
	Rows      [][]cell
	CSV       string
	Note      string
}

type dashData struct {
	Tab            string // exposure or trends
	Range, Vector  string
	Ranges         []option
	Vectors        []option
	DrillKind      string
	DrillValue     string
	ClearURL       string
	From, To, Step string
	Trusted        int64
	Charts         []chartBlock
	Landing        string // the landing page setting, shown to admins
}

// dashParams are the query parameters a dashboard page passes on to the API.
var dashParams = []string{"range", "from", "to", "step", "vector", "person", "device", "destination"}

func dashQuery(r *http.Request) url.Values {
	in, q := r.URL.Query(), url.Values{}
	for _, k := range dashParams {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	if q.Get("range") == "" && q.Get("from") == "" {
		q.Set("range", "7d")
	}
	return q
}

// bucketLabel names a bucket on a chart's axis and in its table.
func bucketLabel(at, step string) string {
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return at
	}
	if step == "hour" {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("Jan 2")
}

func seriesBlock(id, title, csvBase string, q url.Values, step string, series []client.DashboardSeries, names func(string) string) chartBlock {
	b := chartBlock{ID: id, Title: title, Head: []string{"Bucket (UTC)"}, CSV: csvLink(csvBase, q, id)}
	var labels []string
	var cs []chart.Series
	for i, s := range series {
		b.Head = append(b.Head, names(s.Name))
		vals := make([]float64, len(s.Points))
		for j, p := range s.Points {
			vals[j] = float64(p.Events)
			if i == 0 {
				labels = append(labels, bucketLabel(p.At, step))
				b.Rows = append(b.Rows, []cell{{Text: p.At}})
			}
			b.Rows[j] = append(b.Rows[j], cell{Text: strconv.FormatInt(p.Events, 10)})
		}
		cs = append(cs, chart.Series{Name: names(s.Name), Values: vals})
	}
	b.SVG = template.HTML(chart.Line(title, labels, cs))
	return b
}

func countBlock(id, title, csvBase string, q url.Values, valueHead string, cs []client.DashboardCount, name func(string) string, link func(string) string) chartBlock {
	b := chartBlock{ID: id, Title: title, Head: []string{valueHead, "Events", "Risky events"}, CSV: csvLink(csvBase, q, id)}
	var bars []chart.Bar
	for _, c := range cs {
		label := name(c.Value)
		bars = append(bars, chart.Bar{Label: label, Value: float64(c.Events)})
		href := ""
		if link != nil {
			href = link(c.Value)
		}
		b.Rows = append(b.Rows, []cell{{Text: label, Href: href}, {Text: strconv.FormatInt(c.Events, 10)}, {Text: strconv.FormatInt(c.Risky, 10)}})
	}
	b.SVG = template.HTML(chart.Bars(title, bars))
	return b
}

func csvLink(base string, q url.Values, id string) string {
	c := url.Values{}
	for k, v := range q {
		c[k] = v
	}
	c.Set("chart", id)
	return base + "?" + c.Encode()
}

func same(s string) string { return s }

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// exposureData calls the API and builds the Risk Exposure page's charts.
func (c *Console) exposureData(r *http.Request, s *session) (dashData, error) {
	q := dashQuery(r)
	d := dashData{Tab: "exposure", Range: q.Get("range"), Vector: q.Get("vector")}
	var ex client.RiskExposure
	if err := c.call(r, s, "GET", "/api/v1/dashboards/risk-exposure?"+q.Encode(), nil, &ex); err != nil {
		return d, err
	}
	d.From, d.To, d.Step, d.Trusted = ex.Range.From, ex.Range.To, ex.Range.Step, ex.TrustedExcluded
	d.DrillKind, d.DrillValue = ex.DrillKind, ex.DrillValue
	if d.DrillKind != "" {
		clear := url.Values{}
		for k, v := range q {
			if k != "person" && k != "device" && k != "destination" {
				clear[k] = v
			}
		}
		d.ClearURL = "/dashboards/exposure?" + clear.Encode()
	}
	drill := func(kind string) func(string) string {
		return func(v string) string {
			l := url.Values{}
			for _, k := range []string{"range", "from", "to", "step", "vector"} {
				if x := q.Get(k); x != "" {
					l.Set(k, x)
				}
			}
			l.Set(kind, v)
			return "/dashboards/exposure?" + l.Encode()
		}
	}
	title := "Events toward untrusted destinations by vector"
	if d.DrillKind != "" {
		title += " (" + d.DrillKind + " " + d.DrillValue + ")"
	}
	const base = "/dashboards/exposure.csv"
	d.Charts = []chartBlock{
		seriesBlock("vectors", title, base, q, ex.Range.Step, ex.Series, vectorName),
		countBlock("people", "Top people", base, q, "Person", ex.TopPeople, same, drill("person")),
		countBlock("devices", "Top devices", base, q, "Device", ex.TopDevices, same, drill("device")),
		countBlock("destinations", "Top destination domains", base, q, "Domain", ex.TopDestinations, same, drill("destination")),
		countBlock("severity", "Events by risk severity", base, q, "Severity", ex.BySeverity, func(s string) string {
			if s == "" {
				return "(not scored)"
			}
			return s
		}, nil),
	}
	if d.DrillKind != "" {
		d.Charts[1].Note = "The top lists count everyone's events in the range, not only the drill-down's."
	}
	return d, nil
}

// trendsData calls the API and builds the Insider risk trends page's charts.
func (c *Console) trendsData(r *http.Request, s *session) (dashData, error) {
	q := dashQuery(r)
	for _, k := range []string{"vector", "person", "device", "destination"} {
		q.Del(k)
	}
	d := dashData{Tab: "trends", Range: q.Get("range")}
	var tr client.InsiderRiskTrends
	if err := c.call(r, s, "GET", "/api/v1/dashboards/insider-risk?"+q.Encode(), nil, &tr); err != nil {
		return d, err
	}
	d.From, d.To, d.Step = tr.Range.From, tr.Range.To, tr.Range.Step
	const base = "/dashboards/trends.csv"
	people := seriesBlock("people", "People with risky events", base, q, tr.Range.Step, []client.DashboardSeries{tr.People}, func(string) string { return "People" })
	alerts := chartBlock{ID: "alerts", Title: "Alerts by severity and state", Head: []string{"Severity", "State", "Alerts"}, CSV: csvLink(base, q, "alerts")}
	var bars []chart.Bar
	for _, a := range tr.Alerts {
		bars = append(bars, chart.Bar{Label: a.Severity + " · " + a.State, Value: float64(a.Alerts)})
		alerts.Rows = append(alerts.Rows, []cell{{Text: a.Severity}, {Text: a.State}, {Text: strconv.FormatInt(a.Alerts, 10)}})
	}
	alerts.SVG = template.HTML(chart.Bars(alerts.Title, bars))
	d.Charts = []chartBlock{
		people,
		countBlock("departments", "Top departments", base, q, "Department", tr.TopDepartments, orUnknown, nil),
		countBlock("categories", "File categories in exfiltration events", base, q, "Category", tr.Categories, func(s string) string {
			return strings.ReplaceAll(orUnknown(s), "_", " ")
		}, nil),
		countBlock("vectors", "Vectors", base, q, "Vector", tr.Vectors, vectorName, nil),
		alerts,
	}
	return d, nil
}

func (c *Console) showDashboard(w http.ResponseWriter, r *http.Request, s *session, build func(*http.Request, *session) (dashData, error), title string) {
	v := &view{Title: title, Nav: "dashboards", User: s, Wide: true}
	d, err := build(r, s)
	status := http.StatusOK
	if err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d.Ranges = options(dashRanges, d.Range)
	d.Vectors = []option{{Value: "", Label: "All vectors", Selected: d.Vector == ""}}
	for _, x := range []string{"public_link", "external_share", "email", "endpoint"} {
		d.Vectors = append(d.Vectors, option{Value: x, Label: vectorName(x), Selected: d.Vector == x})
	}
	if s.IsAdmin() {
		var lp client.LandingPage
		if err := c.call(r, s, "GET", "/api/v1/settings/landing-page", nil, &lp); err == nil {
			d.Landing = lp.Page
		}
	}
	v.Data = d
	c.render(w, r, status, "dashboard", v)
}

func (c *Console) exposurePage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showDashboard(w, r, s, c.exposureData, "Risk exposure")
}

func (c *Console) trendsPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showDashboard(w, r, s, c.trendsData, "Insider risk trends")
}

// dashboardCSV writes one chart's table as CSV (cells neutralized against formula injection).
func (c *Console) dashboardCSV(build func(*http.Request, *session) (dashData, error), name string) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		d, err := build(r, s)
		if err != nil {
			v := &view{Title: "Dashboard", Nav: "dashboards", User: s}
			v.problem(err)
			c.render(w, r, statusOf(err), "error", v)
			return
		}
		id := r.URL.Query().Get("chart")
		for _, b := range d.Charts {
			if b.ID != id {
				continue
			}
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+"-"+id+`.csv"`)
			cw := csvsafe.NewWriter(w)
			cw.Write(b.Head)
			for _, row := range b.Rows {
				rec := make([]string, len(row))
				for i, x := range row {
					rec[i] = x.Text
				}
				cw.Write(rec)
			}
			cw.Flush()
			return
		}
		var ids []string
		for _, b := range d.Charts {
			ids = append(ids, b.ID)
		}
		c.render(w, r, http.StatusBadRequest, "error", &view{Title: "Dashboard", Nav: "dashboards", User: s,
			Error: "chart " + strconv.Quote(clipText(id, 30)) + " is not one of " + strings.Join(ids, ", ") + "."})
	}
}

func clipText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// landing sends a signed-in person to the landing page: the Risk Exposure dashboard, or the
// health page when an admin chose it.
func (c *Console) landing(w http.ResponseWriter, r *http.Request, s *session) {
	var lp client.LandingPage
	if err := c.call(r, s, "GET", "/api/v1/settings/landing-page", nil, &lp); err == nil && lp.Page == "health" {
		http.Redirect(w, r, "/health", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/dashboards/exposure", http.StatusSeeOther)
}

// saveLanding changes the landing page through the API (which checks and audits it).
func (c *Console) saveLanding(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.call(r, s, "PUT", "/api/v1/settings/landing-page", client.LandingPage{Page: r.PostFormValue("page")}, nil); err != nil {
		v := &view{Title: "Risk exposure", Nav: "dashboards", User: s}
		v.problem(err)
		v.Error = "The landing page was not changed: " + v.Error
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	c.redirect(w, r, "/dashboards/exposure", "Saved: everyone now lands on the "+map[string]string{"health": "health page", "risk_exposure": "Risk exposure dashboard"}[r.PostFormValue("page")]+" after signing in.")
}
