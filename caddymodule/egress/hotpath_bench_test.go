package egress

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/keygate/keygate/caddymodule/internal/hotpath"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

// BenchmarkEgress is the egress hot path up to the request handed to the
// wrapped http transport: verify the invocation token, re-check the
// keychain and grant, check the dialed host, open the secret, inject it
// into a copy of the request; /path+audit-writes also settles the audit
// event as the flows do (queued, then persisted on the other core).
func BenchmarkEgress(b *testing.B) {
	b.Run("path", func(b *testing.B) { benchEgress(b, false) })
	b.Run("path+audit-writes", func(b *testing.B) { benchEgress(b, true) })
}

func benchEgress(b *testing.B, audit bool) {
	ba := hotpath.New(b)
	t := &Transport{app: ba.App, Secret: "API_KEY", Scope: scopeUser, Header: "Authorization", prefix: "Bearer ", scrubbers: new(scrub.Cache)}
	req := httptest.NewRequest("POST", "http://api.example.com/v1/charges", nil)
	req.Header.Set("Authorization", "Bearer "+ba.Inv)
	req = req.WithContext(context.WithValue(req.Context(), caddy.CtxKey("reverse_proxy.dial_info"), reverseproxy.DialInfo{Host: "api.example.com", Port: "443"}))
	b.ReportAllocs()
	b.ResetTimer()
	defer hotpath.CPU(b, ba.App)()
	for b.Loop() {
		start := time.Now()
		ev := store.AuditEvent{Actor: "package", Action: "egress"}
		host, port := dialedHostPort(req)
		out, _, _, p := t.authorize(req, "", &ev, host, port)
		if p != nil || out.Header.Get("Authorization") == req.Header.Get("Authorization") {
			b.Fatalf("denied: %v", p)
		}
		if !audit {
			continue
		}
		if p := ba.App.Settle(req.Context(), "egress", ev, nil, start); p != nil {
			b.Fatal(p.Reason)
		}
	}
}
