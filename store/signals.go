package store

// Signals are small messages from one node to the others of a shared
// database: PostgreSQL NOTIFY on a channel of their own, keygate_signals,
// which the node's one LISTEN session (postgres_listen.go) hears beside
// the cache's change notifications. A single-process store has no others,
// so there both calls do nothing and the caller delivers to itself.
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
	if !ok || b.listener == nil {
		return func() {}
	}
	return b.listener.subscribe(fn)
}

// subscribe adds fn to the listeners of signals; the func returned
// removes it, after which fn is not called again.
func (l *pgListener) subscribe(fn func(string)) (stop func()) {
	l.sigMu.Lock()
	defer l.sigMu.Unlock()
	id := l.sigNext
	l.sigNext++
	l.sigSubs[id] = fn
	return func() {
		l.sigMu.Lock()
		defer l.sigMu.Unlock()
		delete(l.sigSubs, id)
	}
}

// signal hands one signal to every subscriber. The lock is held while
// they run, so a subscriber removed is not called afterwards.
func (l *pgListener) signal(msg string) {
	l.sigMu.Lock()
	defer l.sigMu.Unlock()
	for _, fn := range l.sigSubs {
		fn(msg)
	}
}
