package integration

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/store/pgtest"
)

// One throwaway PostgreSQL cluster serves every test of the run that
// needs one; it starts with the first such test and TestMain removes it.
var pg struct {
	once    sync.Once
	cluster *pgtest.Cluster
	err     error
}

// pgCluster returns the run's cluster, starting it on first use; without
// PostgreSQL installed the test skips (fails under CI=true).
func pgCluster(t testing.TB) *pgtest.Cluster {
	t.Helper()
	pg.once.Do(func() { pg.cluster, pg.err = pgtest.Start() })
	pgtest.Skip(t, pg.err)
	return pg.cluster
}

// pgDatabase returns the DSN of a new, empty database.
func pgDatabase(t testing.TB, name string) string {
	t.Helper()
	dsn, err := pgCluster(t).NewDatabase(name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// pgCaddyfile is DefaultCaddyfile on a shared PostgreSQL database, whose
// DSN comes from the environment, as a deployment would set it.
var pgCaddyfile = strings.Replace(DefaultCaddyfile, "storage badger {{.Store}}", "storage postgres {env.KEYGATE_TEST_DSN}", 1)

// pgNodeConfig is the config of a node on dsn; the nodes of one test
// share it (and so their master key and admin token).
func pgNodeConfig(t *testing.T, dsn string) Config {
	return Config{
		Template:   pgCaddyfile,
		MasterKey:  base64.StdEncoding.EncodeToString(randomBytes(t, 32)),
		AdminToken: RandomToken(t, "kgadm_test_"),
		Env:        []string{"KEYGATE_TEST_DSN=" + dsn},
	}
}

// stopPG removes the run's cluster, if one was started.
func stopPG() {
	if pg.cluster != nil {
		_ = pg.cluster.Stop()
	}
}
