package alert

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// Template is a rule Telltale ships, installed and enabled on a node's first start (docs/ALERTS.md).
type Template struct {
	Key         string
	Name        string
	Description string
	Query       string
	Kind        string
	Params      Params
	Severity    string
}

// sensitive is the file categories the templates treat as sensitive.
const sensitive = `(category:document OR category:spreadsheet OR category:presentation OR category:pdf OR category:source_code OR category:archive OR category:email OR category:virtual_disk)`

// fileSharing is destinations of consumer file-sharing services.
const fileSharing = `(domain:dropbox.com OR domain:wetransfer.com OR domain:we.tl OR domain:mega.nz OR domain:mediafire.com OR domain:sendspace.com OR domain:box.net)`

// Templates lists the shipped rules.
func Templates() []Template {
	return []Template{
		{Key: "public_link_sensitive", Name: "Public link to a sensitive file",
			Description: "A person creates a link anyone can open to a document, spreadsheet, presentation, PDF, source code, archive, mailbox or disk image. One alert per person per hour gathers the rest.",
			Query:       "exposure:public_link " + sensitive, Kind: Threshold, Params: Params{Value: 1, Window: "1h"}, Severity: "high"},
		{Key: "external_sharing_volume", Name: "External sharing volume",
			Description: "A person shares 20 or more distinct files outside the trusted domains within an hour.",
			Query:       "action:shared exposure:outside_trusted_domains", Kind: Threshold,
			Params: Params{Measure: MeasureFiles, Value: 20, Window: "1h"}, Severity: "high"},
		{Key: "attachments_personal_mail", Name: "Attachments to personal mail",
			Description: "A person e-mails a file to a personal-mail address (gmail.com, outlook.com, ...). One alert per person per day gathers the rest.",
			Query:       "action:emailed indicator:personal_mail", Kind: Threshold, Params: Params{Value: 1, Window: "24h"}, Severity: "moderate"},
		{Key: "off_hours_bulk_download", Name: "Off-hours bulk download",
			Description: "A person downloads 50 or more distinct files, or 500 MB, outside working hours within an hour (two rules' worth in one: files here; copy it for bytes).",
			Query:       "action:downloaded indicator:off_hours", Kind: Threshold,
			Params: Params{Measure: MeasureFiles, Value: 50, Window: "1h"}, Severity: "high"},
		{Key: "first_personal_destination", Name: "First use of a personal-mail or file-sharing destination",
			Description: "A person sends or shares a file to a personal-mail or consumer file-sharing domain they had not used in 90 days.",
			Query:       "(action:emailed OR action:shared) (indicator:personal_mail OR " + fileSharing + ")", Kind: NewTerms,
			Params: Params{Fields: []string{"actor", "domain"}, HistoryDays: 90, Window: "24h"}, Severity: "moderate"},
		{Key: "departing_employee_exfiltration", Name: "Departing employee exfiltration",
			Description: "A person on the departing_employee watchlist moves a file out: a scored share or e-mail (a public link, a destination outside the trusted domains) or a download. One alert per person per day gathers the rest. It raises nothing until the watchlist has members.",
			Query:       "(action:shared OR action:emailed OR action:downloaded) risk.score>=1", Kind: Threshold,
			Params: Params{Value: 1, Window: "24h", Watchlists: []string{"departing_employee"}}, Severity: "high"},
	}
}

// templatesSetting records that the templates were installed, so a template an admin deleted
// does not come back at the next start.
const templatesSetting = "alerts.templates_installed"

// TemplateStore is what installing templates needs.
type TemplateStore interface {
	InTx(ctx context.Context, fn func(q store.Queries) error) error
}

// firstTemplates are the templates of the first release with alerts, which recorded their number
// only.
var firstTemplates = []string{"public_link_sensitive", "external_sharing_volume", "attachments_personal_mail", "off_hours_bulk_download", "first_personal_destination"}

// installed is the templates setting: which templates were installed once.
type installed struct {
	At        time.Time `json:"at"`
	Templates int       `json:"templates"`
	Keys      []string  `json:"keys,omitempty"`
}

// InstallTemplates creates the shipped rules, enabled, each once per database (the first start with
// alerts installs them all, a later version's first start the templates it adds), and returns how
// many it created. A template whose name an admin's rule already has is left out. Nodes starting
// together on one PostgreSQL race here: the loser's transaction meets the winner's rules
// (ErrConflict) and is tried again, when it finds them installed.
func InstallTemplates(ctx context.Context, st TemplateStore, now time.Time) (int, error) {
	for attempt := 1; ; attempt++ {
		n, err := installTemplates(ctx, st, now)
		if !errors.Is(err, store.ErrConflict) || attempt == 3 {
			return n, err
		}
	}
}

func installTemplates(ctx context.Context, st TemplateStore, now time.Time) (int, error) {
	n := 0
	err := st.InTx(ctx, func(q store.Queries) error {
		var done installed
		if b, err := q.GetSetting(ctx, templatesSetting); err == nil {
			if err := json.Unmarshal(b, &done); err != nil {
				return err
			}
			if done.Keys == nil {
				done.Keys = firstTemplates
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var todo []Template
		for _, t := range Templates() {
			if !slices.Contains(done.Keys, t.Key) {
				todo = append(todo, t)
			}
		}
		if len(todo) == 0 {
			return nil
		}
		have, err := q.ListAlertRules(ctx)
		if err != nil {
			return err
		}
		taken := map[string]bool{}
		for _, r := range have {
			taken[strings.ToLower(strings.TrimSpace(r.Name))] = true
		}
		for _, t := range todo {
			done.Keys = append(done.Keys, t.Key)
			p, err := json.Marshal(t.Params)
			if err != nil {
				return err
			}
			r := store.AlertRule{Name: t.Name, Description: t.Description, Query: t.Query, Kind: t.Kind, Params: p,
				Severity: t.Severity, Enabled: true, Template: t.Key, CreatedBy: "system", CreatedAt: now}
			if _, err := Compile(r, now); err != nil {
				return err
			}
			if taken[strings.ToLower(t.Name)] {
				continue
			}
			if _, err := q.CreateAlertRule(ctx, r); err != nil {
				return err
			}
			n++
		}
		done.At, done.Templates = now.UTC(), len(done.Keys)
		b, _ := json.Marshal(done)
		return q.PutSetting(ctx, templatesSetting, b)
	})
	return n, err
}
