//go:build unix

package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lockDataDir takes the data directory's lock for this process: only one node may use an
// embedded SQLite store, and holding the lock is what lets the node release leases a killed
// process left (store.ReleaseLeases) instead of waiting for them to run out. The lock is an
// advisory flock the kernel drops when the process dies, however it dies.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "telltale.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("app: data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("app: another Telltale process (pid %s) is using the data dir %s: stop it, or give this node another --data-dir (several nodes share work only on PostgreSQL)",
				strings.TrimSpace(string(b)), dir)
		}
		return nil, fmt.Errorf("app: data dir lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	return f, nil
}
