package gateway

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Every transport keygate builds to an upstream is bounded at each step
// it may wait on, so that an upstream that accepts a connection and then
// stalls (a TLS handshake never finished, headers never sent) cannot hold
// a request, and the secret it carries, for as long as the caller waits.
// Caddy's http transport bounds the dial (3s) but by default neither the
// TLS handshake nor the response headers.
const (
	UpstreamTLSTimeout = 10 * time.Second
	// Generous: an API may think long before its first byte (a model's
	// answer that is not streamed).
	UpstreamHeaderTimeout = 5 * time.Minute
)

// BoundUpstreamTimeouts fills in the TLS handshake and response header
// timeouts of h that its configuration left unset; call it before h is
// provisioned.
func BoundUpstreamTimeouts(h *reverseproxy.HTTPTransport) {
	if h.TLS != nil && h.TLS.HandshakeTimeout == 0 {
		h.TLS.HandshakeTimeout = caddy.Duration(UpstreamTLSTimeout)
	}
	if h.ResponseHeaderTimeout == 0 {
		h.ResponseHeaderTimeout = caddy.Duration(UpstreamHeaderTimeout)
	}
}
