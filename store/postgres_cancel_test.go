package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// stallKV makes every statement on keygate_kv wait, as a database
// stuck behind a lock does, until the test releases it (or ends).
func stallKV(t *testing.T, dsn string) (release func()) {
	t.Helper()
	conn := pgConn(t, dsn)
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE keygate_kv IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			tx.Rollback(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// whenCancelled runs call with a context cancelled once call has had the
// time to reach the stalled database, and returns call's error. A call
// that ignores the cancellation would wait for the lock; the bound here
// only keeps a broken build from hanging the test.
func whenCancelled(t *testing.T, release func(), call func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { got <- call(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-got:
		return err
	case <-time.After(30 * time.Second):
		release()
		<-got
		t.Fatal("the call went on waiting for the database after its context was cancelled")
		return nil
	}
}

// A request whose context ends stops waiting for a stalled PostgreSQL
// round trip, read or write, and says why; the store is fine afterwards.
// The store's own timeout is far longer than the test, so only the
// cancellation can end the calls.
func TestPostgresCancelledRequestStopsWaiting(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	a := pgNode(t, dsn, kr, nil)
	kc := mustKeychain(t, a)
	if _, err := a.PutSecret(kc.ID, "API_KEY", []byte("sk_test_cancel"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	// A second node, whose cache is cold: its reads go to the database.
	b, err := Open(Options{Postgres: dsn, Keyring: kr, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	release := stallKV(t, dsn)
	calls := map[string]func(ctx context.Context) error{
		"GetKeychainContext": func(ctx context.Context) error {
			_, err := b.GetKeychainContext(ctx, kc.ID)
			return err
		},
		"OpenSecretContext": func(ctx context.Context) error {
			return b.OpenSecretContext(ctx, kc.ID, "API_KEY", func(SecretMeta, []byte) error { return nil })
		},
		"ClaimWebhookDeliveryContext": func(ctx context.Context) error {
			_, err := b.ClaimWebhookDeliveryContext(ctx, "@acme/tools", kc.ID, "github", "d1", time.Now().Add(time.Hour))
			return err
		},
	}
	for name, call := range calls {
		err := whenCancelled(t, release, call)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: err = %v, want one wrapping context.Canceled and ErrUnavailable", name, err)
		}
	}
	release()

	if _, err := b.GetKeychainContext(context.Background(), kc.ID); err != nil {
		t.Fatalf("after the cancelled calls: %v", err)
	}
	if seen, err := b.SeenWebhookDelivery("@acme/tools", kc.ID, "github", "d1"); err != nil || seen {
		t.Fatalf("the cancelled claim was recorded: seen=%v err=%v", seen, err)
	}
}

// Badger answers from memory and disk: a done context changes nothing.
func TestBadgerIgnoresContext(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	if _, err := s.PutSecret(kc.ID, "API_KEY", []byte("sk_test_badger"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GetKeychainContext(ctx, kc.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.OpenSecretContext(ctx, kc.ID, "API_KEY", func(SecretMeta, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimWebhookDeliveryContext(ctx, "@acme/tools", kc.ID, "github", "d1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}
