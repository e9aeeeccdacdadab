package sqldb

// SetCommonCandidates sets how many trigram candidates make a name term common (see
// commonCandidates) and returns a func restoring the old value.
func SetCommonCandidates(n int64) func() {
	old := commonCandidates
	commonCandidates = n
	return func() { commonCandidates = old }
}

// SetAfterAddressTerms makes SearchEvents call f after it read the ids of its address terms the
// first time, before the page (a new spelling arriving in between), and returns a func restoring
// the old hook.
func SetAfterAddressTerms(f func()) func() {
	old := afterAddressTerms
	afterAddressTerms = f
	return func() { afterAddressTerms = old }
}
