package cli

import (
	"strings"
	"testing"
)

// TestWatchlistsCommands: list shows the built-in watchlists; add by address and by CSV (standard
// input), a bad CSV is refused naming its row and changes nothing; remove; list members.
func TestWatchlistsCommands(t *testing.T) {
	_, url := startServer(t)
	out, errs, code := run(t, url, "", "watchlists", "list")
	if code != 0 || !strings.Contains(out, "departing_employee") || !strings.Contains(out, "poor_security_practices") {
		t.Fatalf("list: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "watchlists", "add", "Departing_Employee", "bob@corp.example", "--departure-date", "2026-12-31", "--notes", "resigned")
	if code != 0 || !strings.Contains(out, "1 added") {
		t.Fatalf("add: %d %s %s", code, out, errs)
	}
	_, errs, code = run(t, url, "Email,Departure Date\ncarol@corp.example,2026-12-01\ndan@corp.example,soon\n", "watchlists", "add", "departing_employee", "--csv", "-")
	if code == 0 || !strings.Contains(errs, "row 3") || !strings.Contains(errs, "departure date") {
		t.Fatalf("bad CSV: %d %s", code, errs)
	}
	out, errs, code = run(t, url, "Email\ncarol@corp.example\n", "watchlists", "add", "departing_employee", "--csv", "-")
	if code != 0 || !strings.Contains(out, "1 added") {
		t.Fatalf("CSV: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "watchlists", "remove", "departing_employee", "carol@corp.example")
	if code != 0 || !strings.Contains(out, "1 removed") {
		t.Fatalf("remove: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "watchlists", "list", "departing_employee")
	if code != 0 || !strings.Contains(out, "bob@corp.example") || !strings.Contains(out, "2026-12-31") || strings.Contains(out, "carol") || strings.Contains(out, "dan@") {
		t.Fatalf("members: %d %s %s", code, out, errs)
	}
	if _, errs, code = run(t, url, "", "watchlists", "add", "nope", "x@corp.example"); code == 0 || !strings.Contains(errs, "no watchlist") {
		t.Fatalf("unknown watchlist: %d %s", code, errs)
	}
}
