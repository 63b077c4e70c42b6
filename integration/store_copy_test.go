package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestStoreCopyRoundTrip copies a Badger store to PostgreSQL and back with
// keygate store copy; keygate started on either copy injects the secret.
func TestStoreCopyRoundTrip(t *testing.T) {
	dsn := pgDatabase(t, t.Name())
	w := newWorld(t, Config{})
	w.healthy(t)
	w.in.Stop()
	env := []string{"KEYGATE_MASTER_KEY=" + w.in.Config.MasterKey}
	copyCmd := func(from, to string, extra ...string) Result {
		t.Helper()
		r := w.in.CLIEnv(env, "", append([]string{"store", "copy", "--from", from, "--to", to}, extra...)...)
		if strings.Contains(r.Stdout+r.Stderr, pgCluster(t).Password()) {
			t.Fatal("store copy printed the DSN's password")
		}
		return r
	}
	if r := copyCmd("badger:"+w.in.StoreDir, "postgres:"+dsn, "--verify"); r.Code != 0 || !strings.Contains(r.Stdout, "Verified") {
		t.Fatalf("badger to postgres: %s", r)
	}
	if r := copyCmd("badger:"+w.in.StoreDir, "postgres:"+dsn); r.Code != 1 || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("a second copy without --force: %s", r)
	}

	// A node on the PostgreSQL copy serves the world.
	pgNode := &world{in: Start(t, Config{Template: pgCaddyfile, MasterKey: w.in.Config.MasterKey, AdminToken: w.in.Config.AdminToken,
		Env: []string{"KEYGATE_TEST_DSN=" + dsn}}), pkgCode: w.pkgCode, kc: w.kc, token: w.token, value: w.value, pkgName: w.pkgName, host: w.host}
	pgNode.healthy(t)
	pgNode.in.Stop()

	// And back, over the original directory: what it holds now came from
	// PostgreSQL.
	if r := copyCmd("postgres:"+dsn, "badger:"+w.in.StoreDir, "--force", "--verify"); r.Code != 0 || !strings.Contains(r.Stdout, "Verified") {
		t.Fatalf("postgres to badger: %s", r)
	}
	w.in.Start()
	w.healthy(t)
	w.in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+w.kc, nil)
}
