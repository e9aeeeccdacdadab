package connection

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckEveryTransition checks every status x every action x {cloud, email} against results
// written out by hand. "-" means refused.
func TestCheckEveryTransition(t *testing.T) {
	const r = "-"
	type pair struct{ cloud, email string }
	// columns: deauthorize, resume, start_maintenance, end_maintenance, delete, discovered, indexed,
	// new_drives, fail, recover, deauthorized, retention_expired
	actions := []Action{ActionDeauthorize, ActionResume, ActionStartMaintenance, ActionEndMaintenance, ActionDelete,
		ActionDiscovered, ActionIndexed, ActionNewDrives, ActionFail, ActionRecover, ActionDeauthorized, ActionRetentionExpired}
	want := map[Status][]pair{
		Searching: {{r, r}, {r, r}, {r, r}, {r, r}, {r, r},
			{"indexing", "monitoring"}, {r, r}, {r, r}, {"error", "error"}, {r, r}, {r, r}, {r, r}},
		Indexing: {{"deauthorizing", r}, {r, r}, {"maintenance", r}, {r, r}, {r, r},
			{r, r}, {"monitoring", r}, {r, r}, {"error", r}, {r, r}, {r, r}, {r, r}},
		Monitoring: {{"deauthorizing", "deauthorizing"}, {r, r}, {"maintenance", "maintenance"}, {r, r}, {r, r},
			{r, r}, {r, r}, {"indexing", r}, {"error", "error"}, {r, r}, {r, r}, {r, r}},
		Maintenance: {{r, r}, {r, r}, {r, r}, {"monitoring", "monitoring"}, {r, r},
			{r, r}, {r, r}, {r, r}, {r, r}, {r, r}, {r, r}, {r, r}},
		Error: {{"deauthorizing", "deauthorizing"}, {r, r}, {"maintenance", "maintenance"}, {r, r}, {r, r},
			{r, r}, {r, r}, {r, r}, {r, r}, {"monitoring", "monitoring"}, {r, r}, {r, r}},
		Deauthorizing: {{r, r}, {r, r}, {r, r}, {r, r}, {r, r},
			{r, r}, {r, r}, {r, r}, {r, r}, {r, r}, {"deauthorized", "deauthorized"}, {r, r}},
		Deauthorized: {{r, r}, {"searching", "searching"}, {r, r}, {r, r}, {"deleting", "deleting"},
			{r, r}, {r, r}, {r, r}, {r, r}, {r, r}, {r, r}, {"deleting", "deleting"}},
		Deleting: {{r, r}, {r, r}, {r, r}, {r, r}, {r, r},
			{r, r}, {r, r}, {r, r}, {r, r}, {r, r}, {r, r}, {r, r}},
	}
	if len(Actions()) != len(actions) || len(Statuses()) != len(want) {
		t.Fatalf("the test covers %d actions and %d statuses; the package has %d and %d", len(actions), len(want), len(Actions()), len(Statuses()))
	}
	n := 0
	for _, st := range Statuses() {
		row := want[st]
		for i, a := range actions {
			for _, typ := range []string{Cloud, Email} {
				exp := row[i].cloud
				if typ == Email {
					exp = row[i].email
				}
				got, err := Check(st, a, typ)
				n++
				if exp == r {
					if err == nil || !errors.Is(err, ErrRefused) {
						t.Errorf("Check(%s, %s, %s) = %q, %v; want refused", st, a, typ, got, err)
					} else if !strings.HasPrefix(err.Error(), "cannot ") || !strings.Contains(err.Error(), ": ") {
						t.Errorf("Check(%s, %s, %s): refusal %q does not say why and what to do", st, a, typ, err)
					}
					continue
				}
				if err != nil || string(got) != exp {
					t.Errorf("Check(%s, %s, %s) = %q, %v; want %q", st, a, typ, got, err, exp)
				}
			}
		}
	}
	if n != 8*12*2 {
		t.Fatalf("checked %d cases", n)
	}
}

func TestRefusalMessages(t *testing.T) {
	_, err := Check(Searching, ActionDeauthorize, Cloud)
	if want := "cannot deauthorize while the connection is searching for drives: wait until discovery finishes, then deauthorize"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	_, err = Check(Searching, ActionDeauthorize, Email)
	if err == nil || !strings.Contains(err.Error(), "searching for email accounts") {
		t.Errorf("email searching refusal: %v", err)
	}
	_, err = Check(Maintenance, ActionDeauthorize, Cloud)
	if err == nil || !strings.Contains(err.Error(), "end maintenance first") {
		t.Errorf("maintenance refusal: %v", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Error("a refusal must not be ErrInvalid")
	}
}

func TestLabels(t *testing.T) {
	cases := []struct {
		s         Status
		typ, want string
	}{
		{Searching, Cloud, "Searching for drives"},
		{Searching, Email, "Searching for email accounts"},
		{Indexing, Cloud, "Monitoring, indexing in progress"},
		{Monitoring, Email, "Monitoring"},
		{Maintenance, Cloud, "Maintenance"},
		{Error, Cloud, "Error"},
		{Deauthorizing, Cloud, "Deauthorizing"},
		{Deauthorized, Email, "Deauthorized"},
		{Deleting, Cloud, "Deleting"},
	}
	for _, c := range cases {
		if got := c.s.Label(c.typ); got != c.want {
			t.Errorf("%s.Label(%s) = %q, want %q", c.s, c.typ, got, c.want)
		}
	}
	if Error.Colour() != "danger" || Monitoring.Colour() != "success" || Maintenance.Colour() != "warning" {
		t.Error("colours")
	}
	if len(Table()) == 0 {
		t.Error("empty table")
	}
}
