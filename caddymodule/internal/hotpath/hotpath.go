// Package hotpath builds the fixture of the flows' hot-path benchmarks: a
// keygate app with one keychain, one secret, one package and its grant,
// and the audit queue running, without Caddy's servers around it.
package hotpath

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// Fixture is what a benchmark needs: the app, a keychain token for
// ingress and an invocation token for egress.
type Fixture struct {
	App   *gateway.App
	KC    store.Keychain
	Token string // keychain token
	Inv   string // invocation token for @acme/tools with API_KEY
}

// New builds the fixture on a keygate app over a real Badger directory,
// which Caddy loads as it loads any config (admin endpoint off, config not
// persisted, logs at ERROR), with no http app around it. The audit batch
// writer persists every event it is given (on the other core, off the
// request path).
func New(b *testing.B) *Fixture {
	b.Helper()
	ga := LoadApp(b, nil)
	st, tokens := ga.Store(), ga.Tokens()

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
	g, err := st.PutGrant(kc.ID, m.Name, []string{"API_KEY"})
	if err != nil {
		b.Fatal(err)
	}
	pkg, err := st.GetPackage(m.Name)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := tokens.IssueKeychainToken(kc)
	if err != nil {
		b.Fatal(err)
	}
	inv, err := tokens.MintInvocationToken(policy.Invocation{Keychain: kc.ID, Package: m.Name, SHA256: m.SHA256, KeychainVersion: kc.TokenVersion,
		GrantEpoch: g.Epoch, CodeEpoch: pkg.CodeEpoch, Keys: []string{"API_KEY"}})
	if err != nil {
		b.Fatal(err)
	}
	return &Fixture{App: ga, KC: kc, Token: tok, Inv: inv}
}

// LoadApp loads a keygate app over a real Badger directory as Caddy loads
// any config (admin endpoint off, config not persisted, logs at ERROR), with
// no http app around it, and waits until it is ready. opts are extra fields
// of the app's JSON (public_url, ...).
func LoadApp(tb testing.TB, opts map[string]any) *gateway.App {
	tb.Helper()
	app := map[string]any{"storage": tb.TempDir()}
	for k, v := range opts {
		app[k] = v
	}
	cfg, err := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps":    map[string]any{"keygate": app},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = caddy.Stop() })
	mod, err := caddy.ActiveContext().App("keygate")
	if err != nil {
		tb.Fatal(err)
	}
	ga := mod.(*gateway.App)
	if err := ga.AwaitReady(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return ga
}

// CPU reports the process's CPU time (user and system, every goroutine)
// per op as cpu-ns/op: unlike ns/op, it does not count waiting for a core
// on a loaded machine, and it counts the audit writer's work on the other
// core. Call it right before the loop and the returned func right after:
// it first lets the writer store every queued event (waiting costs no CPU).
func CPU(b *testing.B, app *gateway.App) func() {
	b.Helper()
	start := cpuTime()
	return func() {
		b.StopTimer()
		for deadline := time.Now().Add(10 * time.Second); app.AuditQueued() > 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // the last batch's write
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
