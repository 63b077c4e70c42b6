package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/store"
)

// badgerWithRecords makes a Badger store under key k1 with a signing key
// and an audit event, and returns its directory and key spec.
func badgerWithRecords(t *testing.T) (dir, key string) {
	t.Helper()
	t.Setenv("XDG_DATA_HOME", t.TempDir()) // no first-run key file
	t.Setenv("HOME", t.TempDir())
	mk, err := store.GenerateMasterKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := store.ParseMasterKeys(mk.Encode())
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "src")
	st, err := store.Open(store.Options{Dir: dir, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutSigningKey(store.SigningKey{ID: "sk_one", Secret: []byte(strings.Repeat("s", 32))}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit([]store.AuditEvent{{Action: "secret.put", Keychain: "kc_1"}}); err != nil {
		t.Fatal(err)
	}
	return dir, mk.Encode()
}

// store copy's hints lead with what to do: a running keygate, a foreign
// key named by where it came from, a non-empty target said once; counts
// are by kind, not by key prefix.
func TestStorageCopyHints(t *testing.T) {
	src, key := badgerWithRecords(t)
	to := filepath.Join(t.TempDir(), "dst")

	other, _ := store.GenerateMasterKey("k1")
	t.Setenv("KEYGATE_MASTER_KEY", other.Encode())
	r := runCLI(t, "", "store", "copy", "--from", "badger:"+src, "--to", "badger:"+to)
	oneErrorLine(t, r, "keygate: store copy: the master key from $KEYGATE_MASTER_KEY does not open badger:"+src)
	if _, err := os.Stat(to); err == nil {
		t.Error("a refused copy created the target")
	}

	// The first-run key file in a Badger source's directory is found.
	os.Unsetenv("KEYGATE_MASTER_KEY")
	if err := os.WriteFile(filepath.Join(src, "master.key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", "store", "copy", "--from", "badger:"+src, "--to", "badger:"+to)
	if r.code != 0 {
		t.Fatalf("copy with the source's key file: %+v", r)
	}
	for _, want := range []string{"signing keys ", "audit events ", "1, chain whole"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("copy output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "sk/") || strings.Contains(r.stdout, "au/") {
		t.Errorf("copy output shows key prefixes:\n%s", r.stdout)
	}
	r = runCLI(t, "", "store", "copy", "--from", "badger:"+src, "--to", "badger:"+to)
	oneErrorLine(t, r, "keygate: store copy: badger:"+to+" is not empty; --force replaces what it holds")
	if n := strings.Count(r.stderr, "force"); n != 1 {
		t.Errorf("the non-empty target is said %d times: %q", n, r.stderr)
	}

	// A store held open (as by a running keygate): one line, what to do.
	kr, _ := store.ParseMasterKeys(key)
	held, err := store.Open(store.Options{Dir: src, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	r = runCLI(t, "", "store", "copy", "--from", "badger:"+src, "--to", "badger:"+filepath.Join(t.TempDir(), "x"))
	oneErrorLine(t, r, "keygate: store copy: stop keygate first: badger:"+src+" is in use by a running keygate")
	r = runCLI(t, "", "store", "copy", "--from", "badger:"+filepath.Join(t.TempDir(), "none"), "--to", "badger:"+to)
	oneErrorLine(t, r, "keygate: store copy: no store at ")
}

func TestStorageBackupRestore(t *testing.T) {
	src, key := badgerWithRecords(t)
	t.Setenv("KEYGATE_MASTER_KEY", key)
	out := filepath.Join(t.TempDir(), "keygate.backup")
	r := runCLI(t, "", "store", "backup", "--from", "badger:"+src, "--out", out)
	if r.code != 0 || !strings.Contains(r.stdout, "Backed up ") {
		t.Fatalf("backup: %+v", r)
	}
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", info, err)
	}
	r = runCLI(t, "", "store", "backup", "--from", "badger:"+src, "--out", out)
	oneErrorLine(t, r, "keygate: store backup: creating the backup file: ")

	to := filepath.Join(t.TempDir(), "restored")
	r = runCLI(t, "", "store", "restore", "--in", out, "--to", "badger:"+to)
	if r.code != 0 || !strings.Contains(r.stdout, "audit events ") || !strings.Contains(r.stdout, "1, chain whole") {
		t.Fatalf("restore: %+v", r)
	}
	kr, _ := store.ParseMasterKeys(key)
	restored, err := store.Open(store.Options{Dir: to, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := restored.ListSigningKeys()
	restored.Close()
	if err != nil || len(keys) != 1 {
		t.Fatalf("restored signing keys: %v %v", keys, err)
	}
	r = runCLI(t, "", "store", "restore", "--in", out, "--to", "badger:"+to)
	oneErrorLine(t, r, "keygate: store restore: badger:"+to+" holds records; restore into an empty directory")

	// Another key: refused, naming where it came from; nothing created.
	other, _ := store.GenerateMasterKey("k9")
	t.Setenv("KEYGATE_MASTER_KEY", other.Encode())
	fresh := filepath.Join(t.TempDir(), "fresh")
	r = runCLI(t, "", "store", "restore", "--in", out, "--to", "badger:"+fresh)
	oneErrorLine(t, r, "keygate: store restore: the master key from $KEYGATE_MASTER_KEY does not open this backup")
	if _, err := os.Stat(fresh); err == nil {
		t.Error("a refused restore left a directory behind")
	}
	t.Setenv("KEYGATE_MASTER_KEY", key)

	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("not a backup"), 0o600)
	r = runCLI(t, "", "store", "restore", "--in", garbage, "--to", "badger:"+fresh)
	oneErrorLine(t, r, "keygate: store restore: invalid backup: is not a keygate backup")
}

func TestStorageBackupHostile(t *testing.T) {
	mk, _ := store.GenerateMasterKey("k1")
	t.Setenv("KEYGATE_MASTER_KEY", mk.Encode())
	const pw = "hunter2secretpw"
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"backup", "--out", "x"}, 2, "--from is required"},
		{[]string{"backup", "--from", "badger:" + dir}, 2, "--out is required"},
		{[]string{"backup", "--from", "postgres:postgres://u:" + pw + "@h/db", "--out", "x"}, 2, "pg_dump"},
		{[]string{"backup", "--from", "mysql:x", "--out", "x"}, 2, "want badger:<dir>"},
		{[]string{"backup", "--from", "badger:" + dir + "/none", "--out", "x"}, 1, "no store at"},
		{[]string{"restore", "--to", "badger:" + dir}, 2, "--in is required"},
		{[]string{"restore", "--in", "x"}, 2, "--to is required"},
		{[]string{"restore", "--in", "x", "--to", "postgres:postgres://u:" + pw + "@h/db"}, 2, "pg_dump"},
		{[]string{"restore", "--in", filepath.Join(dir, "none"), "--to", "badger:" + dir + "/t"}, 1, "opening the backup"},
		{[]string{"backup", "--api", "x"}, 2, "unknown flag: --api"},
	} {
		r := runCLI(t, "", append([]string{"store"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
		if strings.Contains(r.stdout+r.stderr, pw) {
			t.Errorf("%v: the DSN's password was printed", tc.args)
		}
	}
	if _, err := os.Stat("x"); err == nil {
		t.Error("a refused backup wrote ./x")
	}
}
