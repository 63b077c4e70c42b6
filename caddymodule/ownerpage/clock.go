package ownerpage

import "time"

// SetClock moves the clock of login links and sessions, for the in-process
// tests of the assembled modules (caddymodule's tests); it returns a
// function that puts the real one back. Not for production use.
func SetClock(now func() time.Time) (restore func()) {
	old := ownerNow
	ownerNow = now
	return func() { ownerNow = old }
}
