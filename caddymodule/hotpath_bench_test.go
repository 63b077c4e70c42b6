package caddymodule

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// benchApp is a keygate app over a real Badger directory with one
// keychain, one secret, one package and its grant, and the audit queue
// running, without Caddy's servers around it.
type benchApp struct {
	app   *App
	kc    store.Keychain
	token string
	inv   string
}

// discardSink stands in for the store as the audit sink, to measure the
// request path apart from the batch writer's work.
type discardSink struct{}

func (discardSink) AppendAudit([]store.AuditEvent) error { return nil }

func newBenchApp(b *testing.B, persistAudit bool) *benchApp {
	b.Helper()
	mk, err := store.GenerateMasterKey("k1")
	if err != nil {
		b.Fatal(err)
	}
	kr, err := store.NewKeyring(mk)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: b.TempDir(), Keyring: kr})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var sink auditSink = discardSink{}
	if persistAudit {
		sink = st
	}
	sh := &shared{store: st, cancel: cancel, audit: newAuditQueue(sink, zap.NewNop())}
	sh.done.Add(1)
	go func() { defer sh.done.Done(); sh.audit.run(ctx) }()
	b.Cleanup(func() { _ = sh.Destruct() })

	key := store.SigningKey{ID: "sk_bench", Secret: make([]byte, 32), CreatedAt: time.Now()}
	rand.Read(key.Secret)
	tokens, err := policy.NewTokens([]store.SigningKey{key}, policy.TokenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	app := &App{shared: sh, tokens: tokens, metrics: &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"flow", "decision", "reason"}),
		latency:   prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "l"}, []string{"flow"}),
	}}

	kc, err := st.CreateKeychain("alice", "", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.PutSecret(kc.ID, "API_KEY", []byte("sk_live_0123456789abcdef0123456789"), store.SecretOptions{AllowedHosts: []string{"api.example.com"}}); err != nil {
		b.Fatal(err)
	}
	m := store.Manifest{
		Name: "@acme/tools", Version: "1.0.0", Host: "tools", Upstream: "http://127.0.0.1:9001",
		SHA256: "9f2c4d1e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c",
		Keys:   []store.KeySpec{{Name: "API_KEY", Required: true, Hosts: []string{"api.example.com"}}},
	}
	if _, err := st.PutPackage(m); err != nil {
		b.Fatal(err)
	}
	if _, err := st.PutGrant(kc.ID, m.Name, []string{"API_KEY"}); err != nil {
		b.Fatal(err)
	}
	tok, err := tokens.IssueKeychainToken(kc)
	if err != nil {
		b.Fatal(err)
	}
	inv, err := tokens.MintInvocationToken(policy.Invocation{Keychain: kc.ID, Package: m.Name, SHA256: m.SHA256, KeychainVersion: kc.TokenVersion, Keys: []string{"API_KEY"}})
	if err != nil {
		b.Fatal(err)
	}
	return &benchApp{app: app, kc: kc, token: tok, inv: inv}
}

// BenchmarkIngress is the ingress hot path from handler entry to the
// request handed to the proxy: verify the keychain token, check the
// keychain, find the package, check the grant and the required keys,
// rate-limit, mint the invocation token, and queue the audit event. The
// sub-benchmarks differ in whether the audit batch writer also persists
// every event to Badger meanwhile (on the other core, off the request path).
func BenchmarkIngress(b *testing.B) {
	b.Run("path", func(b *testing.B) { benchIngress(b, false) })
	b.Run("path+audit-writes", func(b *testing.B) { benchIngress(b, true) })
}

func benchIngress(b *testing.B, persistAudit bool) {
	ba := newBenchApp(b, persistAudit)
	h := &PackageHandler{app: ba.app, suffix: ".instant.host", Mode: modeSealed,
		limiter: (&RateLimit{Events: 1 << 30, Window: caddy.Duration(time.Second)}).limiter()}
	req := httptest.NewRequest("GET", "http://tools.instant.host/x", nil)
	req.Header.Set("Authorization", "Bearer "+ba.token)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ev := store.AuditEvent{Actor: "agent", Action: "ingress"}
		call, _, p := h.decide(req, &ev)
		if p != nil || call.token == "" {
			b.Fatalf("denied: %v", p)
		}
		ev.Decision = "allow"
		if err := ba.app.shared.audit.record(req.Context(), ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEgress is the egress hot path up to the request handed to the
// wrapped http transport: verify the invocation token, re-check the
// keychain and grant, check the dialed host, open the secret, inject it
// into a copy of the request, and queue the audit event.
func BenchmarkEgress(b *testing.B) {
	b.Run("path", func(b *testing.B) { benchEgress(b, false) })
	b.Run("path+audit-writes", func(b *testing.B) { benchEgress(b, true) })
}

func benchEgress(b *testing.B, persistAudit bool) {
	ba := newBenchApp(b, persistAudit)
	t := &Transport{app: ba.app, Secret: "API_KEY", Scope: scopeUser, Header: "Authorization", prefix: "Bearer "}
	req := httptest.NewRequest("POST", "http://api.example.com/v1/charges", nil)
	req.Header.Set("Authorization", "Bearer "+ba.inv)
	req = req.WithContext(context.WithValue(req.Context(), caddy.CtxKey("reverse_proxy.dial_info"), reverseproxy.DialInfo{Host: "api.example.com", Port: "443"}))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ev := store.AuditEvent{Actor: "package", Action: "egress"}
		host, port := dialedHostPort(req)
		out, p := t.authorize(req, &ev, host, port)
		if p != nil || out.Header.Get("Authorization") == req.Header.Get("Authorization") {
			b.Fatalf("denied: %v", p)
		}
		ev.Decision = "allow"
		if err := ba.app.shared.audit.record(req.Context(), ev); err != nil {
			b.Fatal(err)
		}
	}
}
