package egress

import (
	"errors"
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/keygate/keygate/policy"
)

// The secret must reach only the host keygate checked, so neither the
// caller's Host header nor a forward proxy may decide where the request
// goes once the secret is in it (SPEC "The package's code is next door").

// errForwardProxy refuses a route that configures a forward proxy: the
// proxy, not keygate, would pick the destination of the secret.
var errForwardProxy = errors.New("keygate transport: a forward proxy (forward_proxy_url, network_proxy) is not allowed: keygate checks the host it dials, and a proxy would choose another")

// refuseForwardProxy is checked before the wrapped transport is
// provisioned, which turns forward_proxy_url into network_proxy.
func refuseForwardProxy(h *reverseproxy.HTTPTransport) error {
	if h.ForwardProxyURL != "" || len(h.NetworkProxyRaw) != 0 {
		return errForwardProxy
	}
	return nil
}

// dropEnvironmentProxy stops the provisioned transport from sending through
// HTTP_PROXY or HTTPS_PROXY, which Caddy's http transport honours by
// default: a proxy goes wherever the request's Host says.
func dropEnvironmentProxy(h *reverseproxy.HTTPTransport) {
	if h.Transport != nil {
		h.Transport.Proxy = nil
	}
}

// pinHost makes out's Host the dialed upstream unless a route set it to a
// host the secret allows. reverse_proxy forwards the caller's Host as it
// is; a Host-routing front end would deliver the secret to whichever
// virtual host the caller named. It reports whether out may be sent: a
// Host set by the route must be allowed by every non-empty host list.
func pinHost(req, out *http.Request, allowed ...[]string) bool {
	stripHostHeaders(out.Header)
	if out.Host == "" || out.Host == callerHost(req) {
		out.Host = "" // net/http then sends URL.Host: what is dialed
		return true
	}
	host, port, err := net.SplitHostPort(out.Host)
	if err != nil {
		host, port = out.Host, ""
		if _, p := dialedHostPort(req); p != "" {
			port = p
		}
	}
	for _, hosts := range allowed {
		if len(hosts) > 0 && !policy.HostAllowed(hosts, host, port) {
			return false
		}
	}
	return true
}

// hostHeaders are the headers a front end may route by instead of Host
// (RFC 7239's Forwarded host=, and the de facto ones), in canonical form.
// The caller's are never forwarded with a secret, nor the X-Forwarded-Host
// reverse_proxy derives from the caller's Host.
var hostHeaders = []string{"Forwarded", "X-Forwarded-Host", "X-Forwarded-Server", "X-Host", "X-Original-Url",
	"X-Original-Host", "X-Rewrite-Url", "X-Http-Host-Override"}

func stripHostHeaders(h http.Header) {
	for _, name := range hostHeaders {
		delete(h, name)
	}
}

// callerHost is the Host the caller sent, before any route changed it.
func callerHost(req *http.Request) string {
	if repl, ok := req.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if h, ok := repl.GetString("http.request.hostport"); ok {
			return h
		}
	}
	return req.Host
}

// dialedHostPort is the upstream the wrapped transport will actually dial,
// whatever the Host header says.
func dialedHostPort(req *http.Request) (string, string) {
	if di, ok := reverseproxy.GetDialInfo(req.Context()); ok {
		return di.Host, di.Port
	}
	host, port, err := net.SplitHostPort(req.URL.Host)
	if err != nil {
		return req.URL.Host, ""
	}
	return host, port
}
