package store

import (
	"testing"
	"time"
)

// TestSignalsCrossNodes: a signal sent by one node reaches a listener on
// another node of the same database.
func TestSignalsCrossNodes(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	a, b := pgNode(t, dsn, kr, nil), pgNode(t, dsn, kr, nil)
	got := make(chan string, 10)
	stop := b.ListenSignals(func(m string) { got <- m })
	defer stop()
	// The listener connects in the background: send until one arrives.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := a.Signal("d kc_x hc_1 once"); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != "d kc_x hc_1 once" {
				t.Fatalf("got %q", m)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no signal arrived")
		}
	}
}

func TestSignalTooLong(t *testing.T) {
	dsn := newPGDatabase(t)
	a := pgNode(t, dsn, testKeyring(t, "k1"), nil)
	if err := a.Signal(string(make([]byte, 1001))); err == nil {
		t.Fatal("a 1001-byte signal was sent")
	}
}

// TestSignalsSingleProcess: Badger has no other node; both calls do
// nothing.
func TestSignalsSingleProcess(t *testing.T) {
	s, _ := memStore(t)
	stop := s.ListenSignals(func(string) { t.Error("a signal arrived on a single-process store") })
	defer stop()
	if err := s.Signal("c kc_x"); err != nil {
		t.Fatal(err)
	}
}
