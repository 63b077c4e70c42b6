package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/store"
)

func TestStorageCopy(t *testing.T) {
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
	from, to := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	st, err := store.Open(store.Options{Dir: from, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSigningKey(store.SigningKey{ID: "sk_one", Secret: []byte(strings.Repeat("s", 32))}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	r := runCLI(t, "", "store", "copy", "--from", "badger:"+from, "--to", "badger:"+to)
	if r.code != 1 || !strings.Contains(r.stderr, "no master key") {
		t.Fatalf("without a key: %+v", r)
	}
	oneErrorLine(t, r, "keygate: store copy: ")

	t.Setenv("KEYGATE_MASTER_KEY", mk.Encode())
	r = runCLI(t, "", "store", "copy", "--from", "badger:"+from, "--to", "badger:"+to, "--verify")
	if r.code != 0 || !strings.Contains(r.stdout, "Copied ") || !strings.Contains(r.stdout, "Verified") {
		t.Fatalf("copy: %+v", r)
	}
	r = runCLI(t, "", "store", "copy", "--from", "badger:"+from, "--to", "badger:"+to)
	if r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("a second copy without --force: %+v", r)
	}
	r = runCLI(t, "", "store", "copy", "--from", "badger:"+from, "--to", "badger:"+to, "--force", "--verify")
	if r.code != 0 || !strings.Contains(r.stdout, "Verified") {
		t.Fatalf("copy --force: %+v", r)
	}
	copied, err := store.Open(store.Options{Dir: to, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	if keys, err := copied.ListSigningKeys(); err != nil || len(keys) != 1 || string(keys[0].Secret) != strings.Repeat("s", 32) {
		t.Fatalf("copied signing keys: %v %v", keys, err)
	}
}

func TestStorageCopyHostile(t *testing.T) {
	mk, _ := store.GenerateMasterKey("k1")
	t.Setenv("KEYGATE_MASTER_KEY", mk.Encode())
	const pw = "hunter2secretpw"
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--from", "badger:" + dir}, 2, "--from and --to are required"},
		{[]string{"--from", "mysql:x", "--to", "badger:" + dir}, 2, "--from: want badger"},
		{[]string{"--from", "badger:" + dir, "--to", "postgres://u:" + pw + "@[::1"}, 2, "--to: "},
		{[]string{"--from", "badger:" + dir, "--to", "postgres:postgres://u:" + pw + "@[::1"}, 2, "DSN does not parse"},
		{[]string{"--from", "badger:" + dir, "--to", "postgres:postgres://u:" + pw + "@127.0.0.1:1/db?connect_timeout=2"}, 1, "postgres:127.0.0.1:1/db as u"},
		{[]string{"--from", "badger:" + dir, "--to", "badger:" + dir + "/x", "--master-key-file", filepath.Join(dir, "none")}, 1, "--master-key-file"},
	} {
		r := runCLI(t, "", append([]string{"store", "copy"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
		oneErrorLine(t, r, "keygate: store copy: ")
		if strings.Contains(r.stdout+r.stderr, pw) {
			t.Errorf("%v: the DSN's password was printed: %q", tc.args, r.stderr)
		}
	}
}
