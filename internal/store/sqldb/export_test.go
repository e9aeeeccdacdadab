package sqldb

// SetCommonCandidates sets how many trigram candidates make a name term common (see
// commonCandidates) and returns a func restoring the old value.
func SetCommonCandidates(n int64) func() {
	old := commonCandidates
	commonCandidates = n
	return func() { commonCandidates = old }
}
