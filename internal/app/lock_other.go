//go:build !unix

package app

import "os"

// lockDataDir is a no-op where flock does not exist: leases a killed process left then run out
// on their own (work.Options.LeaseFor).
func lockDataDir(string) (*os.File, error) { return nil, nil }
