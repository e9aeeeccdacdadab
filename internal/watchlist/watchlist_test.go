package watchlist

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestParseCSV: the members CSV follows the scope CSV's rules (R2.9): the whole list, or an error
// that names the line or the rows and what is wrong, never part of the file.
func TestParseCSV(t *testing.T) {
	ms, err := ParseCSV(strings.NewReader("Email,Departure Date,Notes\r\nBob@Corp.Example,2026-12-31,resigned\r\n\r\nann@corp.example,,\r\nbob@corp.example,,dup\r\n"), DepartingEmployee)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (store.WatchlistMember{Email: "bob@corp.example", DepartureDate: "2026-12-31", Notes: "resigned"}) || ms[1].Email != "ann@corp.example" {
		t.Errorf("members %+v", ms)
	}
	for _, c := range []struct{ csv, typ, want string }{
		{"Email\nann@corp.example\nnot-an-address\n", Custom, "row 3: \"not-an-address\" is not an email address (it has no @)"},
		{"Email,Departure Date\nann@corp.example,31/12/2026\n", DepartingEmployee, "row 2: \"31/12/2026\" departure date: is not a date such as 2026-12-31"},
		{"Email,Departure Date\nann@corp.example,2026-12-31\n", "contractor", "row 2: \"2026-12-31\" departure date: only members of the departing_employee watchlist have one"},
		{"Name\nann\n", Custom, `the file has no "Email" or "Email Address" column`},
		{"Email\n\"ann@corp.example\n", Custom, "line 2 is not valid CSV"},
		{"", Custom, "the file is empty"},
	} {
		ms, err := ParseCSV(strings.NewReader(c.csv), c.typ)
		var se *scope.Error
		if !errors.As(err, &se) || ms != nil {
			t.Errorf("%q: %v %+v, want a *scope.Error and nothing", c.csv, err, ms)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.csv, err, c.want)
		}
	}
}

type src struct {
	rev   int64
	ms    []store.WatchlistMembership
	loads int
}

func (s *src) WatchlistRevision(context.Context) (int64, error) { return s.rev, nil }
func (s *src) ListWatchlistMemberships(context.Context) ([]store.WatchlistMembership, error) {
	s.loads++
	return slices.Clone(s.ms), nil
}

// TestCache: the memberships load once and again only when the revision moved.
func TestCache(t *testing.T) {
	s := &src{rev: 1, ms: []store.WatchlistMembership{{Email: "ann@corp.example", Type: "custom", Name: "Project X"},
		{Email: "ann@corp.example", Type: DepartingEmployee, Name: DepartingEmployee}}}
	c := NewCache(s)
	ctx := context.Background()
	for range 3 {
		set, err := c.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := set.Types("ann@corp.example"); !slices.Equal(got, []string{DepartingEmployee, Custom}) {
			t.Errorf("types %v", got)
		}
		if !set.OnAny("ann@corp.example", []string{Key(" project x ")}) || set.OnAny("ann@corp.example", []string{"flight_risk"}) || set.OnAny("bob@corp.example", []string{DepartingEmployee}) {
			t.Error("OnAny")
		}
	}
	if s.loads != 1 {
		t.Errorf("loaded %d times at one revision", s.loads)
	}
	s.ms, s.rev = nil, 2
	set, _ := c.Get(ctx)
	if s.loads != 2 || set.Types("ann@corp.example") != nil {
		t.Errorf("after a change: %d loads, %v", s.loads, set.Types("ann@corp.example"))
	}
}
