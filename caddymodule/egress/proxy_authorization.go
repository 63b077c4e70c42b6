package egress

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

// requestToken finds the invocation token of req in Authorization, then in
// Proxy-Authorization. Egress accepts Proxy-Authorization (README, Choices), but
// reverse_proxy drops it as a hop-by-hop header from its copy of the
// request before the transport runs; the caller's original value is still
// read through the request's replacer, which holds the request as it came
// in. It is looked up only when Authorization holds no token.
func requestToken(req *http.Request) (string, bool) {
	if tok, ok := headerToken(first(req.Header, "Authorization")); ok {
		return tok, true
	}
	v := first(req.Header, "Proxy-Authorization")
	if v == "" {
		if repl, ok := req.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			v, _ = repl.GetString("http.request.header.Proxy-Authorization")
		}
	}
	return headerToken(v)
}

// first is h.Get(name) for a name already in canonical form: the hot path
// looks up fixed names, and Get would canonicalize each one again.
func first(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
