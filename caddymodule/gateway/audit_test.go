package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
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
	q := newAuditQueue(sink, zap.New(core))
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
