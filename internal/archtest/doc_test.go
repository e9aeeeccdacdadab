package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// repoRoot is the module's root, two folders above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var layoutEntry = regexp.MustCompile(`^( *)([a-z0-9_-]+)/( |$)`)

// layoutFolders reads the folders the Layout block of docs/ARCHITECTURE.md names, as paths: an
// entry is a name ending in / at the start of a line, nested by two spaces.
func layoutFolders(t *testing.T, doc string) []string {
	t.Helper()
	_, after, ok := strings.Cut(doc, "## Layout\n")
	if !ok {
		t.Fatal("docs/ARCHITECTURE.md has no Layout section")
	}
	_, block, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal("the Layout section has no code block")
	}
	block, _, _ = strings.Cut(block, "```")
	var stack, out []string
	for _, line := range strings.Split(block, "\n") {
		m := layoutEntry.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		depth := len(m[1]) / 2
		if depth > len(stack) {
			t.Fatalf("layout line %q is nested under nothing", line)
		}
		stack = append(stack[:depth], m[2])
		out = append(out, strings.Join(stack, "/"))
	}
	if len(out) < 20 {
		t.Fatalf("read only %d folders from the Layout block", len(out))
	}
	return out
}

var modulePath = regexp.MustCompile(`\b((?:github\.com|golang\.org|modernc\.org|google\.golang\.org)/[A-Za-z0-9_.\-/]+)`)

// TestArchitectureDocIsTrue: every folder the Layout names exists, every package folder under
// internal/ and cmd/ is named, and every module of the dependency table is required in go.mod.
func TestArchitectureDocIsTrue(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	listed := map[string]bool{}
	for _, f := range layoutFolders(t, doc) {
		listed[f] = true
		if fi, err := os.Stat(filepath.Join(root, f)); err != nil || !fi.IsDir() {
			t.Errorf("docs/ARCHITECTURE.md lists %s/, which does not exist", f)
		}
	}
	var unlisted []string
	for _, top := range []string{"internal", "cmd"} {
		filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if strings.Contains(rel, "testdata") || strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if goFiles, _ := filepath.Glob(filepath.Join(path, "*.go")); len(goFiles) > 0 && !listed[filepath.ToSlash(rel)] {
				unlisted = append(unlisted, rel)
			}
			return nil
		})
	}
	sort.Strings(unlisted)
	for _, p := range unlisted {
		t.Errorf("package folder %s is not in the Layout of docs/ARCHITECTURE.md", p)
	}

	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	_, deps, _ := strings.Cut(doc, "## Dependencies")
	table, _, _ := strings.Cut(deps, "\n\n"+"Chosen for planned work")
	n := 0
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range modulePath.FindAllString(line, -1) {
			n++
			if !strings.Contains(string(mod), "\t"+strings.TrimRight(m, "/.")) {
				t.Errorf("docs/ARCHITECTURE.md's dependency table names %s, which go.mod does not require", m)
			}
		}
	}
	if n < 6 {
		t.Errorf("read only %d modules from the dependency table", n)
	}
}
