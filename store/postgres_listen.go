package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Change notifications keep every node's metadata cache true.
//
// Each committed Update that wrote cacheable records (or signing keys)
// bumps the change sequence (keygate_changes, one row) and sends, inside
// its transaction (so only on commit), NOTIFY keygate_changes with
// "<seq>:" and the hex of those keys, or "*" (flush everything) when they
// do not fit a payload. The row's lock orders the writers, so sequence
// numbers commit in order. Every node LISTENs on a connection of its own
// and drops the named entries on receipt, typically within milliseconds.
//
// A notification can be lost while the connection looks alive (a proxy,
// a frozen connection). So every node also reads the sequence every
// pgPollEvery, a single-row query: a number that the previous poll saw
// and no notification brought by now was lost, and the node empties its
// cache and reconnects. A poll that fails or takes longer than
// pgPollTimeout distrusts the cache until one succeeds. Either way a
// change is obeyed everywhere within about two polls plus a poll's
// timeout: under a second. While the channel is down the cache is
// distrusted: every read goes to the database. A node's own writes also
// invalidate locally at once.
const (
	pgChannel = "keygate_changes"
	// pgPayloadMax stays under PostgreSQL's 8000-byte NOTIFY limit.
	pgPayloadMax = 7900
	pgFlushAll   = "*"
	// pgPingEvery: an idle LISTEN connection is pinged this often.
	pgPingEvery    = 10 * time.Second
	pgPollEvery    = 200 * time.Millisecond
	pgPollTimeout  = 500 * time.Millisecond
	pgBackoffFirst = 100 * time.Millisecond
	pgBackoffMax   = 5 * time.Second
	pgProbePrefix  = "probe:"
)

// errNoNotifications: LISTEN took, but a notification sent to it never
// arrived, which is what a pooler in transaction mode does.
var errNoNotifications = errors.New("a notification sent to this node's LISTEN connection never arrived: " +
	"is a connection pooler in transaction mode (e.g. PgBouncer pool_mode = transaction) between keygate and PostgreSQL? " +
	"keygate needs LISTEN: connect directly, or through a pooler in session mode")

// notify bumps the change sequence and tells the other nodes which keys
// this transaction wrote; sent inside the transaction, PostgreSQL
// delivers it on commit.
func (t *pgTxn) notify() error {
	if len(t.touched) == 0 {
		return nil
	}
	ctx, cancel := t.round()
	var seq int64
	err := t.tx.QueryRow(ctx, `UPDATE keygate_changes SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&seq)
	cancel()
	if err != nil {
		return t.mapErr("notify", err)
	}
	return t.exec("notify", `SELECT pg_notify($1, $2)`, pgChannel, strconv.FormatInt(seq, 10)+":"+changePayload(t.touched))
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

// parseChangePayload returns the change's sequence number (0 when it has
// none) and the keys named, or all=true for a flush (or a payload it
// cannot read, where flushing is the safe answer).
func parseChangePayload(p string) (seq uint64, keys []string, all bool) {
	if s, rest, ok := strings.Cut(p, ":"); ok {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			seq, p = n, rest
		}
	}
	if p == pgFlushAll || p == "" {
		return seq, nil, true
	}
	for _, h := range strings.Split(p, ",") {
		k, err := hex.DecodeString(h)
		if err != nil {
			return seq, nil, true
		}
		keys = append(keys, string(k))
	}
	return seq, keys, false
}

// pgListener runs the node's one LISTEN connection, with reconnect and
// backoff, and the poll of the change sequence. The connection hears
// both channels: change notifications, and signals (signals.go), which
// it hands to their subscribers.
type pgListener struct {
	b         *postgresBackend
	cache     *metaCache
	changed   func(keys []string, all bool) // told of every change, for what is not cached
	cancel    context.CancelFunc
	done      chan struct{}
	firstOnce sync.Once
	first     chan struct{} // closed after the first attempt, up or not
	firstErr  error

	mu        sync.Mutex
	listening bool               // a session is established
	polled    bool               // the last poll answered in time
	trusted   bool               // what the cache was last told
	base      uint64             // every change up to base is reflected in the cache
	got       map[uint64]bool    // changes above base that arrived
	seen      uint64             // the sequence as the previous poll saw it
	kick      context.CancelFunc // ends the current session

	sigMu   sync.Mutex
	sigSubs map[int]func(string) // ListenSignals' subscribers, by id
	sigNext int
}

// listen starts the listener for cache and waits for its first attempt,
// so a store that opens with the database up starts with a trusted cache.
// It fails when notifications cannot arrive at all (a pooler in
// transaction mode). changed, if set, hears of every change.
func (b *postgresBackend) listen(cache *metaCache, changed func(keys []string, all bool)) error {
	ctx, cancel := context.WithCancel(context.Background())
	l := &pgListener{b: b, cache: cache, changed: changed, cancel: cancel, done: make(chan struct{}), first: make(chan struct{}), polled: true, sigSubs: map[int]func(string){}}
	cache.flush(false)
	go l.run(ctx)
	<-l.first
	if errors.Is(l.firstErr, errNoNotifications) {
		cancel()
		<-l.done
		return l.firstErr
	}
	b.listener = l
	return nil
}

func (l *pgListener) stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}

// setTrustLocked tells the cache whether it may be trusted: while a
// session is established and the change sequence answers.
func (l *pgListener) setTrustLocked() {
	want := l.listening && l.polled
	if want != l.trusted {
		l.cache.flush(want)
		l.trusted = want
	}
}

func (l *pgListener) run(ctx context.Context) {
	defer close(l.done)
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		l.poll(ctx)
	}()
	defer func() { <-pollDone }()
	backoff := pgBackoffFirst
	for {
		established, err := l.session(ctx)
		l.mu.Lock()
		l.listening = false
		l.setTrustLocked()
		l.mu.Unlock()
		if l.changed != nil {
			l.changed(nil, true) // what changed meanwhile is unknown
		}
		l.firstOnce.Do(func() { l.firstErr = err; close(l.first) })
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

// readSeq reads the change sequence.
func (l *pgListener) readSeq(ctx context.Context) (uint64, error) {
	var seq int64
	err := l.b.pool.QueryRow(ctx, `SELECT seq FROM keygate_changes WHERE id = 1`).Scan(&seq)
	return uint64(seq), err
}

// poll reads the change sequence every pgPollEvery until ctx ends.
func (l *pgListener) poll(ctx context.Context) {
	t := time.NewTicker(pgPollEvery)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if tick%pgHeartbeatTicks == 0 {
			l.b.heartbeat(ctx)
		}
		pctx, cancel := context.WithTimeout(ctx, pgPollTimeout)
		seq, err := l.readSeq(pctx)
		cancel()
		l.mu.Lock()
		l.polled = err == nil
		if err == nil && l.listening && l.lostLocked() {
			if l.b.log != nil {
				l.b.log.Warningf("keygate store: a change notification did not arrive (change sequence %d); emptying the cache and listening again", l.seen)
			}
			l.listening = false
			l.kick()
		}
		if err == nil {
			l.seen = max(l.seen, seq)
		}
		l.setTrustLocked()
		l.mu.Unlock()
	}
}

// lostLocked reports whether a change that the previous poll saw has not
// arrived since.
func (l *pgListener) lostLocked() bool {
	for s := l.base + 1; s <= l.seen; s++ {
		if !l.got[s] {
			return true
		}
	}
	return false
}

// arrived records change seq and moves base over what is complete.
func (l *pgListener) arrived(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq <= l.base {
		return
	}
	l.got[seq] = true
	for l.got[l.base+1] {
		delete(l.got, l.base+1)
		l.base++
	}
}

// session connects, LISTENs on both channels, checks that a notification
// arrives, and applies change notifications and hands on signals until
// the connection fails or the poll ends it.
// established reports whether LISTEN took effect.
func (l *pgListener) session(parent context.Context) (established bool, err error) {
	ctx, kick := context.WithCancel(parent)
	defer kick()
	cc := l.b.cfg.ConnConfig.Copy()
	cc.RuntimeParams["application_name"] = "keygate-listen"
	cctx, cancel := context.WithTimeout(ctx, l.b.timeout)
	conn, err := pgx.ConnectConfig(cctx, cc)
	if err == nil {
		if _, err = conn.Exec(cctx, "LISTEN "+pgChannel+"; LISTEN "+pgSignalChannel); err != nil {
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
	if err := l.probe(ctx, conn); err != nil {
		return false, err
	}
	// Every change after base will be notified; everything up to it is
	// covered by starting empty.
	pctx, cancel := context.WithTimeout(ctx, l.b.timeout)
	base, err := l.readSeq(pctx)
	cancel()
	if err != nil {
		return false, l.b.mapErr("listen", err)
	}
	l.mu.Lock()
	l.base, l.seen, l.got, l.kick = base, base, map[uint64]bool{}, kick
	l.listening = true
	l.cache.flush(l.polled)
	l.trusted = l.polled
	l.mu.Unlock()
	if l.changed != nil {
		l.changed(nil, true)
	}
	if l.b.log != nil {
		l.b.log.Infof("keygate store: listening for changes on postgres %s", l.b.where)
	}
	l.firstOnce.Do(func() { close(l.first) })
	for {
		wctx, cancel := context.WithTimeout(ctx, pgPingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil && n.Channel == pgSignalChannel:
			l.signal(n.Payload)
		case err == nil:
			if strings.HasPrefix(n.Payload, pgProbePrefix) {
				continue
			}
			seq, keys, all := parseChangePayload(n.Payload)
			if all {
				l.cache.flush(l.isTrusted())
			} else {
				l.cache.invalidate(keys)
			}
			if l.changed != nil {
				l.changed(keys, all)
			}
			l.arrived(seq)
		case ctx.Err() != nil:
			if parent.Err() != nil {
				return true, parent.Err()
			}
			return true, errors.New("a change notification was lost")
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

func (l *pgListener) isTrusted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.trusted
}

// probe sends a notification of its own through the pool and waits for
// it on conn: through a pooler in transaction mode it never comes.
func (l *pgListener) probe(ctx context.Context, conn *pgx.Conn) error {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	payload := pgProbePrefix + hex.EncodeToString(nonce[:])
	pctx, cancel := context.WithTimeout(ctx, l.b.timeout)
	defer cancel()
	if _, err := l.b.pool.Exec(pctx, `SELECT pg_notify($1, $2)`, pgChannel, payload); err != nil {
		return l.b.mapErr("listen", err)
	}
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			if ctx.Err() == nil && (pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)) {
				return fmt.Errorf("postgres %s: %w", l.b.where, errNoNotifications)
			}
			return l.b.mapErr("listen", err)
		}
		switch {
		case n.Channel == pgSignalChannel:
			l.signal(n.Payload)
		case n.Payload == payload:
			return nil
		}
	}
}
