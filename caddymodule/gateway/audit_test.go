package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/store"
)

// flakySink is an audit sink that fails while failing is set, and records
// what it stored.
type flakySink struct {
	failing atomic.Bool
	mu      sync.Mutex
	stored  []store.AuditEvent
}

func (s *flakySink) AppendAudit(evs []store.AuditEvent) error {
	if s.failing.Load() {
		return errors.New("disk full")
	}
	s.mu.Lock()
	s.stored = append(s.stored, evs...)
	s.mu.Unlock()
	return nil
}

func (s *flakySink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stored)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestAuditFailingSinkFailsClosed: while the sink fails, new requests are
// refused (the handlers answer 503); the events already accepted are kept
// and written once it recovers.
func TestAuditFailingSinkFailsClosed(t *testing.T) {
	sink := new(flakySink)
	q := newAuditQueue(sink, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	sink.failing.Store(true)
	if err := q.record(context.Background(), store.AuditEvent{Action: "egress"}); err != nil {
		t.Fatalf("first event: %v", err)
	}
	waitUntil(t, "the queue to notice the failing sink", q.failing.Load)
	err := q.record(context.Background(), store.AuditEvent{Action: "egress"})
	if !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("record while the sink fails: %v, want ErrAuditUnavailable", err)
	}
	if p := ToProblem(err); p.Status != 503 {
		t.Fatalf("answered %d, want 503", p.Status)
	}

	sink.failing.Store(false)
	waitUntil(t, "the accepted event to be written", func() bool { return sink.count() == 1 })
	if err := q.record(context.Background(), store.AuditEvent{Action: "egress"}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	waitUntil(t, "the next event", func() bool { return sink.count() == 2 })
}

// TestAuditFullQueueWaits: with the queue full, a request waits rather
// than dropping its event; it gives up (and is refused) only when its own
// context ends.
func TestAuditFullQueueWaits(t *testing.T) {
	sink := new(flakySink)
	q := newAuditQueue(sink, zap.NewNop()) // no writer running: nothing drains
	for i := 0; i < auditQueueSize; i++ {
		if err := q.record(context.Background(), store.AuditEvent{Action: "egress"}); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	// A request whose context has ended is refused, not dropped silently.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.record(ended, store.AuditEvent{Action: "egress"}); !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("record on a full queue with an ended context: %v, want ErrAuditUnavailable", err)
	}
	// A live request waits: it returns only once a writer makes room.
	result := make(chan error, 1)
	go func() { result <- q.record(context.Background(), store.AuditEvent{Action: "egress"}) }()
	select {
	case err := <-result:
		t.Fatalf("record on a full queue returned (%v) before anything drained it", err)
	default:
	}
	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(wctx); close(done) }()
	defer func() { wcancel(); <-done }()
	if err := <-result; err != nil {
		t.Fatalf("the waiting request, after draining: %v", err)
	}
	waitUntil(t, "every accepted event", func() bool { return sink.count() == auditQueueSize+1 })
}

// TestAuditLogLineHasTheStoredID: the audit log line names the id the
// store holds, never "".
func TestAuditLogLineHasTheStoredID(t *testing.T) {
	sink := new(flakySink)
	core, logs := observer.New(zap.InfoLevel)
	q := newAuditQueue(sink, zap.New(including(core, "keygate.audit")).Named("keygate.audit"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()
	if err := q.record(context.Background(), store.AuditEvent{Action: "grant.put"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the event to be written", func() bool { return sink.count() == 1 })
	cancel()
	<-done
	entries := logs.FilterMessage("audit").All()
	if len(entries) != 1 {
		t.Fatalf("got %d audit log lines, want 1", len(entries))
	}
	id, _ := entries[0].ContextMap()["id"].(string)
	if id == "" || id != sink.stored[0].ID {
		t.Fatalf("log id %q, stored id %q: want the same, not empty", id, sink.stored[0].ID)
	}
}

// includeCore takes only the loggers under one of its namespaces, as
// Caddy's core for a log with an include list does; with none, it takes
// every logger but those excluded.
type includeCore struct {
	zapcore.Core
	include, exclude []string
}

func including(c zapcore.Core, ns ...string) zapcore.Core {
	return &includeCore{Core: c, include: ns}
}

func under(name string, nss []string) bool {
	for _, ns := range nss {
		if strings.HasPrefix(name+".", ns+".") {
			return true
		}
	}
	return false
}

func (c *includeCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if len(c.include) > 0 && !under(e.LoggerName, c.include) || under(e.LoggerName, c.exclude) {
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c *includeCore) With(f []zapcore.Field) zapcore.Core {
	return &includeCore{Core: c.Core.With(f), include: c.include, exclude: c.exclude}
}

// refusingCore fails the test when anything is checked for writing but
// the queue's probe of which loggers it takes (an entry with no message).
type refusingCore struct {
	zapcore.Core
	t *testing.T
}

func (c refusingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message != "" {
		c.t.Errorf("a %q line of %s was checked for writing, with no log naming it", e.Message, e.LoggerName)
	}
	return c.Core.Check(e, ce)
}

func refusing(t *testing.T) zapcore.Core {
	obs, _ := observer.New(zap.InfoLevel)
	return refusingCore{Core: obs, t: t}
}

func (c refusingCore) With(f []zapcore.Field) zapcore.Core {
	return refusingCore{Core: c.Core.With(f), t: c.t}
}

// witnessedSink is a sink that keeps a chain: a new head per batch.
type witnessedSink struct {
	flakySink
	seq atomic.Uint64
}

func (s *witnessedSink) AppendAudit(evs []store.AuditEvent) error {
	s.seq.Add(1)
	return s.flakySink.AppendAudit(evs)
}

func (s *witnessedSink) LastAuditWitness() (store.AuditWitness, bool) {
	return store.AuditWitness{Seq: s.seq.Load(), KeyID: "k", MAC: "m", Link: "l"}, true
}

// runEvents queues n events through a queue logging to l and returns once
// all are stored and the writer has stopped.
func runEvents(t *testing.T, l *zap.Logger, n int) *witnessedSink {
	t.Helper()
	sink := new(witnessedSink)
	q := newAuditQueue(sink, l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()
	for range n {
		if err := q.record(context.Background(), store.AuditEvent{Action: "egress", Keys: []string{"API_KEY"}}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the events to be written", func() bool { return sink.count() == n })
	cancel()
	<-done
	return sink
}

// TestAuditLogOnlyWhenNamed: with no log naming keygate.audit (only a log
// that takes every logger, or one that excludes some), no audit or chain
// head line is written or even checked; with one, every event is logged,
// and so is the chain head.
func TestAuditLogOnlyWhenNamed(t *testing.T) {
	const n = 40
	for name, core := range map[string]zapcore.Core{
		"default log":       refusing(t),
		"default and other": zapcore.NewTee(refusing(t), including(refusing(t), "http.log.access")),
		"exclude-only log":  &includeCore{Core: refusing(t), exclude: []string{"http"}},
		"a sibling named":   including(refusing(t), "keygate.auditor"),
	} {
		t.Run(name, func(t *testing.T) {
			runEvents(t, zap.New(core).Named("keygate.audit"), n)
		})
	}
	for name, ns := range map[string]string{"the logger": "keygate.audit", "its parent": "keygate"} {
		t.Run("a log naming "+name, func(t *testing.T) {
			obs, logs := observer.New(zap.InfoLevel)
			core := zapcore.NewTee(zapcore.NewNopCore(), including(obs, ns))
			runEvents(t, zap.New(core).Named("keygate.audit"), n)
			if got := logs.FilterMessage("audit").Len(); got != n {
				t.Errorf("%d audit lines, want %d", got, n)
			}
			if logs.FilterMessage(AuditWitnessMessage).Len() == 0 {
				t.Error("no chain head line")
			}
		})
	}
}
