package egress

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/keygate/keygate/caddymodule/internal/hotpath"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

// BenchmarkEgressScrub is the egress round trip without the network: the
// hot path of BenchmarkEgress, then a canned 1 KiB JSON answer handed
// back through the transport's response handling and read to the end,
// with scrubbing on and off. "echo" answers carry the value once, so they
// are also rewritten and audited.
func BenchmarkEgressScrub(b *testing.B) {
	for _, tc := range []struct {
		name        string
		scrub, echo bool
	}{{"scrub=off", false, false}, {"scrub=on", true, false}, {"scrub=on/echo", true, true}} {
		b.Run(tc.name, func(b *testing.B) { benchEgressScrub(b, tc.scrub, tc.echo) })
	}
}

func benchEgressScrub(b *testing.B, scrubbing, echo bool) {
	ba := hotpath.New(b)
	t := &Transport{app: ba.App, Secret: "API_KEY", Scope: scopeUser, Header: "Authorization", prefix: "Bearer ", scrubbers: new(scrub.Cache), Scrub: &scrubbing}
	req := httptest.NewRequest("POST", "http://api.example.com/v1/charges", nil)
	req.Header.Set("Authorization", "Bearer "+ba.Inv)
	req = req.WithContext(context.WithValue(req.Context(), caddy.CtxKey("reverse_proxy.dial_info"), reverseproxy.DialInfo{Host: "api.example.com", Port: "443"}))
	body := bytes.Repeat([]byte(`{"id":"msg_1","text":"lorem ipsum dolor sit amet"},`), 21)[:1<<10]
	if echo {
		copy(body[100:], "sk_live_0123456789abcdef0123456789") // the fixture's secret
	}
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		ev := store.AuditEvent{Actor: "package", Action: "egress", Keys: []string{t.Secret}}
		host, port := dialedHostPort(req)
		out, sc, _, p := t.authorize(req, "", &ev, host, port)
		if p != nil {
			b.Fatalf("denied: %v", p)
		}
		if p := ba.App.Settle(req.Context(), "egress", ev, nil, start); p != nil {
			b.Fatal(p.Reason)
		}
		t.askIdentity(out, sc)
		res := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {"1024"}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: out}
		res, err := t.scrubResponse(req, res, sc, ev)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{res.Body}, buf); err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
	}
}
