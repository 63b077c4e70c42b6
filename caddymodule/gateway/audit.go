package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// Audit batching: requests hand events to a bounded queue and never wait
// on an fsync of their own; one goroutine writes them in batches. A full
// queue makes requests wait (events are never dropped), and while the sink
// is failing, requests fail closed with 503.
const (
	auditQueueSize = 8192
	auditBatchMax  = 512
	// Requests never wait on this: it only sets how many fsyncs a second
	// the audit log costs under load, and how soon an event is queryable.
	auditFlushWait = 25 * time.Millisecond
)

// The actions an audit event names, all in one place. OAuth's own events
// (oauth.connect, oauth.callback, oauth.refresh, oauth.disconnect) are
// named beside its manager.
const (
	ActionIngress         = "ingress"
	ActionEgress          = "egress"
	ActionEgressScrubbed  = "egress.scrubbed"
	ActionWebhook         = "webhook" // "webhook.<name>" once the webhook is known
	ActionAdminAuth       = "admin.auth"
	ActionKeychainCreate  = "keychain.create"
	ActionKeychainDelete  = "keychain.delete"
	ActionKeychainToken   = "keychain.token"
	ActionSecretPut       = "secret.put"
	ActionSecretDelete    = "secret.delete"
	ActionPackagePut      = "package.put"
	ActionPackageDelete   = "package.delete"
	ActionAppSecretPut    = "app_secret.put"
	ActionGrantPut        = "grant.put"
	ActionGrantDelete     = "grant.delete"
	ActionMasterKeyRewrap = "master_key.rewrap"
	ActionOwnerLogin      = "owner.login"
	ActionOwnerLoginLink  = "owner.login_link"
)

type auditSink interface {
	AppendAudit([]store.AuditEvent) error
}

type auditQueue struct {
	sink auditSink
	// logger is keygate.audit of the config running now: Caddy's `log`
	// include/exclude and outputs apply only to loggers a config made,
	// and the queue outlives configs (see setLogger).
	logger  atomic.Pointer[zap.Logger]
	ch      chan store.AuditEvent
	failing atomic.Bool
	// unavailable: the sink fails because the database is down, which
	// requests answer as storage_unavailable.
	unavailable atomic.Bool
}

func newAuditQueue(sink auditSink, logger *zap.Logger) *auditQueue {
	q := &auditQueue{
		sink: sink,
		ch:   make(chan store.AuditEvent, auditQueueSize),
	}
	q.setLogger(logger)
	return q
}

// setLogger makes the audit lines go where the starting config's logs say.
func (q *auditQueue) setLogger(l *zap.Logger) { q.logger.Store(l) }

// record queues ev, waiting while the queue is full. It fails when the sink
// is failing or ctx ends first, and the caller must then refuse the request.
func (q *auditQueue) record(ctx context.Context, ev store.AuditEvent) error {
	if q.failing.Load() {
		if q.unavailable.Load() {
			return errAuditStorage
		}
		return ErrAuditUnavailable
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	// The id is given here, not by the store, so the log line written
	// after the batch carries the id the store holds.
	if ev.ID == "" {
		ev.ID = store.NewAuditID(ev.Time)
	}
	select {
	case q.ch <- ev:
		return nil
	default:
	}
	select {
	case q.ch <- ev:
		return nil
	case <-ctx.Done():
		return ErrAuditUnavailable
	}
}

// settle audits and counts one ingress or egress decision. It returns
// the problem to answer, or nil when the request goes on: a denial stays
// one, and an allowed request is refused when its event cannot be queued.
func (a *App) Settle(ctx context.Context, flow string, ev store.AuditEvent, prob *Problem, start time.Time) *Problem {
	if prob != nil {
		ev.Decision, ev.Status, ev.Reason = "deny", prob.Status, prob.Reason
	} else {
		ev.Decision, ev.Status = "allow", http.StatusOK
	}
	if err := a.shared.audit.record(ctx, ev); err != nil {
		prob = ToProblem(err)
	}
	if prob != nil {
		a.metrics.observe(flow, "deny", prob.Reason, start)
		return prob
	}
	a.metrics.observe(flow, "allow", "", start)
	return nil
}

// run writes queued events until ctx ends, then drains what is left.
func (q *auditQueue) run(ctx context.Context) {
	batch := make([]store.AuditEvent, 0, auditBatchMax)
	timer := time.NewTimer(0)
	<-timer.C
	backlog := false // the last batch was full: more is waiting
	for {
		select {
		case ev := <-q.ch:
			batch = append(batch[:0], ev)
		case <-ctx.Done():
			q.drain(ctx, batch[:0])
			return
		}
		// Let the window's events gather in the channel's buffer rather
		// than receive each as it comes: a receive that waits makes every
		// request's send wake this goroutine, a switch per request under
		// load. One fsync then covers the whole window.
		if !backlog {
			timer.Reset(auditFlushWait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
			}
		}
	gather:
		for len(batch) < auditBatchMax {
			select {
			case ev := <-q.ch:
				batch = append(batch, ev)
			default:
				break gather
			}
		}
		backlog = len(batch) == auditBatchMax
		q.write(ctx, batch)
	}
}

func (q *auditQueue) drain(ctx context.Context, batch []store.AuditEvent) {
	for {
		select {
		case ev := <-q.ch:
			batch = append(batch, ev)
			if len(batch) == auditBatchMax {
				q.write(ctx, batch)
				batch = batch[:0]
			}
		default:
			if len(batch) > 0 {
				q.write(ctx, batch)
			}
			return
		}
	}
}

// write stores a batch, retrying until it succeeds: an event that was
// accepted is never dropped. While it fails, new requests are refused. A
// database that is down is waited for as long as keygate runs (ctx);
// other failures, and any during shutdown, get a bounded number of tries.
func (q *auditQueue) write(ctx context.Context, batch []store.AuditEvent) {
	for attempt := 0; ; attempt++ {
		err := q.sink.AppendAudit(batch)
		if err == nil {
			break
		}
		down := errors.Is(err, store.ErrUnavailable)
		q.unavailable.Store(down)
		if !q.failing.Swap(true) {
			q.logger.Load().Error("audit sink failing; refusing requests until it recovers", zap.Error(err))
		}
		if attempt >= 50 && (!down || ctx.Err() != nil) {
			q.logger.Load().Error("audit batch could not be written", zap.Int("events", len(batch)), zap.Error(err))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	if q.failing.Swap(false) {
		q.logger.Load().Info("audit sink recovered")
	}
	for i := range batch {
		q.log(&batch[i])
	}
}

// errAuditStorage is the audit sink failing because the database is down.
var errAuditStorage = fmt.Errorf("%w: %w", ErrAuditUnavailable, store.ErrUnavailable)

func (q *auditQueue) log(ev *store.AuditEvent) {
	ce := q.logger.Load().Check(zap.InfoLevel, "audit")
	if ce == nil {
		return
	}
	ce.Write(
		zap.String("id", ev.ID),
		zap.Time("time", ev.Time),
		zap.String("actor", ev.Actor),
		zap.String("action", ev.Action),
		zap.String("keychain", ev.Keychain),
		zap.String("package", ev.Package),
		zap.Strings("keys", ev.Keys),
		zap.String("decision", ev.Decision),
		zap.Int("status", ev.Status),
		zap.String("reason", ev.Reason),
		zap.String("host", ev.Host),
		zap.String("request_id", ev.RequestID),
	)
}
