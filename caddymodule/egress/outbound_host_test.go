package egress

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// withCaller gives req a replacer that holds the caller's original
// request, as Caddy's server does, and returns the copy reverse_proxy
// would hand the transport.
func withCaller(caller *http.Request) *http.Request {
	repl := caddy.NewReplacer()
	repl.Map(func(key string) (any, bool) {
		switch key {
		case "http.request.hostport":
			return caller.Host, true
		case "http.request.header.Proxy-Authorization":
			return caller.Header.Get("Proxy-Authorization"), true
		}
		return nil, false
	})
	ctx := context.WithValue(caller.Context(), caddy.ReplacerCtxKey, repl)
	req := caller.Clone(ctx)
	req.Header.Del("Proxy-Authorization") // hop-by-hop, as reverse_proxy does
	req.URL.Host = "127.0.0.1:9000"
	return req
}

func TestPinHost(t *testing.T) {
	allowed := []string{"127.0.0.1", "api.example.com"}
	tests := []struct {
		name, callerHost, outHost string
		wantOK                    bool
		wantHost                  string
	}{
		{"caller's Host is replaced by the dialed host", "attacker.test:8080", "attacker.test:8080", true, ""},
		{"caller's allowed Host is replaced too", "api.example.com", "api.example.com", true, ""},
		{"no Host", "", "", true, ""},
		{"route sets an allowed Host", "attacker.test", "api.example.com", true, "api.example.com"},
		{"route sets an allowed Host with port", "attacker.test", "api.example.com:443", true, "api.example.com:443"},
		{"route sets a Host the secret does not allow", "x.test", "attacker.test", false, "attacker.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller := httptest.NewRequest("GET", "http://egress/x", nil)
			caller.Host = tt.callerHost
			caller.Header.Set("X-Forwarded-Host", "attacker.test")
			req := withCaller(caller)
			out := req.Clone(req.Context())
			out.Host = tt.outHost
			if ok := pinHost(req, out, allowed, nil); ok != tt.wantOK {
				t.Fatalf("pinHost = %v, want %v", ok, tt.wantOK)
			}
			if out.Host != tt.wantHost {
				t.Errorf("Host = %q, want %q", out.Host, tt.wantHost)
			}
			if tt.wantHost == "" && out.Header.Get("X-Forwarded-Host") != "" {
				t.Error("X-Forwarded-Host naming the caller's host was kept")
			}
		})
	}
	t.Run("every non-empty list must allow a route's Host", func(t *testing.T) {
		caller := httptest.NewRequest("GET", "http://egress/x", nil)
		req := withCaller(caller)
		out := req.Clone(req.Context())
		out.Host = "api.example.com"
		if pinHost(req, out, allowed, []string{"other.example.com"}) {
			t.Error("a Host the package's hosts do not list was allowed")
		}
	})
}

func TestRefuseForwardProxy(t *testing.T) {
	tests := []struct {
		name string
		h    reverseproxy.HTTPTransport
		want error
	}{
		{"none", reverseproxy.HTTPTransport{}, nil},
		{"forward_proxy_url", reverseproxy.HTTPTransport{ForwardProxyURL: "http://127.0.0.1:3128"}, errForwardProxy},
		{"network_proxy", reverseproxy.HTTPTransport{NetworkProxyRaw: json.RawMessage(`{"from":"url","url":"http://p"}`)}, errForwardProxy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := refuseForwardProxy(&tt.h); err != tt.want {
				t.Errorf("refuseForwardProxy = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTokenHeadersReadsDroppedProxyAuthorization(t *testing.T) {
	caller := httptest.NewRequest("GET", "http://egress/x", nil)
	caller.Header.Set("Proxy-Authorization", "Bearer a.b.c")
	req := withCaller(caller)
	tok, ok := requestToken(req)
	if !ok || tok != "a.b.c" {
		t.Errorf("token from Proxy-Authorization = %q, %v; want it found", tok, ok)
	}
	if req.Header.Get("Proxy-Authorization") != "" {
		t.Error("requestToken changed the request")
	}
}
