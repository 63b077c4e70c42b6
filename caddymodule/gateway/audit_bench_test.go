package gateway

import (
	"context"
	"io"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/store"
)

// discardSink takes batches and keeps nothing: the writer's own cost.
type discardSink struct{}

func (discardSink) AppendAudit([]store.AuditEvent) error { return nil }

// BenchmarkAuditWrite is the writer's work per event after its batch is
// stored, 256 events a batch, with Caddy's default log (JSON, every
// logger) and with a log that also names keygate.audit.
func BenchmarkAuditWrite(b *testing.B) {
	defaultLog := func() zapcore.Core {
		return zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	}
	batch := make([]store.AuditEvent, 256)
	for i := range batch {
		batch[i] = store.AuditEvent{ID: store.NewAuditID(time.Now()), Time: time.Now().UTC(), Actor: "package", Action: "egress",
			Keychain: "kc_0123456789abcdef", Package: "@acme/tools", Keys: []string{"API_KEY"}, Decision: "allow", Status: 200,
			Host: "api.example.com"}
	}
	run := func(b *testing.B, core zapcore.Core) {
		q := newAuditQueue(discardSink{}, zap.New(core).Named("keygate.audit"))
		b.ReportAllocs()
		for b.Loop() {
			q.write(context.Background(), batch)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
	}
	b.Run("default-log", func(b *testing.B) { run(b, defaultLog()) })
	b.Run("log-naming-keygate.audit", func(b *testing.B) {
		run(b, zapcore.NewTee(defaultLog(), including(defaultLog(), "keygate.audit")))
	})
}
