package ingress

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/caddymodule/internal/hotpath"
	"github.com/keygate/keygate/store"
)

// BenchmarkIngress is the ingress hot path from handler entry to the
// request handed to the proxy: verify the keychain token, check the
// keychain, find the package, check the grant and the required keys,
// rate-limit and mint the invocation token; /path+audit-writes also
// settles the audit event as the flows do (queued, then persisted to
// Badger on the other core, off the request path).
func BenchmarkIngress(b *testing.B) {
	b.Run("path", func(b *testing.B) { benchIngress(b, false) })
	b.Run("path+audit-writes", func(b *testing.B) { benchIngress(b, true) })
}

func benchIngress(b *testing.B, audit bool) {
	ba := hotpath.New(b)
	h := &PackageHandler{app: ba.App, suffix: ".instant.host", Mode: modeSealed, codec: new(gateway.PlaceholderCodec), upstreams: new(upstreamCache), phHeaders: new(headerNames),
		limiter: (&gateway.RateLimit{Events: 1 << 30, Window: caddy.Duration(time.Second)}).Limiter()}
	req := httptest.NewRequest("GET", "http://tools.instant.host/x", nil)
	req.Header.Set("Authorization", "Bearer "+ba.Token)
	b.ReportAllocs()
	b.ResetTimer()
	defer hotpath.CPU(b, ba.App)()
	for b.Loop() {
		start := time.Now()
		ev := store.AuditEvent{Actor: "agent", Action: "ingress"}
		call, _, p := h.decide(req, &ev)
		if p != nil || call.token == "" {
			b.Fatalf("denied: %v", p)
		}
		call.release() // as forward does
		if !audit {
			continue
		}
		if p := ba.App.Settle(req.Context(), "ingress", ev, nil, start); p != nil {
			b.Fatal(p.Reason)
		}
	}
}
