package ingress

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/keygate/keygate/caddymodule/gateway"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("keygate_package", parsePackageHandler)
	httpcaddyfile.RegisterDirectiveOrder("keygate_package", httpcaddyfile.Before, "reverse_proxy")
}

// parsePackageHandler reads:
//
//	keygate_package [<suffix>] {
//		suffix <suffix>
//		mode sealed|plaintext
//		rate <events>/<window> [burst <n>]
//		dial_timeout <duration>
//		response_timeout <duration>
//		max_body <bytes>   # webhook deliveries; default 1 MiB
//		allow_upstreams loopback|private|public...   # default loopback
//	}
func parsePackageHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	ph := new(PackageHandler)
	return ph, ph.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (h *PackageHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		h.Suffix = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "suffix":
			if !d.AllArgs(&h.Suffix) {
				return d.ArgErr()
			}
		case "mode":
			if !d.AllArgs(&h.Mode) {
				return d.ArgErr()
			}
			if h.Mode != modeSealed && h.Mode != modePlaintext {
				return d.Errf("mode must be %s or %s, got %q", modeSealed, modePlaintext, h.Mode)
			}
		case "rate":
			rl, err := gateway.RateArgs(d)
			if err != nil {
				return err
			}
			h.Rate = rl
		case "max_body":
			n, err := gateway.SizeArg(d, checkMaxBody)
			if err != nil {
				return err
			}
			h.MaxBody = n
		case "allow_upstreams":
			h.AllowUpstreams = d.RemainingArgs()
			if len(h.AllowUpstreams) == 0 {
				return d.ArgErr()
			}
			if err := checkAllowUpstreams(h.AllowUpstreams); err != nil {
				return d.Err(err.Error())
			}
		case "dial_timeout":
			dur, err := gateway.DurationArg(d)
			if err != nil {
				return err
			}
			h.DialTimeout = dur
		case "response_timeout":
			dur, err := gateway.DurationArg(d)
			if err != nil {
				return err
			}
			h.ResponseTimeout = dur
		default:
			return d.Errf("unrecognized keygate_package option %q", d.Val())
		}
	}
	if h.Suffix == "" {
		return d.Err("keygate_package needs a suffix, e.g. 'suffix instant.host'")
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*PackageHandler)(nil)
