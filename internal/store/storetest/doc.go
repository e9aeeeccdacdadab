// Package storetest is the one conformance suite every store driver passes. Drivers call Run from
// their tests with a function that opens a fresh, empty store.
package storetest
