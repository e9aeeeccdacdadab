package googledrive

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	reports "google.golang.org/api/admin/reports/v1"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
)

// reportsKey is the key of the connection's Reports API stream.
const reportsKey = "reports"

// The Reports API lists a Drive action 30 minutes to 3 hours after it happened, out of order
// (vendor notes, Corrections 11). Each poll therefore reads the window [watermark - reportsOverlap,
// now] and moves the watermark to now: a record that was not listed yet at one poll is within
// the next one's window as long as it arrives within the overlap. Records read twice are dropped
// by their id (Spec.DedupeHorizon covers the overlap).
const (
	reportsOverlap = 3*time.Hour + 15*time.Minute
	reportsEvery   = 5 * time.Minute
	reportsPage    = 1000 // maxResults' maximum
)

// reportsCursor is the stream's position: the watermark (every record up to it that Google had
// listed when it was read has been read) and, while a window is being paged, the window and the
// next page token.
type reportsCursor struct {
	Mark time.Time `json:"w"`
	// Floor is when the stream started (StreamStart): the overlap never reaches before it, so a
	// stream started anew (a new connection, a resume after deauthorization) reads nothing of the
	// time before.
	Floor time.Time `json:"f,omitzero"`
	Start time.Time `json:"s,omitzero"`
	End   time.Time `json:"e,omitzero"`
	Page  string    `json:"p,omitempty"`
}

func (c reportsCursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// reportsSpec is the tenant stream.
func reportsSpec() connector.StreamSpec {
	return connector.StreamSpec{Key: reportsKey, Every: reportsEvery}
}

// reportsStart: the stream starts now; activity before the connection is the crawl's baseline.
func (s *session) reportsStart() string {
	now := s.deps.Clock.Now().UTC().Truncate(time.Second)
	return reportsCursor{Mark: now, Floor: now}.String()
}

// reportsChanges reads one page of the Reports API's Drive activities in the cursor's window
// (starting a window from the watermark when none is open) and adapts them (feed "reports").
func (s *session) reportsChanges(ctx context.Context, pos string) (connector.ChangesPage, error) {
	var cur reportsCursor
	if err := json.Unmarshal([]byte(pos), &cur); err != nil || cur.Mark.IsZero() {
		return connector.ChangesPage{}, fmt.Errorf("%w: google drive: the Reports stream's cursor %q is not one Telltale wrote", connector.ErrMalformed, clip(pos))
	}
	if cur.Start.IsZero() {
		now := s.deps.Clock.Now().UTC().Truncate(time.Second)
		cur.Start, cur.End = cur.Mark.Add(-s.overlap), now
		if cur.Start.Before(cur.Floor) {
			cur.Start = cur.Floor
		}
		if !cur.End.After(cur.Start) {
			return connector.ChangesPage{Next: pos}, nil
		}
	}
	ctx, svc := s.as(ctx, s.admin)
	call := svc.reports.Activities.List("all", "drive").MaxResults(reportsPage).
		StartTime(cur.Start.Format(time.RFC3339)).EndTime(cur.End.Format(time.RFC3339))
	if s.customer != "my_customer" && !strings.Contains(s.customer, ".") {
		call = call.CustomerId(s.customer)
	}
	if cur.Page != "" {
		call = call.PageToken(cur.Page)
	}
	page, err := call.Context(ctx).Do()
	if err != nil {
		return connector.ChangesPage{}, s.g.Classify(googlekit.Plain(err), "reading Drive activity from the Reports API as %s", s.admin)
	}
	var out connector.ChangesPage
	for i, item := range page.Items {
		a, err := activityFromAPI(item)
		if err != nil {
			// One record Telltale cannot read is skipped and counted, never the whole window.
			out.Records = append(out.Records, connector.Record{VendorID: fmt.Sprintf("undecodable:%s/%d", cur.Page, i), Skip: SkipUndecodable})
			s.log.Warn("google drive: a Reports API record could not be read", "err", err)
			continue
		}
		for _, r := range Adapt(a, Options{OwnApps: s.ownApps()}) {
			r.Feed = feedReports
			out.Records = append(out.Records, r)
		}
	}
	if page.NextPageToken != "" {
		cur.Page = page.NextPageToken
		out.Next, out.More = cur.String(), true
		return out, nil
	}
	out.Next = reportsCursor{Mark: cur.End, Floor: cur.Floor}.String()
	return out, nil
}

// ownApps identify Telltale's own reads in the audit log (Options.OwnApps).
func (s *session) ownApps() []string {
	var out []string
	for _, v := range []string{s.projectFromKey, s.clientIDFromKey} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// SkipUndecodable: a Reports API record without the fields every record has.
const SkipUndecodable = "undecodable"

// activityFromAPI is the client's decoded activity as Adapt's Activity. The generated types drop
// false and zero values (boolValue and intValue are omitempty): a parameter that carries no value
// at all was one of those, and is read as "false" (the connector uses boolean parameters only, as
// primary_event false marks a side effect of an action reported elsewhere).
func activityFromAPI(x *reports.Activity) (Activity, error) {
	if x == nil || x.Id == nil || x.Id.Time == "" {
		return Activity{}, fmt.Errorf("google drive activity: id.time is missing: every activity has one")
	}
	t, err := time.Parse(time.RFC3339Nano, x.Id.Time)
	if err != nil {
		return Activity{}, fmt.Errorf("google drive activity: id.time %q is not RFC 3339", x.Id.Time)
	}
	a := Activity{Time: t.UTC(), UniqueQualifier: strconv.FormatInt(x.Id.UniqueQualifier, 10), Application: x.Id.ApplicationName,
		Customer: x.Id.CustomerId, IP: x.IpAddress, OwnerDomain: strings.ToLower(x.OwnerDomain)}
	if x.Actor != nil {
		a.ActorEmail, a.ActorProfileID = strings.ToLower(x.Actor.Email), x.Actor.ProfileId
		a.CallerType, a.ActorKey = x.Actor.CallerType, x.Actor.Key
	}
	for _, e := range x.Events {
		if e == nil {
			continue
		}
		ev := Event{Type: e.Type, Name: e.Name, Params: make(map[string]Param, len(e.Parameters))}
		for _, p := range e.Parameters {
			if p == nil || p.Name == "" {
				continue
			}
			var v Param
			switch {
			case p.Value != "":
				v.Value = p.Value
			case p.IntValue != 0:
				v.Value = strconv.FormatInt(p.IntValue, 10)
			case p.BoolValue:
				v.Value = "true"
			}
			v.Multi = append(v.Multi, p.MultiValue...)
			for _, n := range p.MultiIntValue {
				v.Multi = append(v.Multi, strconv.FormatInt(n, 10))
			}
			if v.Value == "" && len(v.Multi) == 0 && p.MessageValue == nil && len(p.MultiMessageValue) == 0 {
				v.Value = "false" // boolValue false (or intValue 0), which the client's types drop
			}
			ev.Params[p.Name] = v
		}
		a.Events = append(a.Events, ev)
	}
	return a, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
