package egress

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

// tokenHeaders are the headers the invocation token may come in. SPEC Flow
// 2 accepts Proxy-Authorization, but reverse_proxy drops it as a
// hop-by-hop header from its copy of the request before the transport
// runs; the caller's original value is still read through the request's
// replacer, which holds the request as it came in.
func tokenHeaders(req *http.Request) http.Header {
	h := http.Header{}
	if v := req.Header.Get("Authorization"); v != "" {
		h.Set("Authorization", v)
	}
	v := req.Header.Get("Proxy-Authorization")
	if v == "" {
		if repl, ok := req.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			v, _ = repl.GetString("http.request.header.Proxy-Authorization")
		}
	}
	if v != "" {
		h.Set("Proxy-Authorization", v)
	}
	return h
}
