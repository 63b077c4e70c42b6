package caddymodule

import "time"

// SetOwnerClock moves the clock of login links and sessions, for tests in
// caddymodule_test; it returns a function that puts the real one back.
func SetOwnerClock(now func() time.Time) (restore func()) {
	old := ownerNow
	ownerNow = now
	return func() { ownerNow = old }
}
