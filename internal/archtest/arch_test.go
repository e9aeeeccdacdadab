package archtest

import (
	"encoding/json"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/telltale-dev/telltale"

type pkg struct {
	ImportPath string
	Dir        string
	Doc        string
	Imports    []string
	Name       string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var ps []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if len(ps) < 10 {
		t.Fatalf("go list found only %d packages", len(ps))
	}
	return ps
}

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

func internalImports(p pkg) []string {
	var out []string
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, module+"/") || imp == module {
			out = append(out, rel(imp))
		}
	}
	return out
}

func under(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

// isTestSupport reports packages that exist only for tests.
func isTestSupport(p string) bool {
	return under(p, "internal/testutil") || strings.HasSuffix(p, "test")
}

// TestImportRules checks the arrows of docs/ARCHITECTURE.md.
func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		me := rel(p.ImportPath)
		for _, imp := range internalImports(p) {
			if reason := forbidden(me, imp); reason != "" {
				t.Errorf("%s imports %s: %s", me, imp, reason)
			}
		}
	}
}

func forbidden(me, imp string) string {
	switch {
	case under(imp, "cmd"):
		return "nothing imports a command"
	case imp == "internal/app" && !under(me, "internal/cli") && !under(me, "cmd"):
		return "only cli (and cmd) import the composition root"
	case isTestSupport(imp) && !isTestSupport(me) && me != "internal/bench":
		return "test support packages are for tests (and the benchmark program) only"
	}
	if me == "client" {
		return "the public client uses only the standard library"
	}
	if me == "internal/event" {
		return "event imports only the standard library"
	}
	if under(me, "internal/store") && !under(me, "internal/store/storetest") {
		switch {
		case imp == "internal/store", under(imp, "internal/store/sqldb"), imp == "internal/event", imp == "internal/search":
			return ""
		}
		return "store drivers import only store, event and search"
	}
	if under(imp, "internal/store/sqlite") || under(imp, "internal/store/postgres") || under(imp, "internal/store/sqldb") {
		if !under(me, "internal/app") && !isTestSupport(me) && me != "internal/bench" {
			return "only app sees the store drivers; everything else uses the store contract"
		}
	}
	if under(me, "internal/connector/kit") {
		if parts := strings.Split(imp, "/"); len(parts) >= 3 && parts[1] == "connector" && parts[2] != "kit" {
			return "the vendor kit serves every vendor and imports none"
		}
		if under(imp, "internal/store") {
			return "the vendor kit never imports the store"
		}
	}
	if parts := strings.Split(me, "/"); len(parts) == 3 && (parts[1] == "connector" || parts[1] == "integration") && parts[2] != "all" && parts[2] != "kit" && !isTestSupport(me) {
		switch {
		case imp == "internal/"+parts[1], imp == "internal/event", imp == "internal/httpx":
			return ""
		case parts[1] == "connector" && under(imp, "internal/connector/kit"):
			return "" // the vendor kit is shared by every connector
		case under(imp, "internal/store"):
			return "vendors never import the store"
		case path.Dir(imp) == "internal/"+parts[1]:
			return "a vendor never imports a sibling vendor"
		}
		return "a vendor imports only its contract, event, httpx and (connectors) the vendor kit"
	}
	if under(imp, "internal/emulator") && !under(me, "internal/app") && !under(me, "internal/cli") && !under(me, "internal/emulator") && !isTestSupport(me) && me != "internal/bench" {
		return "emulators are imported only by tests, app (demo mode), cli and the benchmark program"
	}
	if under(me, "internal/agent") && !isTestSupport(me) && strings.HasPrefix(imp, "internal/") && imp != "internal/device" {
		return "the endpoint agent runs on people's machines: it imports only client and device"
	}
	if me == "internal/device" && (imp == "client" || strings.HasPrefix(imp, "internal/")) {
		return "device is the agent's and the server's shared ground: standard library only"
	}
	if (me == "internal/api" && under(imp, "internal/console")) || (me == "internal/console" && under(imp, "internal/api")) {
		return "api and console never import each other"
	}
	return ""
}

// TestRulesBite checks that the rule table refuses what the architecture forbids, so that the test
// above cannot pass by accident.
func TestRulesBite(t *testing.T) {
	for _, c := range [][2]string{
		{"internal/event", "internal/store"},
		{"internal/store/sqlite", "internal/auth"},
		{"internal/api", "internal/store/sqlite"},
		{"internal/connector/box", "internal/store"},
		{"internal/connector/box", "internal/connector/gdrive"},
		{"internal/api", "internal/console"},
		{"internal/api", "internal/app"},
		{"internal/api", "internal/emulator/box"},
		{"client", "internal/event"},
		{"internal/auth", "internal/testutil/pgtest"},
		{"internal/connector/kit/oauth", "internal/connector/box"},
		{"internal/connector/kit/faults", "internal/store"},
		{"internal/integration/jira", "internal/connector/kit/oauth"},
		{"internal/agent", "internal/store"},
		{"internal/device", "client"},
	} {
		if forbidden(c[0], c[1]) == "" {
			t.Errorf("%s -> %s should be forbidden", c[0], c[1])
		}
	}
	for _, c := range [][2]string{
		{"internal/app", "internal/store/sqlite"},
		{"internal/store/sqlite", "internal/store"},
		{"internal/connector/box", "internal/connector"},
		{"internal/connector/box", "internal/connector/kit/oauth"},
		{"internal/connector/kit/oauth", "internal/connector"},
		{"internal/cli", "internal/app"},
		{"internal/api", "client"},
		{"internal/agent", "internal/device"},
		{"internal/agent", "client"},
	} {
		if r := forbidden(c[0], c[1]); r != "" {
			t.Errorf("%s -> %s should be allowed, got %q", c[0], c[1], r)
		}
	}
}

// TestPackageDocs requires a package doc comment everywhere.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", rel(p.ImportPath))
		}
	}
}
