package record

import "testing"

// NewTestStore is a Store on the test binary's Azurite with tables of its own, for
// the tests outside the package (the contract suite imports this package).
func NewTestStore(t testing.TB) *Store { return newStore(t) }
