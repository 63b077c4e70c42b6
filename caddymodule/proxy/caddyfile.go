package proxy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/keygate/keygate/caddymodule/gateway"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("keygate_proxy", parseHandler)
	httpcaddyfile.RegisterDirectiveOrder("keygate_proxy", httpcaddyfile.Before, "reverse_proxy")
}

// parseHandler reads:
//
//	keygate_proxy {
//		pass_hosts <pattern>...
//		proxy_auth required
//		upstream_ca <file>
//		allow_private_upstreams
//		dial_timeout <duration>
//		tls_timeout <duration>
//		response_header_timeout <duration>
//		max_body <size>              # e.g. 10MiB
//		max_tunnels_per_client <n>
//		curves <name>...             # e.g. x25519
//	}
func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	ph := new(Handler)
	return ph, ph.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "pass_hosts":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.PassHosts = append(h.PassHosts, args...)
		case "proxy_auth":
			if !d.AllArgs(&h.ProxyAuth) {
				return d.ArgErr()
			}
			if h.ProxyAuth != proxyAuthRequired {
				return d.Errf("proxy_auth: want %q, got %q", proxyAuthRequired, h.ProxyAuth)
			}
		case "upstream_ca":
			if !d.AllArgs(&h.UpstreamCA) {
				return d.ArgErr()
			}
		case "allow_private_upstreams":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.AllowPrivateUpstreams = true
		case "dial_timeout", "tls_timeout", "response_header_timeout":
			opt := d.Val()
			dur, err := gateway.DurationArg(d)
			if err != nil {
				return err
			}
			switch opt {
			case "dial_timeout":
				h.DialTimeout = dur
			case "tls_timeout":
				h.TLSHandshakeTimeout = dur
			default:
				h.ResponseHeaderTimeout = dur
			}
		case "max_body":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n < 1024 || n > 1<<40 {
				return d.Errf("max_body: want a size of at least 1KiB such as 10MiB, got %q", v)
			}
			h.MaxBody = int64(n)
		case "max_tunnels_per_client":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := parsePositive(v)
			if err != nil {
				return d.Errf("max_tunnels_per_client: want a whole number above 0, got %q", v)
			}
			h.MaxTunnelsPerClient = n
		case "curves":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("keygate_proxy curves: want one or more of %s", strings.Join(curveNames(), ", "))
			}
			if _, err := curveIDs(args); err != nil {
				return d.Errf("keygate_proxy curves: %v", err)
			}
			h.Curves = append(h.Curves, args...)
		default:
			return d.Errf("unknown keygate_proxy option %q", d.Val())
		}
	}
	return nil
}

func parsePositive(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errors.New("not a positive number")
	}
	return n, nil
}
