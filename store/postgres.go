package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultTimeout bounds each PostgreSQL round trip when Options.Timeout
// is 0: a database that is down answers ErrUnavailable within it.
const DefaultTimeout = 5 * time.Second

const (
	// pgPageValues and pgPageKeys bound the rows one Iterate page holds
	// in memory; audit segments are the largest values, a few hundred KiB.
	pgPageValues = 64
	pgPageKeys   = 1024
	// pgMaxRetries bounds retries of a transaction that lost a
	// serialization race (SQLSTATE 40001/40P01); each retry re-reads.
	pgMaxRetries = 16
)

// postgresBackend keeps every record in one table, keygate_kv, shared by
// every node of a deployment. Reads run in REPEATABLE READ snapshots,
// writes in SERIALIZABLE transactions, so the backend contract (a
// transaction sees one snapshot and commits whole or not at all) holds
// across nodes as it does in Badger.
type postgresBackend struct {
	pool    *pgxpool.Pool
	cfg     *pgxpool.Config
	where   string // host:port/db as user: what messages name
	timeout time.Duration
	log     Logger

	listener *pgListener // change notifications and the change sequence
	node     nodeState   // this node in keygate_nodes
}

// parsePostgres parses dsn without ever echoing it: pgx's own parse
// errors quote the string, and redaction there is best effort.
func parsePostgres(dsn string, timeout time.Duration) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, invalid("postgres", "the DSN does not parse (want a postgres:// URL or key=value pairs)")
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 || cc.ConnectTimeout > timeout {
		cc.ConnectTimeout = timeout
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "keygate"
	}
	return cfg, nil
}

// openPostgres connects, migrates the schema and returns the backend.
func openPostgres(dsn string, timeout time.Duration, log Logger) (*postgresBackend, error) {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	cfg, err := parsePostgres(dsn, timeout)
	if err != nil {
		return nil, err
	}
	cc := cfg.ConnConfig
	b := &postgresBackend{
		cfg:     cfg,
		where:   fmt.Sprintf("%s:%d/%s as %s", cc.Host, cc.Port, cc.Database, cc.User),
		timeout: timeout,
		log:     log,
	}
	if b.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		return nil, b.mapErr("open", err)
	}
	ctx, cancel := b.ctx()
	err = b.pool.Ping(ctx)
	cancel()
	if err == nil {
		err = b.migrate()
	} else {
		err = b.mapErr("connect", err)
	}
	if err != nil {
		b.pool.Close()
		return nil, err
	}
	return b, nil
}

// ctx bounds one round trip of the backend's own work (schema, node
// heartbeats, notifications), which no caller waits on.
func (b *postgresBackend) ctx() (context.Context, context.CancelFunc) {
	return b.within(context.Background())
}

// within bounds one round trip made for parent: it ends at the timeout
// or when parent does, whichever comes first.
func (b *postgresBackend) within(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, b.timeout)
}

func (b *postgresBackend) Get(parent context.Context, key []byte) ([]byte, error) {
	ctx, cancel := b.within(parent)
	defer cancel()
	var v []byte
	err := b.pool.QueryRow(ctx, `SELECT v FROM keygate_kv WHERE k = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoKey
	}
	if err != nil {
		return nil, b.mapErr("get", err)
	}
	return v, nil
}

func (b *postgresBackend) View(ctx context.Context, fn func(reader) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return b.attempt(ctx, opts, func(t *pgTxn) error { return fn(t) })
}

func (b *postgresBackend) Update(ctx context.Context, fn func(writer) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.Serializable}
	for attempt := 0; ; attempt++ {
		err := b.attempt(ctx, opts, func(t *pgTxn) error {
			if err := fn(t); err != nil {
				return err
			}
			return t.notify()
		})
		if !retryable(err) {
			return err
		}
		if attempt >= pgMaxRetries {
			return fmt.Errorf("too many concurrent writes to the same record: %w", ErrConflict)
		}
		// Back off a little, growing, so racing nodes spread out.
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
}

// attempt runs fn in one transaction and commits it. Errors from the
// database come back mapped; errors of fn come back as they are. Every
// statement of the transaction is bounded by parent and by the timeout.
func (b *postgresBackend) attempt(parent context.Context, opts pgx.TxOptions, fn func(*pgTxn) error) error {
	ctx, cancel := b.within(parent)
	tx, err := b.pool.BeginTx(ctx, opts)
	cancel()
	if err != nil {
		return b.mapErr("begin", err)
	}
	t := &pgTxn{b: b, ctx: parent, tx: tx}
	if err := fn(t); err != nil || t.failed != nil {
		b.rollback(tx)
		if t.failed != nil && (err == nil || retryable(t.failed)) {
			return t.failed
		}
		return err
	}
	ctx, cancel = b.within(parent)
	defer cancel()
	if err := tx.Commit(ctx); err != nil {
		b.rollback(tx)
		return b.mapErr("commit", err)
	}
	return nil
}

// rollback is not bounded by the caller: a cancelled request still hands
// its connection back clean.
func (b *postgresBackend) rollback(tx pgx.Tx) {
	ctx, cancel := b.ctx()
	defer cancel()
	tx.Rollback(ctx)
}

// GC has nothing to do: PostgreSQL's autovacuum reclaims space.
func (b *postgresBackend) GC() error { return errNothingToCollect }

func (b *postgresBackend) Close() error {
	b.listener.stop()
	b.leave()
	b.pool.Close()
	return nil
}

// pgTxn is one transaction; it remembers the cacheable keys it wrote so
// the commit can tell the other nodes.
type pgTxn struct {
	b       *postgresBackend
	ctx     context.Context // the caller's, bounding every statement
	tx      pgx.Tx
	touched [][]byte
	// failed is the first database error of the transaction. After it,
	// PostgreSQL refuses every statement (25P02), so it is what the
	// attempt reports, whatever fn made of it: a serialization failure
	// that fn swallowed or wrapped is still retried.
	failed error
}

// mapErr maps a database error of the transaction and remembers the first.
func (t *pgTxn) mapErr(op string, err error) error {
	err = t.b.mapErr(op, err)
	if err != nil && t.failed == nil {
		t.failed = err
	}
	return err
}

// round bounds one statement of the transaction.
func (t *pgTxn) round() (context.Context, context.CancelFunc) { return t.b.within(t.ctx) }

func (t *pgTxn) Get(key []byte) ([]byte, error) {
	ctx, cancel := t.round()
	defer cancel()
	var v []byte
	err := t.tx.QueryRow(ctx, `SELECT v FROM keygate_kv WHERE k = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoKey
	}
	if err != nil {
		return nil, t.mapErr("get", err)
	}
	return v, nil
}

func (t *pgTxn) Set(key, value []byte) error {
	if value == nil {
		value = []byte{} // nil would be sent as NULL
	}
	t.touch(key)
	return t.exec("set", `INSERT INTO keygate_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`, key, value)
}

func (t *pgTxn) Delete(key []byte) error {
	t.touch(key)
	return t.exec("delete", `DELETE FROM keygate_kv WHERE k = $1`, key)
}

func (t *pgTxn) touch(key []byte) {
	// Signing keys are not cached, but other nodes must hear of them.
	if cacheable(key) || bytes.HasPrefix(key, []byte(pfxSigningKey)) {
		t.touched = append(t.touched, bytes.Clone(key))
	}
}

func (t *pgTxn) exec(op, sql string, args ...any) error {
	ctx, cancel := t.round()
	defer cancel()
	_, err := t.tx.Exec(ctx, sql, args...)
	return t.mapErr(op, err)
}

// Iterate reads the range a page at a time, each page a range query that
// resumes after the last key seen, so memory stays bounded however large
// the range. A page is read whole before fn runs, so fn may use the
// transaction.
func (t *pgTxn) Iterate(o iterOptions, fn func(key, value []byte) error) error {
	cols, page := "k, v", pgPageValues
	if o.KeysOnly {
		cols, page = "k", pgPageKeys
	}
	var (
		conds []string
		args  []any
	)
	add := func(cond string, v []byte) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	lo := o.Prefix
	if !o.Reverse && bytes.Compare(o.Start, lo) > 0 {
		lo = o.Start
	}
	add("k >= $%d", append([]byte{}, lo...))
	if end := prefixEnd(o.Prefix); end != nil {
		add("k < $%d", end)
	}
	if o.Reverse && o.Start != nil {
		add("k <= $%d", o.Start)
	}
	order, after := "ASC", ">"
	if o.Reverse {
		order, after = "DESC", "<"
	}
	fixed := len(args)
	for {
		where := strings.Join(conds, " AND ")
		if len(args) > fixed {
			where += fmt.Sprintf(" AND k %s $%d", after, len(args))
		}
		rows, err := t.page(fmt.Sprintf(`SELECT %s FROM keygate_kv WHERE %s ORDER BY k %s LIMIT %d`, cols, where, order, page), args, o.KeysOnly)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r[0], r[1]); errors.Is(err, errStop) {
				return nil
			} else if err != nil {
				return err
			}
		}
		if len(rows) < page {
			return nil
		}
		args = append(args[:fixed], rows[len(rows)-1][0])
	}
}

func (t *pgTxn) page(sql string, args []any, keysOnly bool) ([][2][]byte, error) {
	ctx, cancel := t.round()
	defer cancel()
	rows, err := t.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, t.mapErr("scan", err)
	}
	defer rows.Close()
	var out [][2][]byte
	for rows.Next() {
		var k, v []byte
		if keysOnly {
			err = rows.Scan(&k)
		} else {
			err = rows.Scan(&k, &v)
		}
		if err != nil {
			return nil, t.mapErr("scan", err)
		}
		out = append(out, [2][]byte{k, v})
	}
	if err := rows.Err(); err != nil {
		return nil, t.mapErr("scan", err)
	}
	return out, nil
}

// prefixEnd returns the first key after every key with prefix, or nil
// when there is none (an empty or all-0xff prefix).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// PostgresTarget names the database a DSN points at as
// "host:port/db as user", for log lines and pool keys: never the password.
func PostgresTarget(dsn string) (string, error) {
	cfg, err := parsePostgres(dsn, DefaultTimeout)
	if err != nil {
		return "", err
	}
	cc := cfg.ConnConfig
	return fmt.Sprintf("%s:%d/%s as %s", cc.Host, cc.Port, cc.Database, cc.User), nil
}
