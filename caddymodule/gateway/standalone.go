package gateway

import (
	"context"

	"go.uber.org/zap"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// NewStandalone returns a keygate app over an open store without Caddy
// around it, with the audit queue running: for the hot-path benchmarks of
// the flow packages, which measure a request apart from Caddy's servers.
// With persistAudit false, audit batches are discarded instead of written.
// stop ends the queue and closes the store.
func NewStandalone(st *store.Store, tokens *policy.Tokens, persistAudit bool) (app *App, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var sink auditSink = discardSink{}
	if persistAudit {
		sink = st
	}
	sh := &shared{store: st, cancel: cancel, audit: newAuditQueue(sink, zap.NewNop())}
	sh.done.Add(1)
	go func() { defer sh.done.Done(); sh.audit.run(ctx) }()
	app = &App{shared: sh, tokens: tokens, logger: zap.NewNop(), metrics: newMetrics()}
	_ = app.startOAuth() // no providers: stored tokens are served, none refreshed
	app.ready.Store(true)
	return app, func() { _ = sh.Destruct() }
}

// Record queues one audit event, as the flows do for each decision.
func (a *App) Record(ctx context.Context, ev store.AuditEvent) error {
	return a.shared.audit.record(ctx, ev)
}

// discardSink stands in for the store as the audit sink.
type discardSink struct{}

func (discardSink) AppendAudit([]store.AuditEvent) error { return nil }
