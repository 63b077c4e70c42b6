package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readKeycheckIDs(t *testing.T, dir string) map[string]bool {
	t.Helper()
	doc, ok, err := readKeycheck(testKeycheck(t, dir))
	if err != nil || !ok {
		t.Fatalf("read keycheck: ok=%v %v", ok, err)
	}
	ids := map[string]bool{}
	for _, e := range doc.Keys {
		ids[e.ID] = e.InUse
	}
	return ids
}

func TestOpenRecordsKeyOnFirstOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := diskStore(t, dir, testKeyring(t, "k1"))
	s.Close()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode: %v %v", fi.Mode(), err)
	}
	if ids := readKeycheckIDs(t, dir); len(ids) != 1 || !ids["k1"] {
		t.Fatalf("keycheck ids = %v", ids)
	}
	b, _ := os.ReadFile(filepath.Join(dir, keycheckName))
	if strings.Contains(string(b), string(testKey("k1").Key)) {
		t.Fatal("keycheck holds the key")
	}
}

func TestOpenRefusesWrongOrMissingMasterKey(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1", "k0"))
	kc := mustKeychain(t, s)
	if _, err := s.PutSecret(kc.ID, "A", []byte("value"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	wrongK1 := MasterKey{ID: "k1", Key: testKey("other").Key}
	wrongKR, _ := NewKeyring(wrongK1)
	for _, tc := range []struct {
		name string
		kr   *Keyring
		want string
	}{
		{"wrong current key", wrongKR, `master key "k1" does not open this store (wrong key)`},
		{"wrong old key", mustKeyring(t, testKey("k1"), MasterKey{ID: "k0", Key: testKey("x").Key}), `master key "k0" does not open this store (wrong key)`},
		{"missing current key", testKeyring(t, "k2"), `store needs master key "k1", which is not configured`},
		{"new key without the old", testKeyring(t, "k2", "k0"), `store needs master key "k1", which is not configured`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hashDir(t, dir)
			_, err := Open(Options{Dir: dir, Keyring: tc.kr})
			if !errors.Is(err, ErrMasterKey) {
				t.Fatalf("err = %v, want ErrMasterKey", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("err = %q, want %q", err, tc.want)
			}
			if d := diffDirs(before, hashDir(t, dir)); d != "" {
				t.Fatalf("directory changed:\n%s", d)
			}
		})
	}

	// The right key still opens, and every value is intact.
	s = diskStore(t, dir, testKeyring(t, "k1"))
	if v := openValue(t, s, kc.ID, "A"); v != "value" {
		t.Fatal("value changed")
	}
}

func mustKeyring(t *testing.T, cur MasterKey, others ...MasterKey) *Keyring {
	t.Helper()
	kr, err := NewKeyring(cur, others...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestOpenAddsNewKeyIDs(t *testing.T) {
	dir := t.TempDir()
	diskStore(t, dir, testKeyring(t, "k1")).Close()

	// k2 becomes current: recorded, but required only once it seals
	// something; k1 stays in use (it sealed data).
	diskStore(t, dir, testKeyring(t, "k2", "k1")).Close()
	if ids := readKeycheckIDs(t, dir); !ids["k1"] || ids["k2"] {
		t.Fatalf("after open: ids = %v", ids)
	}
	s := diskStore(t, dir, testKeyring(t, "k2", "k1"))
	kc, err := s.CreateKeychain("o", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecret(kc.ID, "B", []byte("sealed with k2"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if ids := readKeycheckIDs(t, dir); !ids["k1"] || !ids["k2"] {
		t.Fatalf("after a write sealed with k2: ids = %v", ids)
	}
	// A spare key that never sealed is recorded but not required.
	diskStore(t, dir, testKeyring(t, "k2", "k1", "spare")).Close()
	if ids := readKeycheckIDs(t, dir); ids["spare"] {
		t.Fatalf("spare marked in use: %v", ids)
	}
	diskStore(t, dir, testKeyring(t, "k2", "k1")).Close() // spare may go
	if ids := readKeycheckIDs(t, dir); len(ids) != 2 {
		t.Fatalf("ids = %v", ids)
	}
}

func TestOpenRefusesDataWithoutKeycheck(t *testing.T) {
	dir := t.TempDir()
	diskStore(t, dir, testKeyring(t, "k1")).Close()
	if err := os.Remove(filepath.Join(dir, keycheckName)); err != nil {
		t.Fatal(err)
	}
	before := hashDir(t, dir)
	_, err := Open(Options{Dir: dir, Keyring: testKeyring(t, "k1")})
	if !errors.Is(err, ErrMasterKey) {
		t.Fatalf("err = %v", err)
	}
	if d := diffDirs(before, hashDir(t, dir)); d != "" {
		t.Fatalf("directory changed:\n%s", d)
	}
}

func TestOpenRefusesCorruptKeycheck(t *testing.T) {
	dir := t.TempDir()
	diskStore(t, dir, testKeyring(t, "k1")).Close()
	p := filepath.Join(dir, keycheckName)
	var doc keycheckDoc
	b, _ := os.ReadFile(p)
	json.Unmarshal(b, &doc)
	doc.Keys[0].Check = doc.Keys[0].Check[:10]
	b, _ = json.Marshal(doc)
	os.WriteFile(p, b, 0o600)
	_, err := Open(Options{Dir: dir, Keyring: testKeyring(t, "k1")})
	if !errors.Is(err, ErrMasterKey) || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestOpenOptionsAndClose(t *testing.T) {
	if _, err := Open(Options{InMemory: true}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no keyring: %v", err)
	}
	if _, err := Open(Options{Keyring: testKeyring(t, "k1")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no dir: %v", err)
	}
	s, _ := memStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	_, err := s.GetKeychain("kc_aaaaaaaaaaaaaaaaaaaaaaaaaa")
	wantErr(t, err, ErrClosed)
	_, err = s.CreateKeychain("a", "", "")
	wantErr(t, err, ErrClosed)
}

func TestOpenSecondProcessLocked(t *testing.T) {
	dir := t.TempDir()
	diskStore(t, dir, testKeyring(t, "k1"))
	before := hashDir(t, dir)
	_, err := Open(Options{Dir: dir, Keyring: testKeyring(t, "k2", "k1")})
	if err == nil {
		t.Fatal("second open of a locked dir succeeded")
	}
	if d := diffDirs(before, hashDir(t, dir)); d != "" {
		t.Fatalf("failed open changed the directory:\n%s", d)
	}
}

func TestBadgerLogsGoToLogger(t *testing.T) {
	log := &recordingLogger{}
	s, err := Open(Options{Dir: t.TempDir(), Keyring: testKeyring(t, "k1"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	kc := mustKeychain(t, s)
	const marker = "LOGMARKER7f3a9c"
	if _, err := s.PutSecret(kc.ID, "A", []byte(marker), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	lines := log.all()
	sawBadger := false
	for _, l := range lines {
		sawBadger = sawBadger || strings.Contains(l, "badger: ")
		if strings.Contains(l, marker) {
			t.Fatalf("log line holds a secret: %q", l)
		}
	}
	if !sawBadger {
		t.Fatalf("no Badger line reached the logger: %q", lines)
	}
}

func TestSetKeyring(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc := mustKeychain(t, s)
	s.PutSecret(kc.ID, "OLD", []byte("old"), SecretOptions{})

	wrong := mustKeyring(t, MasterKey{ID: "k2", Key: testKey("k2").Key}, MasterKey{ID: "k1", Key: testKey("nope").Key})
	if err := s.SetKeyring(wrong); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("wrong old key accepted: %v", err)
	}
	if err := s.SetKeyring(testKeyring(t, "k2")); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("keyring without k1 accepted: %v", err)
	}
	if s.kr.CurrentID() != "k1" {
		t.Fatal("a refused keyring was installed")
	}

	if err := s.SetKeyring(testKeyring(t, "k2", "k1")); err != nil {
		t.Fatal(err)
	}
	s.PutSecret(kc.ID, "NEW", []byte("new"), SecretOptions{})
	if ids := countByKeyID(t, s); ids["k1"] != 1 || ids["k2"] != 1 {
		t.Fatalf("records by key: %v", ids)
	}
	if openValue(t, s, kc.ID, "OLD") != "old" || openValue(t, s, kc.ID, "NEW") != "new" {
		t.Fatal("values do not open after SetKeyring")
	}
	if ids := readKeycheckIDs(t, dir); !ids["k1"] || !ids["k2"] {
		t.Fatalf("keycheck: %v", ids)
	}
}

// A keyring change in the middle of Rewrap must not let it drop the key
// that the pages done so far were wrapped under.
func TestRewrapOvertakenBySetKeyring(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc, _ := fillForRewrap(t, s, 10)
	if err := s.SetKeyring(testKeyring(t, "k2", "k1")); err != nil {
		t.Fatal(err)
	}
	s.rewrapPage = 2
	s.rewrapHook = func(done int) error {
		if done == 2 {
			return s.SetKeyring(testKeyring(t, "k3", "k2", "k1"))
		}
		return nil
	}
	if _, err := s.Rewrap(context.Background()); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	// k1 and k2 sealed records; k3 sealed nothing yet, so it is recorded
	// but not required.
	if ids := readKeycheckIDs(t, dir); !ids["k1"] || !ids["k2"] {
		t.Fatalf("keycheck lost a key in use: %v", ids)
	} else if inUse, ok := ids["k3"]; !ok || inUse {
		t.Fatalf("k3: recorded %v, in use %v; want recorded, not in use", ok, inUse)
	}
	s.rewrapHook = nil
	if _, err := s.Rewrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ids := countByKeyID(t, s); len(ids) != 1 || ids["k3"] == 0 {
		t.Fatalf("records by key: %v", ids)
	}
	openValue(t, s, kc, "S000")
}

// A config reload that installs a new key and is then rolled back, before
// the new key sealed anything, leaves a store that opens without that key.
func TestSetKeyringRolledBack(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc, err := s.CreateKeychain("o", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecret(kc.ID, "A", []byte("a"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	old := s.Keyring()
	if err := s.SetKeyring(testKeyring(t, "k2", "k1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyring(old); err != nil {
		t.Fatalf("rolling back: %v", err)
	}
	s.Close()
	s = diskStore(t, dir, testKeyring(t, "k1"))
	if openValue(t, s, kc.ID, "A") != "a" {
		t.Fatal("value lost")
	}
}
