package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Writer().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(context.Background(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("newer schema: %v", err)
	}
	// Reopening an up-to-date database applies nothing and works.
	path2 := filepath.Join(t.TempDir(), "u.db")
	for i := 0; i < 2; i++ {
		s, err := Open(context.Background(), path2, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}
