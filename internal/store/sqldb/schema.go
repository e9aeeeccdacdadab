package sqldb

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Migration is one forward-only schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
	// OlderNodes is the oldest schema version whose nodes keep working correctly on the database
	// once this migration ran, for a rolling upgrade (docs/OPERATIONS.md, "Upgrading"): declared
	// in the file by a line "-- older-nodes: NNNN". 0 (undeclared): Version, no older node may
	// start on it.
	OlderNodes int
}

var (
	migrationName = regexp.MustCompile(`^([0-9]+)_([a-z0-9_]+)\.sql$`)
	olderNodesRE  = regexp.MustCompile(`(?m)^-- older-nodes: ([0-9]+)\s*$`)
)

// LoadMigrations reads a driver's migrations: the files NNNN_name.sql at the root of fsys (an
// embed.FS sub-tree), numbered 1, 2, 3, ... without gaps. Other files are refused, so that a
// misnamed migration cannot be skipped silently.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("store: migration file %q is not named NNNN_name.sql", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("store: migration file %q: %w", e.Name(), err)
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: read migration %q: %w", e.Name(), err)
		}
		mig := Migration{Version: v, Name: m[2], SQL: string(b)}
		if o := olderNodesRE.FindStringSubmatch(mig.SQL); o != nil {
			mig.OlderNodes, _ = strconv.Atoi(o[1])
			if mig.OlderNodes < 1 || mig.OlderNodes > v {
				return nil, fmt.Errorf("store: migration file %q: older-nodes %s must name a schema version from 1 to %d", e.Name(), o[1], v)
			}
		}
		ms = append(ms, mig)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("store: migrations must be numbered 1, 2, 3, ... without gaps or repeats; found %d (%s) at position %d", m.Version, m.Name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("store: no migrations found")
	}
	return ms, nil
}

// splitStatements splits a migration into its statements: they end with ";" at the end of a line,
// outside a dollar-quoted body ($$ ... $$: a PostgreSQL function or DO block, whose own lines end
// with ";"). Comment lines ("-- ...") are dropped, so a semicolon in a comment cannot split a
// statement.
func splitStatements(s string) []string {
	var out []string
	var cur []string
	quoted := false
	flush := func() {
		if p := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.Join(cur, "\n")), ";")); p != "" {
			out = append(out, p)
		}
		cur = nil
	}
	for _, l := range strings.Split(s, "\n") {
		if !quoted && strings.HasPrefix(strings.TrimSpace(l), "--") {
			continue
		}
		cur = append(cur, l)
		if strings.Count(l, "$$")%2 == 1 {
			quoted = !quoted
		}
		if !quoted && strings.HasSuffix(strings.TrimSpace(l), ";") {
			flush()
		}
	}
	flush()
	return out
}
