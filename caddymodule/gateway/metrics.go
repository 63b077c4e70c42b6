package gateway

import (
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are exported through Caddy's metrics endpoint. Labels never
// carry keychain ids or package names, whose number is unbounded.
type metrics struct {
	decisions *prometheus.CounterVec
	latency   *prometheus.HistogramVec

	// The series every allowed request touches, bound once.
	allowed map[string]prometheus.Counter
	timing  map[string]prometheus.Observer
}

var flows = []string{"ingress", "egress"}

func provisionMetrics(ctx caddy.Context) *metrics {
	m := newMetrics()
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.decisions, m.latency} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			ctx.Logger().Warn("registering keygate metrics: " + err.Error())
		}
	}
	return m
}

// newMetrics makes the collectors, unregistered, with the series every
// allowed request touches bound.
func newMetrics() *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "keygate",
			Name:      "decisions_total",
			Help:      "Ingress and egress decisions, by flow, decision and reason.",
		}, []string{"flow", "decision", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "keygate",
			Name:      "decision_duration_seconds",
			Help:      "Time keygate spends deciding and injecting, before the upstream is called.",
			Buckets:   []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2},
		}, []string{"flow"}),
	}
	m.allowed = make(map[string]prometheus.Counter, len(flows))
	m.timing = make(map[string]prometheus.Observer, len(flows))
	for _, f := range flows {
		m.allowed[f] = m.decisions.WithLabelValues(f, "allow", "")
		m.timing[f] = m.latency.WithLabelValues(f)
	}
	return m
}

func (m *metrics) observe(flow, decision, reason string, start time.Time) {
	if decision == "allow" {
		m.allowed[flow].Inc()
	} else {
		m.decisions.WithLabelValues(flow, decision, reason).Inc()
	}
	m.timing[flow].Observe(time.Since(start).Seconds())
}
