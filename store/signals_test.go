package store

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate/store/pgtest"
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
	// The listener connects in the background: signalArrives sends until
	// one arrives.
	signalArrives(t, a, got, "d kc_x hc_1 once")
}

// signalArrives sends msg from a until got receives it.
func signalArrives(t *testing.T, a *Store, got <-chan string, msg string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := a.Signal(msg); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m == msg {
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("signal %q never arrived", msg)
		}
	}
}

// Signals come on the node's one LISTEN connection, the change
// notifications' (no second one per node), and come back with it when it
// is killed; a stopped subscriber hears nothing more.
func TestSignalsShareTheListenConnection(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	a, b := pgNode(t, dsn, kr, nil), pgNode(t, dsn, kr, nil)
	got := make(chan string, 100)
	stop := b.ListenSignals(func(m string) { got <- m })
	defer stop()
	signalArrives(t, a, got, "first")

	db := dsnDatabase(t, dsn)
	var listens, others int
	err := pgConn(t, dsn).QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE application_name = 'keygate-listen'),
		count(*) FILTER (WHERE application_name LIKE 'keygate-%' AND application_name <> 'keygate-listen')
		FROM pg_stat_activity WHERE datname = $1`, db).Scan(&listens, &others)
	if err != nil {
		t.Fatal(err)
	}
	if listens != 2 || others != 0 {
		t.Fatalf("LISTEN connections: %d keygate-listen (want 2, one per node), %d others (want 0)", listens, others)
	}

	if err := pgtest.Exec(dsn, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'keygate-listen' AND datname = $1`, db); err != nil {
		t.Fatal(err)
	}
	signalArrives(t, a, got, "after reconnecting")

	stop()
	if err := a.Signal("after stop"); err != nil {
		t.Fatal(err)
	}
	// A change notification sent after the signal arrives after it on the
	// same connection: once b has obeyed it, the signal was handed on.
	kc := mustKeychain(t, b)
	if _, err := b.GetKeychain(kc.ID); err != nil { // now cached on b
		t.Fatal(err)
	}
	want := mustRotate(t, a, kc.ID)
	eventually(t, "b obeys the rotation", func() bool {
		k, err := b.GetKeychain(kc.ID)
		return err == nil && k.TokenVersion == want
	})
	for len(got) > 0 {
		if m := <-got; m == "after stop" {
			t.Fatal("a stopped subscriber was called")
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
