package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
)

// serviceNames are the display names of the services (R1.2).
var serviceNames = map[string]string{
	"box": "Box", "google_drive": "Google Drive", "onedrive": "Microsoft OneDrive for Business",
	"gmail": "Gmail", "microsoft365_mail": "Microsoft 365 mail",
}

var serviceTypes = map[string]string{"cloud": "Cloud", "email": "Email", "integration": "Automated integration"}

func serviceName(s string) string {
	if n, ok := serviceNames[s]; ok {
		return n
	}
	return s
}

func serviceType(s string) string {
	if n, ok := serviceTypes[s]; ok {
		return n
	}
	return s
}

// statusTone is the colour class of a status; the text label always accompanies it.
func statusTone(status string) string {
	switch status {
	case "monitoring", "connected":
		return "ok"
	case "searching", "indexing":
		return "busy"
	case "maintenance", "deauthorizing", "deleting":
		return "warn"
	case "error":
		return "bad"
	case "deauthorized":
		return "off"
	}
	return "off"
}

// transitional statuses change by themselves; their pages refresh.
func transitional(status string) bool {
	switch status {
	case "searching", "indexing", "deauthorizing", "deleting":
		return true
	}
	return false
}

// blindSpot: a connection that is not collecting as it should (R1.10, R8.1).
func blindSpot(status string) bool {
	return status == "error" || status == "deauthorized" || status == "deauthorizing"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func prettyJSON(raw json.RawMessage) string { return jsonText(raw, "  ") }

// compactJSON shows a JSON value on one line as people read it: html/template escapes the page,
// so the \u003c escapes that encoding/json puts in for <, > and & would show literally.
func compactJSON(raw json.RawMessage) string { return jsonText(raw, "") }

func jsonText(raw json.RawMessage, indent string) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if enc.Encode(v) != nil {
		return string(raw)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func humanSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10) + " B"
}

var funcs = template.FuncMap{
	"serviceName": serviceName, "serviceType": serviceType, "statusTone": statusTone,
	"transitional": transitional, "fmtTime": fmtTime, "isoTime": isoTime, "prettyJSON": prettyJSON, "compactJSON": compactJSON,
	"humanSize": humanSize, "blindSpot": blindSpot,
	"add":             func(a, b int) int { return a + b },
	"percent":         func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"hasPrefix":       strings.HasPrefix,
	"fieldOf":         fieldOf,
	"join":            strings.Join,
	"has":             slices.Contains[[]string],
	"list":            func(xs ...string) []string { return xs },
	"trimPrefix":      strings.TrimPrefix,
	"integrationKind": integrationKind,
	"conditionText":   conditionText,
	"conditionTone":   conditionTone,
	"dict":            func() map[string]string { return map[string]string{} },
	"deliveryState":   deliveryState,
	"sparkline":       sparkline,
	"secs":            secs,
}

// secs shows a number of seconds as a duration: "45s", "12m0s", "3h5m0s"; "-" for none.
func secs(n float64) string {
	if n <= 0 {
		return "-"
	}
	d := time.Duration(n * float64(time.Second))
	if d >= time.Minute {
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

// sparkline draws counts (oldest first) as an inline SVG bar chart, 3 pixels a bar, with a text
// equivalent for screen readers and for people who cannot see it.
func sparkline(counts []int64) template.HTML {
	if len(counts) == 0 {
		return ""
	}
	var top, sum int64
	for _, n := range counts {
		top, sum = max(top, n), sum+n
	}
	const h = 16
	var b strings.Builder
	label := fmt.Sprintf("%d alerts over the last %d days, at most %d on one day", sum, len(counts), top)
	fmt.Fprintf(&b, `<svg class="sparkline" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		3*len(counts), h, 3*len(counts), h, template.HTMLEscapeString(label), template.HTMLEscapeString(label))
	for i, n := range counts {
		if n == 0 || top == 0 {
			continue
		}
		bh := max(1, int(n*h/top))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="2" height="%d"></rect>`, 3*i, h-bh, bh)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// integrationKind names an integration's kind for people.
func integrationKind(i client.Integration) string {
	switch {
	case i.Kind == "webhook":
		return "Generic webhook (signed)"
	case i.Kind == "slack" && i.Settings.Mode == "bot":
		return "Slack (bot)"
	case i.Kind == "slack":
		return "Slack (incoming webhook)"
	case i.Kind == "servicenow":
		return "ServiceNow incident"
	case i.Kind == "jira":
		return "Jira issue"
	case i.Kind == "okta" && i.Settings.Operation == "remove":
		return "Okta group (remove the person)"
	case i.Kind == "okta":
		return "Okta group (add the person)"
	case i.Kind == "workday":
		return "HR source: Workday report"
	case i.Kind == "bamboohr":
		return "HR source: BambooHR"
	case i.Kind == "hr_csv":
		return "HR source: CSV upload"
	case i.Kind == "hr_webhook":
		return "HR source: signed webhook"
	}
	return i.Kind
}

// conditionText names an integration's condition for people ("" when it is fine).
func conditionText(c string) string {
	switch c {
	case "credentials_refused":
		return "credentials refused"
	case "rate_limited":
		return "rate limited"
	case "failing":
		return "failing"
	}
	return ""
}

// conditionTone is the colour class of a condition.
func conditionTone(c string) string {
	if c == "credentials_refused" {
		return "bad"
	}
	return "warn"
}

// deliveryState names a delivery's state for people.
func deliveryState(s string) string {
	switch s {
	case "done":
		return "Sent"
	case "dead":
		return "Failed"
	case "pending":
		return "Pending"
	}
	return s
}

// specField is one connector field with what was typed and the API's message for it.
type specField struct {
	F     client.ConnectorField
	Value string
	Err   string
}

func fieldOf(v *view, f client.ConnectorField) specField {
	sf := specField{F: f, Err: v.Fields[f.Name]}
	if wz, ok := v.Data.(wizard); ok && !f.Secret {
		sf.Value = wz.Values[f.Name]
	}
	return sf
}
