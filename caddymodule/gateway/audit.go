package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/store"
)

// Audit batching: requests hand events to a bounded queue and never wait
// on an fsync of their own; one goroutine writes them in batches. A full
// queue makes requests wait (events are never dropped), and while the sink
// is failing, requests fail closed with 503.
const (
	auditQueueSize = 8192
	// As many as the store puts in one segment (store.auditBatch): under
	// a backlog, fewer and larger writes (one msync each on Badger).
	auditBatchMax = 1000
	// Requests never wait on this: it only sets how many fsyncs a second
	// the audit log costs under load, and how soon an event is queryable.
	auditFlushWait = 25 * time.Millisecond
)

// The actions an audit event names, all in one place. OAuth's own events
// (oauth.connect, oauth.callback, oauth.confirm, oauth.refresh,
// oauth.disconnect) are named beside its manager.
const (
	ActionIngress         = "ingress"
	ActionEgress          = "egress"
	ActionEgressScrubbed  = "egress.scrubbed"
	ActionProxy           = "proxy"
	ActionProxyScrubbed   = "proxy.scrubbed"
	ActionProxyCARotate   = "proxy.ca.rotate"
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
	ActionHeldApprove     = "held.approve" // an owner's decision on a held call (pending*.go)
	ActionHeldRefuse      = "held.refuse"
	ActionHeldWebhook     = "held.webhook" // a delivery of approval_webhook
)

type auditSink interface {
	AppendAudit([]store.AuditEvent) error
}

type auditQueue struct {
	sink auditSink
	// logger is keygate.audit of the config running now: Caddy's `log`
	// include/exclude and outputs apply only to loggers a config made,
	// and the queue outlives configs (see setLogger).
	logger atomic.Pointer[zap.Logger]
	// export: a log of that config names keygate.audit in its include
	// list. Without one, audit lines are neither written nor formatted:
	// the store is the record, the log only the copy operators ship.
	export  atomic.Bool
	ch      chan store.AuditEvent
	failing atomic.Bool
	// unavailable: the sink fails because the database is down, which
	// requests answer as storage_unavailable.
	unavailable atomic.Bool

	witnessed uint64 // the newest segment logged by logWitness; the writer goroutine's
}

func newAuditQueue(sink auditSink, logger *zap.Logger) *auditQueue {
	q := &auditQueue{
		sink: sink,
		ch:   make(chan store.AuditEvent, auditQueueSize),
	}
	q.setLogger(logger)
	return q
}

// setLogger makes the audit lines go where the starting config's logs
// say, and only when one of them names the logger.
func (q *auditQueue) setLogger(l *zap.Logger) {
	q.export.Store(namedByALog(l.Core(), l.Name()))
	q.logger.Store(l)
}

// unnamedLogger is a logger name no log's include list holds.
const unnamedLogger = "keygate-probe.unnamed"

// namedByALog reports whether one of the cores Caddy built for a logger
// (one per log of the config, teed) takes name by its include list: it
// takes entries of name but not of a logger nobody names, which a log
// that takes every logger (Caddy's default) or only excludes some does.
// Caddy keeps its logging config to itself, so the cores are asked.
func namedByALog(core zapcore.Core, name string) bool {
	v := reflect.ValueOf(core)
	if v.Kind() == reflect.Slice { // zapcore.NewTee of several cores
		for i := range v.Len() {
			if c, ok := v.Index(i).Interface().(zapcore.Core); ok && namedByALog(c, name) {
				return true
			}
		}
		return false
	}
	takes := func(n string) bool {
		return core.Check(zapcore.Entry{LoggerName: n, Level: zapcore.InfoLevel}, nil) != nil
	}
	return takes(name) && !takes(unnamedLogger)
}

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

// AuditQueued is how many events wait for the audit writer; benchmarks
// that count the writer's CPU wait for it to reach 0.
func (a *App) AuditQueued() int { return len(a.shared.audit.ch) }

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
	if q.export.Load() {
		for i := range batch {
			q.log(&batch[i])
		}
	}
	q.logWitness()
}

// witnessSink is a sink that keeps an audit chain (the store).
type witnessSink interface {
	LastAuditWitness() (store.AuditWitness, bool)
}

// logWitness writes the chain head to keygate.audit after each new
// segment: exported, it lets `keygate audit verify --witness` tell a
// database rolled back to an earlier state (store/audit_witness.go).
func (q *auditQueue) logWitness() {
	ws, ok := q.sink.(witnessSink)
	if !ok || !q.export.Load() {
		return
	}
	w, ok := ws.LastAuditWitness()
	if !ok || w.Seq <= q.witnessed {
		return
	}
	q.witnessed = w.Seq
	q.logger.Load().Info(AuditWitnessMessage,
		zap.Uint64("segment", w.Seq), zap.String("key_id", w.KeyID), zap.String("mac", w.MAC), zap.String("link", w.Link))
}

// AuditWitnessMessage is the message of the chain head lines.
const AuditWitnessMessage = "audit chain head"

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
