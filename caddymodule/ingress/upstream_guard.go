package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// The upstream a manifest names is checked where it is dialed, on the
// address actually connected to, so no name (or DNS answer changed since
// the manifest was put) reaches what the site does not allow: metadata
// services and link-local addresses never, loopback and private ranges
// only as allow_upstreams says. Nothing is sent before the check.

// defaultAllowUpstreams is what a site allows besides public addresses
// when it says nothing: the package's code next door, on loopback.
var defaultAllowUpstreams = []string{store.UpstreamLoopback}

// upstreamRefused is the dial error of an address the site does not
// allow.
type upstreamRefused struct{ class string }

func (e *upstreamRefused) Error() string {
	return "keygate: the package's upstream resolved to a " + e.class + " address, which this site does not allow"
}

// classCleartextPublic names a public address reached over plain HTTP.
const classCleartextPublic = "public address over plain http"

// guardDials makes every connection rt opens pass allowed. A cleartext
// transport (http:// upstreams) dials no public address at all: the
// invocation token, placeholders and, in plaintext mode, the values would
// cross the network unencrypted.
func guardDials(rt *reverseproxy.HTTPTransport, allowed []string, cleartext bool) {
	tr := rt.Transport
	check := func(conn net.Conn, err error) (net.Conn, error) {
		if err != nil {
			return nil, err
		}
		class := peerClass(conn.RemoteAddr())
		if class == store.UpstreamPublic && cleartext {
			conn.Close()
			return nil, &upstreamRefused{class: classCleartextPublic}
		}
		if class != store.UpstreamPublic && !slices.Contains(allowed, class) {
			conn.Close()
			return nil, &upstreamRefused{class: class}
		}
		if class == store.UpstreamLoopback && ownListenerPort(conn.RemoteAddr()) {
			conn.Close()
			return nil, &upstreamRefused{class: "keygate listener"}
		}
		return conn, nil
	}
	if dial := tr.DialContext; dial != nil {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return check(dial(ctx, network, addr))
		}
	}
	if dial := tr.DialTLSContext; dial != nil {
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return check(dial(ctx, network, addr))
		}
	}
}

// ownListenerPort reports whether a loopback peer's port is one that
// keygate's own sites listen on: a package's upstream must not loop back
// into keygate (its egress, its API) as if it were the package's code.
func ownListenerPort(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		return false
	}
	h, ok := app.(*caddyhttp.App)
	if !ok {
		return false
	}
	for _, srv := range h.Servers {
		for _, l := range srv.Listen {
			na, err := caddy.ParseNetworkAddress(l)
			if err == nil && !na.IsUnixNetwork() && !na.IsFdNetwork() && uint(ap.Port()) >= na.StartPort && uint(ap.Port()) <= na.EndPort {
				return true
			}
		}
	}
	return false
}

func peerClass(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return store.UpstreamMetadata // not an IP peer: refused as unknown
	}
	return store.UpstreamAddrClass(ap.Addr())
}

// upstreamRefusal is the problem for a refused dial, nil for other errors.
func upstreamRefusal(err error) *gateway.Problem {
	var ur *upstreamRefused
	if !errors.As(err, &ur) {
		return nil
	}
	switch ur.class {
	case "keygate listener":
		return gateway.NewProblem(http.StatusForbidden, "upstream_not_allowed", "the package's upstream is one of keygate's own sites")
	case classCleartextPublic:
		return gateway.NewProblem(http.StatusForbidden, "upstream_not_allowed",
			"the package's upstream is a public address named with http://: the call's token and values go to a public address only over https://")
	}
	return gateway.NewProblem(http.StatusForbidden, "upstream_not_allowed",
		fmt.Sprintf("the package's upstream is a %s address, which this site does not allow (keygate_package allow_upstreams)", ur.class))
}

// checkAllowUpstreams validates the allow_upstreams option.
func checkAllowUpstreams(v []string) error {
	for _, c := range v {
		if c != store.UpstreamLoopback && c != store.UpstreamPrivate && c != store.UpstreamPublic {
			return fmt.Errorf("keygate_package: allow_upstreams takes loopback, private or public (none of them), got %q", c)
		}
	}
	return nil
}
