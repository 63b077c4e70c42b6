package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey derives a fixed master key from its id, so tests can reopen a
// store with "the same" key.
func testKey(id string) MasterKey {
	sum := sha256.Sum256([]byte("test master key " + id))
	return MasterKey{ID: id, Key: sum[:]}
}

func testKeyring(t testing.TB, current string, others ...string) *Keyring {
	t.Helper()
	var rest []MasterKey
	for _, id := range others {
		rest = append(rest, testKey(id))
	}
	kr, err := NewKeyring(testKey(current), rest...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// clock is an injected time source that tests advance by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memStore opens a fresh store for unit tests: Badger in memory, or a
// new database in the PostgreSQL pass.
func memStore(t testing.TB) (*Store, *clock) {
	t.Helper()
	c := newClock()
	opts := testOptions(t, "")
	opts.Keyring, opts.Now = testKeyring(t, "k1"), c.Now
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

// diskStore opens a durable store: Badger in dir (a fresh temp dir when
// ""), or in the PostgreSQL pass the database that stands for dir.
func diskStore(t testing.TB, dir string, kr *Keyring) *Store {
	t.Helper()
	if dir == "" && !onPostgres(t) {
		dir = t.TempDir()
	}
	opts := testOptions(t, dir)
	opts.Keyring, opts.Now = kr, newClock().Now
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustKeychain(t testing.TB, s *Store) Keychain {
	t.Helper()
	kc, err := s.CreateKeychain("alice", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func testManifest(name, host string) Manifest {
	return Manifest{
		Name:     name,
		Version:  "1.0.0",
		SHA256:   strings.Repeat("ab", 32),
		Host:     host,
		Upstream: "http://127.0.0.1:9001",
		Keys: []KeySpec{
			{Name: "STRIPE_SECRET_KEY", Required: true, Description: "Stripe key", Hosts: []string{"api.stripe.com"}},
			{Name: "OPTIONAL_KEY"},
		},
		AppKeys: []KeySpec{{Name: "WEBHOOK_SECRET", Hosts: []string{"hooks.example.com"}}},
	}
}

func mustPackage(t testing.TB, s *Store, name, host string) Manifest {
	t.Helper()
	m := testManifest(name, host)
	if _, err := s.PutPackage(m); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPackage(name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// openValue returns a copy of a secret's plaintext.
func openValue(t testing.TB, s *Store, kc, name string) string {
	t.Helper()
	var v string
	if err := s.OpenSecret(kc, name, func(_ SecretMeta, b []byte) error {
		v = string(b)
		return nil
	}); err != nil {
		t.Fatalf("open %s/%s: %v", kc, name, err)
	}
	return v
}

// hashDir returns path -> sha256 of every file under dir.
func hashDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffDirs(a, b map[string]string) string {
	var diffs []string
	for p, h := range a {
		if b[p] != h {
			diffs = append(diffs, "changed or removed: "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, "added: "+p)
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "\n")
}

// recordingLogger keeps every line, for checks that nothing leaks.
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordingLogger) add(level, f string, v ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(f, v...))
	l.mu.Unlock()
}
func (l *recordingLogger) Errorf(f string, v ...any)   { l.add("E", f, v...) }
func (l *recordingLogger) Warningf(f string, v ...any) { l.add("W", f, v...) }
func (l *recordingLogger) Infof(f string, v ...any)    { l.add("I", f, v...) }
func (l *recordingLogger) Debugf(f string, v ...any)   { l.add("D", f, v...) }

func (l *recordingLogger) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// rawSet writes bytes straight into the backend, bypassing sealing, to
// simulate an attacker with write access to the data directory.
func rawSet(t testing.TB, s *Store, k, v []byte) {
	t.Helper()
	if err := s.update(func(w writer) error { return w.Set(k, v) }); err != nil {
		t.Fatal(err)
	}
}

func rawGet(t testing.TB, s *Store, k []byte) []byte {
	t.Helper()
	var v []byte
	if err := s.be.View(context.Background(), func(r reader) error {
		var err error
		v, err = r.Get(k)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}
