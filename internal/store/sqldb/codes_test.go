package sqldb

import (
	"testing"

	"github.com/telltale-dev/telltale/internal/event"
)

// TestVocabCodes: every value the event schema lists has a code (a value added to event.Actions
// and the like without one here would be stored as code 0 with its text in every doc), and the
// codes are the storage format of migration 0039: the first and last of each list are pinned.
func TestVocabCodes(t *testing.T) {
	check := func(v *vocab, values []string, first, last string) {
		t.Helper()
		for _, s := range values {
			if v.codes[s] == 0 {
				t.Errorf("%s %q has no code", v.field, s)
			}
		}
		if v.codes[first] != 1 || v.codes[last] != len(v.values) {
			t.Errorf("%s: %q is %d and %q is %d: a code was moved", v.field, first, v.codes[first], last, v.codes[last])
		}
		if v.text(0, true) != "" || v.text(1, false) != "" || v.text(int64(len(v.values)+1), true) != "" {
			t.Errorf("%s: code 0, NULL or past the list read as a value", v.field)
		}
	}
	str := func(vs ...string) []string { return vs }
	var as, os, cs, ss []string
	for _, a := range event.Actions() {
		as = append(as, string(a))
	}
	for _, o := range event.Observers() {
		os = append(os, string(o))
	}
	for _, c := range event.Categories() {
		cs = append(cs, string(c))
	}
	for _, s := range event.Severities() {
		ss = append(ss, string(s))
	}
	check(actionCodes, as, "file-created", "file-emailed")
	check(observerCodes, os, "box", "endpoint")
	check(categoryCodes, cs, "archive", "other")
	check(linkCodes, str("anyone", "organization", "specific", "none"), "anyone", "none")
	check(severityCodes, ss, "none", "critical")
	if got := actionCodes.sqlList("file-shared", "file-unshared"); got != "(7, 8)" {
		t.Errorf("file_events_sharing's actions are %s, migration 0039 indexes (7, 8)", got)
	}
}
