package gateway

import (
	"errors"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are exported through Caddy's metrics endpoint. Labels never
// carry keychain ids, package or key names, whose number is unbounded,
// nor anything of a value: only fixed words (flows, decisions, problem
// reasons, outcomes, kinds, operations).
type metrics struct {
	decisions *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	oauth     *prometheus.CounterVec
	heldEnded *prometheus.CounterVec
	heldDecs  *prometheus.CounterVec
	scrubbed  *prometheus.CounterVec
	replaced  *prometheus.CounterVec
	substs    prometheus.Counter

	// The series every allowed request touches, bound once.
	allowed map[string]prometheus.Counter
	timing  map[string]prometheus.Observer
}

var (
	flows     = []string{"ingress", "egress", "proxy"}
	heldKinds = []string{heldValue, heldGrant, heldApprove}
)

// The collectors of state that outlives a config: the calls parked on
// this node and the store's round trips (the store and the held calls are
// shared by every config, see shared.go). Each config's registry holds
// the same ones.
var (
	heldNow = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "keygate",
		Name:      "held_calls",
		Help:      "Calls held on this node right now, waiting for a value, a grant or the owner's approval, by kind.",
	}, []string{"kind"})
	storeLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "keygate",
		Name:      "store_duration_seconds",
		Help:      "Time of each store round trip (a read, a read-only or a read-write transaction), by backend and operation.",
		Buckets:   []float64{1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1, 5},
	}, []string{"backend", "op"})
)

func provisionMetrics(ctx caddy.Context) *metrics {
	m := newMetrics()
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.decisions, m.latency, m.oauth, m.heldEnded, m.heldDecs, m.scrubbed, m.replaced, m.substs, heldNow, storeLatency} {
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
			Help:      "Ingress, egress and proxy decisions, by flow, decision and reason.",
		}, []string{"flow", "decision", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "keygate",
			Name:      "decision_duration_seconds",
			Help:      "Time keygate spends deciding and injecting, before the upstream is called.",
			Buckets:   []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2},
		}, []string{"flow"}),
		oauth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "keygate",
			Name:      "oauth_events_total",
			Help:      "OAuth connects, callbacks, token refreshes and disconnects, by event and outcome.",
		}, []string{"event", "outcome"}),
		heldEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "keygate",
			Name:      "held_calls_ended_total",
			Help:      "Held calls that stopped waiting, by kind and result (allow, or the reason of the answer).",
		}, []string{"kind", "result"}),
		heldDecs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "keygate",
			Name:      "held_decisions_total",
			Help:      "Owners' decisions on held calls, by decision (once, shape, refuse).",
		}, []string{"decision"}),
		scrubbed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "keygate",
			Name:      "scrubbed_responses_total",
			Help:      "Upstream answers in which keygate replaced an echoed value, by flow.",
		}, []string{"flow"}),
		replaced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "keygate",
			Name:      "scrub_replacements_total",
			Help:      "Echoed values replaced in upstream answers, by flow.",
		}, []string{"flow"}),
		substs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "keygate",
			Name:      "proxy_substitutions_total",
			Help:      "Placeholders substituted with their values in requests through the proxy site (each distinct one once per request).",
		}),
	}
	// Series that exist before their first event, so that a dashboard
	// shows 0, not "no data", and a rate over a restart is right.
	for _, ev := range []string{"connect", "callback", "refresh", "disconnect"} {
		m.oauth.WithLabelValues(ev, "ok")
	}
	m.oauth.WithLabelValues("refresh", "unavailable")
	for _, d := range []string{"once", "shape", "refuse"} {
		m.heldDecs.WithLabelValues(d)
	}
	for _, k := range heldKinds {
		m.heldEnded.WithLabelValues(k, "allow")
		heldNow.WithLabelValues(k)
	}
	for _, f := range []string{"egress", "proxy"} {
		m.scrubbed.WithLabelValues(f)
		m.replaced.WithLabelValues(f)
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

// NoteScrubbed counts an upstream answer of flow ("egress" or "proxy")
// in which n echoed values were replaced.
func (a *App) NoteScrubbed(flow string, n int) {
	if m := a.metrics; m != nil && n > 0 {
		m.scrubbed.WithLabelValues(flow).Inc()
		m.replaced.WithLabelValues(flow).Add(float64(n))
	}
}

// NoteSubstituted counts the placeholders substituted in one proxied
// request.
func (a *App) NoteSubstituted(n int) {
	if m := a.metrics; m != nil && n > 0 {
		m.substs.Add(float64(n))
	}
}

// The counters below are called on Apps that unit tests build without
// metrics too: a nil *metrics counts nothing.

func (m *metrics) oauthEvent(event, outcome string) {
	if m != nil {
		m.oauth.WithLabelValues(strings.TrimPrefix(event, "oauth."), outcome).Inc()
	}
}

func (m *metrics) heldEnd(kind, result string) {
	if m != nil {
		m.heldEnded.WithLabelValues(kind, result).Inc()
	}
}

func (m *metrics) heldDecision(word string) {
	if m != nil {
		m.heldDecs.WithLabelValues(word).Inc()
	}
}

// storeObserver times the store's round trips on backend ("badger" or
// "postgres"), its series bound once: every request reads the store.
func storeObserver(backend string) func(op string, d time.Duration) {
	bound := map[string]prometheus.Observer{}
	for _, op := range []string{"get", "view", "update"} {
		bound[op] = storeLatency.WithLabelValues(backend, op)
	}
	return func(op string, d time.Duration) {
		if o := bound[op]; o != nil {
			o.Observe(d.Seconds())
		}
	}
}
