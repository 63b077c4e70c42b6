package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

var errSimulatedCrash = errors.New("simulated crash")

// fillForRewrap stores user secrets, app secrets and a signing key under
// kr's current key and returns the expected values.
func fillForRewrap(t *testing.T, s *Store, n int) (kc string, want map[string]string) {
	t.Helper()
	kc = mustKeychain(t, s).ID
	mustPackage(t, s, "@acme/tools", "tools")
	want = map[string]string{}
	for i := range n {
		name := fmt.Sprintf("S%03d", i)
		v := fmt.Sprintf("value-%d", i)
		if _, err := s.PutSecret(kc, name, []byte(v), SecretOptions{}); err != nil {
			t.Fatal(err)
		}
		want[name] = v
	}
	if _, err := s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte("whsec")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSigningKey(SigningKey{ID: "sk1", Secret: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	return kc, want
}

func checkAllOpen(t *testing.T, s *Store, kc string, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := openValue(t, s, kc, name); got != v {
			t.Fatalf("%s = %q, want %q", name, got, v)
		}
	}
	if err := s.OpenAppSecret("@acme/tools", "WEBHOOK_SECRET", func(SecretMeta, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListSigningKeys(); err != nil {
		t.Fatal(err)
	}
}

func countByKeyID(t *testing.T, s *Store) map[string]int {
	t.Helper()
	ids := map[string]int{}
	s.be.View(context.Background(), func(r reader) error {
		for _, p := range []string{pfxSecret, pfxAppSecret, pfxSigningKey} {
			r.Iterate(iterOptions{Prefix: []byte(p)}, func(_, v []byte) error {
				rec, err := decodeRecord(v)
				if err != nil {
					t.Fatal(err)
				}
				id, err := envelopeKeyID(rec.blob)
				if err != nil {
					t.Fatal(err)
				}
				ids[id]++
				return nil
			})
		}
		return nil
	})
	return ids
}

func TestRewrapResumesAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc, want := fillForRewrap(t, s, 25)
	s.Close()

	// Rotate: k2 seals from now on, k1 still opens.
	s = diskStore(t, dir, testKeyring(t, "k2", "k1"))
	if _, err := s.PutSecret(kc, "NEW", []byte("sealed-by-k2"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	want["NEW"] = "sealed-by-k2"
	s.rewrapPage = 4
	s.rewrapHook = func(done int) error {
		if done >= 10 {
			return errSimulatedCrash
		}
		return nil
	}
	n1, err := s.Rewrap(context.Background())
	if !errors.Is(err, errSimulatedCrash) || n1 < 10 {
		t.Fatalf("first run: %d %v", n1, err)
	}
	ids := countByKeyID(t, s)
	if ids["k1"] == 0 || ids["k2"] == 0 {
		t.Fatalf("crash was not mid-way: %v", ids)
	}
	checkAllOpen(t, s, kc, want)
	s.Close()
	// Interrupted: k1 is still required.
	opts := testOptions(t, dir)
	opts.Keyring = testKeyring(t, "k2")
	if _, err := Open(opts); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("old key dropped before rewrap finished: %v", err)
	}

	s = diskStore(t, dir, testKeyring(t, "k2", "k1"))
	n2, err := s.Rewrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if total := len(want) - 1 + 2; n1+n2 != total { // NEW was born under k2
		t.Fatalf("rewrapped %d + %d records, want %d in all", n1, n2, total)
	}
	if ids := countByKeyID(t, s); ids["k1"] != 0 {
		t.Fatalf("records left under k1: %v", ids)
	}
	if n3, err := s.Rewrap(context.Background()); err != nil || n3 != 0 {
		t.Fatalf("idempotent re-run: %d %v", n3, err)
	}
	if ids := readKeycheckIDs(t, dir); len(ids) != 1 || !ids["k2"] {
		t.Fatalf("keycheck after rewrap: %v", ids)
	}
	s.Close()

	// k1 can now leave the configuration.
	s = diskStore(t, dir, testKeyring(t, "k2"))
	checkAllOpen(t, s, kc, want)
}

func TestRewrapOnline(t *testing.T) {
	opts := testOptions(t, "")
	opts.Keyring = testKeyring(t, "k1")
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	kc, want := fillForRewrap(t, s, 40)
	s.kr = testKeyring(t, "k2", "k1") // rotate in place (in memory)
	s.rewrapPage = 3
	defer s.Close()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	wg.Add(2)
	go func() { // readers
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("S%03d", i%40)
			if err := s.OpenSecret(kc, name, func(SecretMeta, []byte) error { return nil }); err != nil {
				errs <- fmt.Errorf("read %s: %w", name, err)
				return
			}
		}
	}()
	go func() { // writers
		defer wg.Done()
		for i := 0; i < 60; i++ {
			name := fmt.Sprintf("S%03d", i%40)
			if _, err := s.PutSecret(kc, name, []byte("rewritten"), SecretOptions{}); err != nil {
				errs <- fmt.Errorf("write %s: %w", name, err)
				return
			}
		}
	}()
	if _, err := s.Rewrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if ids := countByKeyID(t, s); ids["k1"] != 0 {
		t.Fatalf("records left under k1: %v", ids)
	}
	for name := range want {
		openValue(t, s, kc, name)
	}
}

func TestRewrapCancelled(t *testing.T) {
	s, _ := memStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Rewrap(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// envelopeKeyID names the master key a sealed blob needs.
func envelopeKeyID(blob []byte) (string, error) {
	env, err := parseEnvelope(blob)
	return env.keyID, err
}

// TestSealedByKey: the counts name every key that still seals a record
// (audit records too), before and after a rewrap.
func TestSealedByKey(t *testing.T) {
	opts := testOptions(t, "")
	opts.Keyring = testKeyring(t, "k1")
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillForRewrap(t, s, 5)
	ctx := context.Background()
	counts, err := s.SealedByKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["k1"] < 7 || len(counts) != 1 {
		t.Fatalf("before rotation: %v, want only k1, with at least the 7 data keys", counts)
	}
	s.kr = testKeyring(t, "k2", "k1")
	if counts, err = s.SealedByKey(ctx); err != nil || counts["k1"] < 7 || counts["k2"] != 0 {
		t.Fatalf("after adding k2: %v %v, want everything still under k1", counts, err)
	}
	if _, err := s.Rewrap(ctx); err != nil {
		t.Fatal(err)
	}
	if counts, err = s.SealedByKey(ctx); err != nil || counts["k1"] != 0 || counts["k2"] < 7 {
		t.Fatalf("after rewrap: %v %v, want everything under k2", counts, err)
	}
}

// RewrapCounted counts what it changed by kind, and RewrapProgress shows
// the counts so far while it runs.
func TestRewrapCountsByKind(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	fillForRewrap(t, s, 9)
	if err := s.AppendAudit([]AuditEvent{{Actor: "admin", Action: "secret.put", Decision: "ok"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = diskStore(t, dir, testKeyring(t, "k2", "k1"))
	if _, ok := s.RewrapProgress(); ok {
		t.Fatal("progress before any rewrap")
	}
	s.rewrapPage = 4
	var seen []int
	s.rewrapHook = func(done int) error {
		c, ok := s.RewrapProgress()
		if !ok || c.Total() != done {
			t.Errorf("progress %+v (%v) at %d done", c, ok, done)
		}
		seen = append(seen, c.Secrets)
		return nil
	}
	c, err := s.RewrapCounted(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Secrets != 9 || c.AppSecrets != 1 || c.SigningKeys != 1 || c.Audit == 0 || c.Total() != 11+c.Audit {
		t.Fatalf("counts %+v", c)
	}
	if len(seen) < 3 || seen[0] != 4 {
		t.Fatalf("progress of the secrets, page by page: %v", seen)
	}
	if _, ok := s.RewrapProgress(); ok {
		t.Fatal("progress after the rewrap ended")
	}
}
