package store

import (
	"bytes"
	"errors"
	"testing"
)

func badgerStore(t *testing.T, dir string, kr *Keyring) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A backup restores into an empty directory record for record, with its
// audit chain whole and its key check; it never holds a value in clear.
func TestBackupRestore(t *testing.T) {
	kr := testKeyring(t, "k2", "k1")
	src := badgerStore(t, t.TempDir(), kr)
	kc := fillForCopy(t, src)
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{"sk_live_copy", "whsec_copy"} {
		if bytes.Contains(buf.Bytes(), []byte(value)) {
			t.Fatalf("the backup holds the value %q in clear", value)
		}
	}
	backup := buf.Bytes()

	dir := t.TempDir()
	dst := badgerStore(t, dir, kr)
	if err := dst.Restore(bytes.NewReader(backup)); err != nil {
		t.Fatal(err)
	}
	if err := VerifyCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	if rep, err := dst.VerifyAudit(); err != nil || !rep.OK || rep.Events != 1 {
		t.Fatalf("audit after restore: %+v %v", rep, err)
	}
	if got := openValue(t, dst, kc, "STRIPE_SECRET_KEY"); got != "sk_live_copy" {
		t.Fatalf("restored value %q", got)
	}
	want := readKeycheckIDs(t, src.kc.(fileKeycheck).dir)
	if got := readKeycheckIDs(t, dir); len(got) != len(want) {
		t.Errorf("restored key check %v, want the source's %v", got, want)
	}

	// Into a store that holds records: refused.
	wantErr(t, dst.Restore(bytes.NewReader(backup)), ErrConflict)
	// Not a backup, or cut short in its header: refused, nothing loaded.
	empty := badgerStore(t, t.TempDir(), kr)
	for _, bad := range [][]byte{nil, []byte("hello"), backup[:len(backupMagic)+2]} {
		wantErr(t, empty.Restore(bytes.NewReader(bad)), ErrInvalid)
	}
	if n, _ := empty.CountRecords(); n != 0 {
		t.Errorf("a refused restore loaded %d records", n)
	}
}

// A backup made under other master keys is refused before anything is
// loaded, naming the key it needs.
func TestRestoreWrongKey(t *testing.T) {
	src := badgerStore(t, t.TempDir(), testKeyring(t, "k1"))
	fillForCopy(t, src)
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	dst := badgerStore(t, t.TempDir(), testKeyring(t, "other"))
	err := dst.Restore(&buf)
	if !errors.Is(err, ErrMasterKey) {
		t.Fatalf("restore under another key: %v", err)
	}
	if n, _ := dst.CountRecords(); n != 0 {
		t.Errorf("a refused restore loaded %d records", n)
	}
}

func TestBackupNotBadger(t *testing.T) {
	s := mustOpenInMemory(t)
	wantErr(t, s.Backup(&bytes.Buffer{}), ErrNotBadger)
	wantErr(t, s.Restore(bytes.NewReader(nil)), ErrNotBadger)
}

func mustOpenInMemory(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Options{InMemory: true, Keyring: testKeyring(t, "k1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
