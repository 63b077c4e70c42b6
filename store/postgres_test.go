package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keygate/keygate/store/pgtest"
)

// pgNode opens one "node": a Store on dsn with its own cache and
// listener, as a second keygate process would.
func pgNode(t *testing.T, dsn string, kr *Keyring, log Logger) *Store {
	t.Helper()
	s, err := Open(Options{Postgres: dsn, Keyring: kr, Logger: log, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newPGDatabase(t *testing.T) string {
	t.Helper()
	pgtest.Skip(t, testPGErr)
	dsn, err := testPG.NewDatabase(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// eventually polls cond until it holds, failing after a generous bound.
// It asserts an outcome, not a speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func listening(s *Store) bool {
	l := raw(s.be).(*postgresBackend).listener
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.listening
}

func TestPostgresSuiteUsesPostgres(t *testing.T) {
	pgtest.Skip(t, testPGErr)
	t.Run("inner", func(t *testing.T) {
		if onPostgres(t) {
			t.Fatal("outside TestPostgres a test must run on Badger")
		}
	})
	if len(conformance) == 0 {
		t.Fatal("empty conformance suite")
	}
}

// A write on one node is obeyed by the other, whose cache held the old
// record: revocation, grant change, secret deletion, package change.
func TestPostgresTwoNodesCacheCoherent(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	a, b := pgNode(t, dsn, kr, nil), pgNode(t, dsn, kr, nil)
	eventually(t, "both nodes listening", func() bool { return listening(a) && listening(b) })

	kc := mustKeychain(t, a)
	mustPackage(t, a, "@acme/tools", "tools")
	if _, err := a.PutSecret(kc.ID, "KEY", []byte("v1"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutGrant(kc.ID, "@acme/tools", nil); err != nil {
		t.Fatal(err)
	}
	// b fills its cache.
	if got, err := b.GetKeychain(kc.ID); err != nil || got.TokenVersion != 1 {
		t.Fatalf("b: %+v %v", got, err)
	}
	if ok, _ := b.HasSecret(kc.ID, "KEY"); !ok {
		t.Fatal("b does not see the secret")
	}
	if _, err := b.GetGrant(kc.ID, "@acme/tools"); err != nil {
		t.Fatal(err)
	}
	// Notifications of a's writes may still drop b's fills: read until the
	// record sits in b's cache, so what follows tests the cache.
	eventually(t, "b caches the keychain", func() bool {
		b.GetKeychain(kc.ID)
		return cachedOn(b, key(pfxKeychain, kc.ID))
	})

	if _, err := a.RotateKeychainToken(kc.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b obeys the token rotation", func() bool {
		got, err := b.GetKeychain(kc.ID)
		return err == nil && got.TokenVersion == 2
	})
	if err := a.DeleteSecret(kc.ID, "KEY"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b obeys the secret deletion", func() bool {
		ok, err := b.HasSecret(kc.ID, "KEY")
		return err == nil && !ok
	})
	if err := a.DeleteGrant(kc.ID, "@acme/tools"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b obeys the revoked grant", func() bool {
		_, err := b.GetGrant(kc.ID, "@acme/tools")
		return errors.Is(err, ErrNotFound)
	})
	m := testManifest("@acme/tools", "tools")
	m.SHA256 = strings.Repeat("cd", 32)
	if _, err := a.PutPackage(m); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b obeys the package change", func() bool {
		got, err := b.GetPackageByHost("tools")
		return err == nil && got.SHA256 == m.SHA256
	})
}

func cachedOn(s *Store, k []byte) bool {
	_, found, _ := s.cache.get(k)
	return found
}

// The LISTEN connection killed: the node keeps answering correctly (read
// through) and gets its channel back by itself.
func TestPostgresListenKilled(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	log := &recordingLogger{}
	a, b := pgNode(t, dsn, kr, nil), pgNode(t, dsn, kr, log)
	eventually(t, "b listening", func() bool { return listening(b) })
	kc := mustKeychain(t, a)
	if _, err := b.GetKeychain(kc.ID); err != nil {
		t.Fatal(err)
	}
	db := dsnDatabase(t, dsn)
	for range 3 {
		if err := pgtest.Exec(dsn, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'keygate-listen' AND datname = $1`, db); err != nil {
			t.Fatal(err)
		}
		want := mustRotate(t, a, kc.ID)
		eventually(t, "b reads the rotation", func() bool {
			got, err := b.GetKeychain(kc.ID)
			return err == nil && got.TokenVersion == want
		})
	}
	eventually(t, "b listening again", func() bool { return listening(b) })
	want := mustRotate(t, a, kc.ID)
	eventually(t, "b obeys a rotation after reconnecting", func() bool {
		got, err := b.GetKeychain(kc.ID)
		return err == nil && got.TokenVersion == want
	})
	assertNoSecretIn(t, log.all(), testPG.Password())
}

func mustRotate(t *testing.T, s *Store, id string) uint64 {
	t.Helper()
	kc, err := s.RotateKeychainToken(id)
	if err != nil {
		t.Fatal(err)
	}
	return kc.TokenVersion
}

func dsnDatabase(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// The database stopped: calls fail with ErrUnavailable (within the
// timeout, not hanging), then work again once it is back, with every
// acknowledged write still there.
func TestPostgresOutage(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	log := &recordingLogger{}
	s := pgNode(t, dsn, kr, log)
	kc := mustKeychain(t, s)
	acked := map[string]string{}
	for i := range 5 {
		name := fmt.Sprintf("K%d", i)
		if _, err := s.PutSecret(kc.ID, name, []byte("v"+name), SecretOptions{}); err != nil {
			t.Fatal(err)
		}
		acked[name] = "v" + name
	}
	if err := testPG.StopServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			testPG.StartServer()
		}
	}()
	checks := []struct {
		name string
		call func() error
	}{
		{"get keychain", func() error { _, err := s.GetKeychain(kc.ID); return err }},
		{"put secret", func() error {
			_, err := s.PutSecret(kc.ID, "DURING", []byte("x"), SecretOptions{})
			return err
		}},
		{"list", func() error { _, err := s.ListSecrets(kc.ID); return err }},
		{"open secret", func() error {
			return s.OpenSecret(kc.ID, "K0", func(SecretMeta, []byte) error { return nil })
		}},
		{"session", func() error { _, err := s.GetOwnerSession("tok"); return err }},
		{"exclusive", func() error {
			_, err := s.RunExclusive("prune", func() error { return nil })
			return err
		}},
	}
	for _, c := range checks {
		if err := c.call(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with the database down: %v, want ErrUnavailable", c.name, err)
		} else if strings.Contains(err.Error(), testPG.Password()) {
			t.Errorf("%s: error holds the password", c.name)
		}
	}
	if err := testPG.StartServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	eventually(t, "writes work again", func() bool {
		_, err := s.PutSecret(kc.ID, "AFTER", []byte("vAFTER"), SecretOptions{})
		return err == nil
	})
	acked["AFTER"] = "vAFTER"
	for name, v := range acked {
		if got := openValue(t, s, kc.ID, name); got != v {
			t.Fatalf("%s = %q after the outage, want %q", name, got, v)
		}
	}
	eventually(t, "listening again", func() bool { return listening(s) })
	assertNoSecretIn(t, log.all(), testPG.Password())
}

// Nodes starting at once on an empty database all succeed (the schema
// migration and the first key check are serialised).
func TestPostgresConcurrentOpen(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(Options{Postgres: dsn, Keyring: kr})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	kc := mustKeychain(t, stores[0])
	for i, s := range stores {
		if _, err := s.GetKeychain(kc.ID); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	// And they race writes to one record: serialization failures retry.
	var wg2 sync.WaitGroup
	for _, s := range stores {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for range 5 {
				if _, err := s.RotateKeychainToken(kc.ID); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg2.Wait()
	if got, _ := stores[0].GetKeychain(kc.ID); got.TokenVersion != 1+n*5 {
		t.Fatalf("token version %d, want %d: a write was lost", got.TokenVersion, 1+n*5)
	}
}

// No error or log line ever holds the DSN's password.
func TestPostgresPasswordNeverInErrors(t *testing.T) {
	pgtest.Skip(t, testPGErr)
	const pw = "Sup3rSecretPw-7f3a"
	kr := testKeyring(t, "k1")
	good := testPG.DSN("postgres")
	wrong := strings.Replace(good, testPG.Password(), pw, 1)
	cases := []struct {
		name, dsn string
		want      error
	}{
		{"wrong password", wrong, ErrUnavailable},
		{"unreachable host", "postgres://keygate:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", ErrUnavailable},
		{"key=value form", "host=127.0.0.1 port=1 user=keygate password=" + pw + " dbname=db sslmode=disable", ErrUnavailable},
		{"no such database", strings.Replace(good, "/postgres?", "/nosuchdb?", 1), ErrUnavailable},
		{"does not parse", "postgres://keygate:" + pw + "@[::1:bad/db", ErrInvalid},
		{"bad key=value", "host=127.0.0.1 password=" + pw + " port=notaport", ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := &recordingLogger{}
			_, err := Open(Options{Postgres: c.dsn, Keyring: kr, Logger: log, Timeout: 2 * time.Second})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			assertNoSecretIn(t, append(log.all(), err.Error(), fmt.Sprintf("%+v", err)), pw)
			assertNoSecretIn(t, []string{err.Error()}, testPG.Password())
			t.Log(err)
		})
	}
	_, err := OpenSpec("postgres:"+wrong, kr)
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("OpenSpec: %v", err)
	}
}

func assertNoSecretIn(t *testing.T, lines []string, secret string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, secret) {
			t.Fatalf("a line holds the password: %q", l)
		}
	}
}

// Every byte in the database: no plaintext value, token or key.
func TestPostgresNoPlaintextInDatabase(t *testing.T) {
	dsn := newPGDatabase(t)
	s := pgNode(t, dsn, testKeyring(t, "k1"), nil)
	kc := mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	const marker = "PLAINTEXTMARKER_5d1e8b"
	for i := range 20 {
		if _, err := s.PutSecret(kc.ID, fmt.Sprintf("S%d", i), []byte(marker+strings.Repeat("x", i*400)), SecretOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte(marker+"app")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSigningKey(SigningKey{ID: "sk1", Secret: []byte(marker + strings.Repeat("s", 32))}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.CreateOwnerSession("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, q := range []string{`SELECT k, v FROM keygate_kv`, `SELECT convert_to(name, 'UTF8'), value FROM keygate_meta`} {
		for _, kv := range selectAll(t, dsn, q) {
			rows++
			for _, needle := range []string{marker, "PLAINTEXTMARKER", tok, testPG.Password()} {
				if bytes.Contains(kv[0], []byte(needle)) || bytes.Contains(kv[1], []byte(needle)) {
					t.Fatalf("row %q holds a secret", kv[0])
				}
			}
		}
	}
	if rows < 25 {
		t.Fatalf("only %d rows scanned", rows)
	}
}

// pgConn is a connection of the test's own to dsn, closed at its end.
func pgConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

func selectAll(t *testing.T, dsn, q string) [][2][]byte {
	t.Helper()
	ctx := context.Background()
	rows, err := pgConn(t, dsn).Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2][]byte
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, [2][]byte{k, v})
	}
	return out
}

// A wrong or missing master key is refused naming the key, and changes
// nothing in the database; a schema newer than the code is refused.
func TestPostgresMasterKeyAndSchema(t *testing.T) {
	dsn := newPGDatabase(t)
	s := pgNode(t, dsn, testKeyring(t, "k1"), nil)
	kc := mustKeychain(t, s)
	if _, err := s.PutSecret(kc.ID, "A", []byte("a"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before := selectAll(t, dsn, `SELECT convert_to(name, 'UTF8'), value FROM keygate_meta`)

	wrong := mustKeyring(t, MasterKey{ID: "k1", Key: testKey("nope").Key})
	for _, kr := range []*Keyring{wrong, testKeyring(t, "k2")} {
		_, err := Open(Options{Postgres: dsn, Keyring: kr})
		var mk *MasterKeyError
		if !errors.As(err, &mk) || !strings.Contains(err.Error(), `"k1"`) {
			t.Fatalf("err = %v, want a MasterKeyError naming k1", err)
		}
	}
	if after := selectAll(t, dsn, `SELECT convert_to(name, 'UTF8'), value FROM keygate_meta`); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("a refused key changed the key check")
	}

	// Records without a key check: refused.
	if err := pgtest.Exec(dsn, `DELETE FROM keygate_meta`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Postgres: dsn, Keyring: testKeyring(t, "k1")}); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("missing key check: %v", err)
	}

	if err := pgtest.Exec(dsn, `UPDATE keygate_schema SET version = 99`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Postgres: dsn, Keyring: testKeyring(t, "k1")}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "99") {
		t.Fatalf("newer schema: %v", err)
	}
}

// Periodic work runs on one node at a time.
func TestPostgresRunExclusiveAcrossNodes(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	a, b := pgNode(t, dsn, kr, nil), pgNode(t, dsn, kr, nil)
	ran, err := a.RunExclusive("prune", func() error {
		ranB, err := b.RunExclusive("prune", func() error { return nil })
		if err != nil || ranB {
			return fmt.Errorf("b ran while a held the lock (ran=%v, %v)", ranB, err)
		}
		// Another name is another lock.
		ranB, err = b.RunExclusive("gc", func() error { return nil })
		if err != nil || !ranB {
			return fmt.Errorf("b could not take another lock (ran=%v, %v)", ranB, err)
		}
		return nil
	})
	if err != nil || !ran {
		t.Fatalf("ran=%v %v", ran, err)
	}
	if ran, err := b.RunExclusive("prune", func() error { return nil }); !ran || err != nil {
		t.Fatalf("lock not released: ran=%v %v", ran, err)
	}
}

// Badger to PostgreSQL and back, every record byte for byte.
func TestCopyBetweenBackends(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1", "k0")
	dir := t.TempDir()
	src, err := OpenSpec("badger:"+dir, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	kc := fillForCopy(t, src)
	pg, err := OpenSpec("postgres:"+dsn, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if _, err := CopyWithProgress(src, pg, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := VerifyCopy(src, pg); err != nil {
		t.Fatal(err)
	}
	back, err := OpenSpec("badger:"+t.TempDir(), kr)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if _, err := CopyWithProgress(pg, back, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := VerifyCopy(src, back); err != nil {
		t.Fatal(err)
	}
	if got := openValue(t, back, kc, "STRIPE_SECRET_KEY"); got != "sk_live_copy" {
		t.Fatalf("value after the round trip: %q", got)
	}
	// The copy's key check demands what the source's did.
	pg.Close()
	if _, err := OpenSpec("postgres:"+dsn, testKeyring(t, "k9")); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("copy opened with a foreign key: %v", err)
	}
}

func TestOpenPostgresOptionsRejected(t *testing.T) {
	kr := testKeyring(t, "k1")
	for _, o := range []Options{
		{Postgres: "postgres://x@127.0.0.1/db", Dir: t.TempDir(), Keyring: kr},
		{Postgres: "postgres://x@127.0.0.1/db", InMemory: true, Keyring: kr},
		{Postgres: "postgres://x@127.0.0.1/db", Timeout: -time.Second, Keyring: kr},
		{Postgres: "postgres://x@127.0.0.1/db"},
	} {
		if _, err := Open(o); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%+v) = %v, want ErrInvalid", o, err)
		}
	}
}

func TestPostgresTargetHasNoPassword(t *testing.T) {
	got, err := PostgresTarget("postgres://kg:s3cretpw@db.example:6543/keys?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if got != "db.example:6543/keys as kg" {
		t.Fatalf("target = %q", got)
	}
	if _, err := PostgresTarget("postgres://kg:s3cretpw@[::1"); err == nil || strings.Contains(err.Error(), "s3cretpw") {
		t.Fatalf("bad DSN: err = %v", err)
	}
}

// Schema version 2 compresses values with lz4 where the server has it,
// and a database at version 1 is brought there at start, its records kept.
func TestPostgresSchemaMigratesToLZ4(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	s, err := Open(Options{Postgres: dsn, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	kc := mustKeychain(t, s)
	s.Close()
	state := func() (version int, compression string) {
		t.Helper()
		err := pgConn(t, dsn).QueryRow(context.Background(), `SELECT (SELECT version FROM keygate_schema),
			coalesce((SELECT attcompression::text FROM pg_attribute WHERE attrelid = 'keygate_kv'::regclass AND attname = 'v'), '')`).Scan(&version, &compression)
		if err != nil {
			t.Fatal(err)
		}
		return version, compression
	}
	if v, c := state(); v != len(pgMigrations) || c != "l" {
		t.Fatalf("fresh database: schema version %d, compression %q; want %d, lz4 (l)", v, c, len(pgMigrations))
	}

	if err := pgtest.Exec(dsn, `ALTER TABLE keygate_kv ALTER COLUMN v SET COMPRESSION DEFAULT`); err != nil {
		t.Fatal(err)
	}
	// Back to version 1: no change sequence or node list either (version 3).
	if err := pgtest.Exec(dsn, `DROP TABLE keygate_changes, keygate_nodes`); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.Exec(dsn, `UPDATE keygate_schema SET version = 1`); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Postgres: dsn, Keyring: kr})
	if err != nil {
		t.Fatalf("open at version 1: %v", err)
	}
	defer s.Close()
	if v, c := state(); v != len(pgMigrations) || c != "l" {
		t.Fatalf("migrated database: schema version %d, compression %q; want %d, lz4 (l)", v, c, len(pgMigrations))
	}
	if _, err := s.GetKeychain(kc.ID); err != nil {
		t.Fatalf("a record was lost in the migration: %v", err)
	}
}

// TestPostgresLiveNodes: two stores on one database count each other
// within a few heartbeats; one closing is gone for the other at once.
func TestPostgresLiveNodes(t *testing.T) {
	pgtest.Skip(t, testPGErr)
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	a, err := Open(Options{Postgres: dsn, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(Options{Postgres: dsn, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both count two nodes", func() bool { return a.LiveNodes() == 2 && b.LiveNodes() == 2 })
	b.Close()
	eventually(t, "the other counts one node", func() bool { return a.LiveNodes() == 1 })
}

// TestPostgresHeldLimitRace: two nodes adding one keychain's held calls
// at once never pass the limit between them.
func TestPostgresHeldLimitRace(t *testing.T) {
	dsn := newPGDatabase(t)
	kr := testKeyring(t, "k1")
	a, b := pgNode(t, dsn, kr, nil), pgNode(t, dsn, kr, nil)
	kc := mustKeychain(t, a)
	const limit, tries = 4, 16
	var wg sync.WaitGroup
	oks := make([]bool, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			h := HeldCall{ID: fmt.Sprintf("hc_%d", i), Keychain: kc.ID, Kind: "approve", Created: time.Now(), Expires: time.Now().Add(time.Minute)}
			ok, err := s.PutHeldWithin(h, limit)
			if err != nil {
				t.Error(err)
			}
			oks[i] = ok
		}()
	}
	wg.Wait()
	n := 0
	for _, ok := range oks {
		if ok {
			n++
		}
	}
	l, err := b.ListHeld(kc.ID)
	if err != nil || n != limit || len(l) != limit {
		t.Fatalf("%d of %d calls recorded (%d listed, %v), want exactly %d", n, tries, len(l), err, limit)
	}
}
