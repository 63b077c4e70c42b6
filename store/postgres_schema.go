package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
)

// pgMigrations are the schema versions in order; version N is the state
// after the first N. A migration is only ever appended, never edited.
var pgMigrations = [][]string{
	{
		`CREATE TABLE keygate_kv (k bytea PRIMARY KEY, v bytea NOT NULL)`,
		// Small documents outside the record space: the key check, which
		// a copy between stores writes itself rather than as a record.
		`CREATE TABLE keygate_meta (name text PRIMARY KEY, value bytea NOT NULL)`,
	},
	{
		// Audit segments are ~100 KB of JSON each and PostgreSQL
		// compresses them: lz4 does it in about two thirds of pglz's CPU
		// for the same size (BENCHMARKS.md). A server built without lz4,
		// or older than 14, keeps pglz; values written before stay as they
		// are either way.
		`DO $$ BEGIN
			EXECUTE 'ALTER TABLE keygate_kv ALTER COLUMN v SET COMPRESSION lz4';
		EXCEPTION WHEN feature_not_supported OR syntax_error THEN NULL;
		END $$`,
	},
	{
		// The change sequence: one row, bumped by every write that
		// notifies, and read by every node a few times a second, so that
		// a lost notification is noticed (postgres_listen.go).
		`CREATE TABLE keygate_changes (id int PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL)`,
		`INSERT INTO keygate_changes (id, seq) VALUES (1, 0)`,
		// Live nodes, each seen every second, so that rate limits can be
		// shared among them (postgres_nodes.go).
		`CREATE TABLE keygate_nodes (id text PRIMARY KEY, seen timestamptz NOT NULL)`,
	},
}

// migrate brings the schema to the newest version. Nodes starting at
// once queue on a transaction-scoped advisory lock, so one migrates and
// the others find the work done.
func (b *postgresBackend) migrate() error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*b.timeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgLockID("schema")); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS keygate_schema (version int NOT NULL)`); err != nil {
			return err
		}
		var v int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM keygate_schema`).Scan(&v); err != nil {
			return err
		}
		if v > len(pgMigrations) {
			return errSchemaTooNew{have: v, know: len(pgMigrations)}
		}
		if v == len(pgMigrations) {
			return nil
		}
		for _, m := range pgMigrations[v:] {
			for _, stmt := range m {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM keygate_schema`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO keygate_schema (version) VALUES ($1)`, len(pgMigrations))
		return err
	})
	var tooNew errSchemaTooNew
	if errors.As(err, &tooNew) {
		return fmt.Errorf("postgres %s: schema version %d is newer than this keygate knows (%d): %w", b.where, tooNew.have, tooNew.know, ErrInvalid)
	}
	return b.mapErr("migrate schema", err)
}

type errSchemaTooNew struct{ have, know int }

func (e errSchemaTooNew) Error() string { return "schema too new" }

// pgLockID names an advisory lock; the hash keeps keygate's locks apart
// from other users of the same database.
func pgLockID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("keygate/" + name))
	return int64(h.Sum64())
}

// TryLock takes a session-level advisory lock on a connection of its own,
// held until unlock; if that connection dies the lock goes with it.
func (b *postgresBackend) TryLock(name string) (func(), bool, error) {
	return b.lock(name, `SELECT pg_try_advisory_lock($1)`)
}

func (b *postgresBackend) lock(name, sql string) (func(), bool, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, false, b.mapErr("lock "+name, err)
	}
	id := pgLockID(name)
	ok := true
	if err := conn.QueryRow(ctx, sql, id).Scan(&ok); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		conn.Release()
		return nil, false, b.mapErr("lock "+name, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	unlock := func() {
		ctx, cancel := b.ctx()
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, id); err != nil {
			// Closing the session is the other way to drop its locks.
			conn.Conn().Close(ctx)
		}
		conn.Release()
	}
	return unlock, true, nil
}

// pgKeycheck keeps the key check in keygate_meta.
type pgKeycheck struct{ b *postgresBackend }

const pgKeycheckName = "keycheck"

func (k pgKeycheck) load() ([]byte, bool, error) {
	ctx, cancel := k.b.ctx()
	defer cancel()
	var v []byte
	err := k.b.pool.QueryRow(ctx, `SELECT value FROM keygate_meta WHERE name = $1`, pgKeycheckName).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, k.b.mapErr("read key check", err)
	}
	return v, true, nil
}

func (k pgKeycheck) save(b []byte) error {
	ctx, cancel := k.b.ctx()
	defer cancel()
	_, err := k.b.pool.Exec(ctx, `INSERT INTO keygate_meta (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`, pgKeycheckName, b)
	return k.b.mapErr("write key check", err)
}

func (k pgKeycheck) holdsData() (bool, error) {
	ctx, cancel := k.b.ctx()
	defer cancel()
	var any bool
	err := k.b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keygate_kv)`).Scan(&any)
	return any, k.b.mapErr("read", err)
}

// locked serialises key-check changes of every node on one advisory lock.
func (k pgKeycheck) locked(fn func() error) error {
	unlock, _, err := k.b.lock(pgKeycheckName, `SELECT true FROM pg_advisory_lock($1)`)
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

func (k pgKeycheck) name() string { return "the database's key check" }
