package clock

import (
	"testing"
	"time"
)

func TestSetMovesAndRestores(t *testing.T) {
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	restore := Set(func() time.Time { return fixed })
	if !Now().Equal(fixed) {
		t.Fatalf("Now = %v, want the moved clock", Now())
	}
	restore()
	if d := time.Since(Now()); d < -time.Minute || d > time.Minute {
		t.Fatalf("Now = %v after restore, want the wall clock", Now())
	}
}
