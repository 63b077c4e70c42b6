package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Signals are small messages from one node to the others of a shared
// database: PostgreSQL NOTIFY on a channel of their own, apart from the
// cache's change notifications. A single-process store has no others, so
// there both calls do nothing and the caller delivers to itself.
//
// A signal is best effort: one sent while a node's LISTEN connection is
// down is lost for that node. What waits on signals must also end on its
// own (held calls end at their deadline).
const (
	pgSignalChannel = "keygate_signals"
	maxSignal       = 1000
)

// Signal sends msg (at most 1000 bytes, never a secret) to every node
// listening on this database, this one included.
func (s *Store) Signal(msg string) error {
	b, ok := raw(s.be).(*postgresBackend)
	if !ok {
		return nil
	}
	if len(msg) > maxSignal {
		return invalid("signal", "is longer than 1000 bytes")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	ctx, cancel := b.ctx()
	defer cancel()
	if _, err := b.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, pgSignalChannel, msg); err != nil {
		return b.mapErr("signal", err)
	}
	return nil
}

// ListenSignals calls fn with each signal any node sends, until stop is
// called. fn runs on the listener's goroutine and must not block long.
func (s *Store) ListenSignals(fn func(msg string)) (stop func()) {
	b, ok := raw(s.be).(*postgresBackend)
	if !ok {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		backoff := pgBackoffFirst
		for {
			established, err := b.signalSession(ctx, fn)
			if ctx.Err() != nil {
				return
			}
			if established {
				backoff = pgBackoffFirst
			}
			if b.log != nil {
				b.log.Warningf("keygate store: signals lost (%v); reconnecting", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, pgBackoffMax)
		}
	}()
	return func() { cancel(); <-done }
}

func (b *postgresBackend) signalSession(ctx context.Context, fn func(string)) (bool, error) {
	cc := b.cfg.ConnConfig.Copy()
	cc.RuntimeParams["application_name"] = "keygate-signals"
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	conn, err := pgx.ConnectConfig(cctx, cc)
	if err == nil {
		if _, err = conn.Exec(cctx, "LISTEN "+pgSignalChannel); err != nil {
			conn.Close(cctx)
		}
	}
	cancel()
	if err != nil {
		return false, b.mapErr("listen", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		conn.Close(cctx)
		cancel()
	}()
	for {
		wctx, cancel := context.WithTimeout(ctx, pgPingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			fn(n.Payload)
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err):
			pctx, cancel := context.WithTimeout(ctx, b.timeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, b.mapErr("listen", err)
			}
		default:
			return true, b.mapErr("listen", err)
		}
	}
}
