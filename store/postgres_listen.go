package store

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Change notifications keep every node's metadata cache true.
//
// Each committed Update that wrote cacheable records sends, inside its
// transaction (so only on commit), NOTIFY keygate_changes with the hex of
// those keys, or "*" (flush everything) when they do not fit a payload.
// Every node LISTENs on a connection of its own. A write on node A is so
// obeyed by node B once B receives the notification, typically within
// milliseconds of the commit. While B's channel is down, B distrusts its
// cache: every read goes to the database until LISTEN is back, when the
// cache starts empty. A node's own writes also invalidate locally at once.
const (
	pgChannel = "keygate_changes"
	// pgPayloadMax stays under PostgreSQL's 8000-byte NOTIFY limit.
	pgPayloadMax = 7900
	pgFlushAll   = "*"
	// pgPingEvery: an idle LISTEN connection is pinged this often, so a
	// silently dead one is noticed within pgPingEvery plus the timeout.
	pgPingEvery    = 10 * time.Second
	pgBackoffFirst = 100 * time.Millisecond
	pgBackoffMax   = 5 * time.Second
)

// notify tells the other nodes which cacheable keys this transaction
// wrote; sent inside the transaction, PostgreSQL delivers it on commit.
func (t *pgTxn) notify() error {
	if len(t.touched) == 0 {
		return nil
	}
	return t.exec("notify", `SELECT pg_notify($1, $2)`, pgChannel, changePayload(t.touched))
}

func changePayload(keys [][]byte) string {
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(hex.EncodeToString(k))
		if sb.Len() > pgPayloadMax {
			return pgFlushAll
		}
	}
	return sb.String()
}

// parseChangePayload returns the keys named, or all=true for a flush (or
// a payload it cannot read, where flushing is the safe answer).
func parseChangePayload(p string) (keys []string, all bool) {
	if p == pgFlushAll || p == "" {
		return nil, true
	}
	for _, h := range strings.Split(p, ",") {
		k, err := hex.DecodeString(h)
		if err != nil {
			return nil, true
		}
		keys = append(keys, string(k))
	}
	return keys, false
}

// pgListener runs the LISTEN connection with reconnect and backoff.
type pgListener struct {
	b         *postgresBackend
	cache     *metaCache
	up        atomic.Bool
	cancel    context.CancelFunc
	done      chan struct{}
	firstOnce sync.Once
	first     chan struct{} // closed after the first attempt, up or not
}

// listen starts the listener for cache and waits for its first attempt,
// so a store that opens with the database up starts with a trusted cache.
func (b *postgresBackend) listen(cache *metaCache) {
	ctx, cancel := context.WithCancel(context.Background())
	l := &pgListener{b: b, cache: cache, cancel: cancel, done: make(chan struct{}), first: make(chan struct{})}
	b.listener = l
	cache.flush(false)
	go l.run(ctx)
	<-l.first
}

func (l *pgListener) stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}

func (l *pgListener) run(ctx context.Context) {
	defer close(l.done)
	backoff := pgBackoffFirst
	for {
		established, err := l.session(ctx)
		l.up.Store(false)
		l.cache.flush(false)
		l.firstOnce.Do(func() { close(l.first) })
		if ctx.Err() != nil {
			return
		}
		if established {
			backoff = pgBackoffFirst
		}
		if l.b.log != nil {
			l.b.log.Warningf("keygate store: change notifications lost (%v); reading through to the database until they are back", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, pgBackoffMax)
	}
}

// session connects, LISTENs and applies notifications until the
// connection fails. established reports whether LISTEN took effect.
func (l *pgListener) session(ctx context.Context) (established bool, err error) {
	cc := l.b.cfg.ConnConfig.Copy()
	cc.RuntimeParams["application_name"] = "keygate-listen"
	cctx, cancel := context.WithTimeout(ctx, l.b.timeout)
	conn, err := pgx.ConnectConfig(cctx, cc)
	if err == nil {
		if _, err = conn.Exec(cctx, "LISTEN "+pgChannel); err != nil {
			conn.Close(cctx)
		}
	}
	cancel()
	if err != nil {
		return false, l.b.mapErr("listen", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), l.b.timeout)
		conn.Close(cctx)
		cancel()
	}()
	// Everything committed from here on will be notified; anything before
	// is covered by starting empty.
	l.cache.flush(true)
	l.up.Store(true)
	if l.b.log != nil {
		l.b.log.Infof("keygate store: listening for changes on postgres %s", l.b.where)
	}
	l.firstOnce.Do(func() { close(l.first) })
	for {
		wctx, cancel := context.WithTimeout(ctx, pgPingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if keys, all := parseChangePayload(n.Payload); all {
				l.cache.flush(true)
			} else {
				l.cache.invalidate(keys)
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err):
			pctx, cancel := context.WithTimeout(ctx, l.b.timeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, l.b.mapErr("listen", err)
			}
		default:
			return true, l.b.mapErr("listen", err)
		}
	}
}
