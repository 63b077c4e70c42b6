package api

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("keygate_api", parseAPIHandler)
	httpcaddyfile.RegisterDirectiveOrder("keygate_api", httpcaddyfile.After, "reverse_proxy")
}

func parseAPIHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	ah := new(APIHandler)
	return ah, ah.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile reads:
//
//	keygate_api {
//		max_body_bytes <n>
//		owner_issuer, owner_link_ttl, owner_session_ttl: see unmarshalOwnerOption
//	}
func (h *APIHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_body_bytes":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			var n int64
			if _, err := fmt.Sscan(s, &n); err != nil || n < 1024 {
				return d.Errf("max_body_bytes: want a whole number of at least 1024, got %q", s)
			}
			h.MaxBodyBytes = n
		default:
			if err := h.OwnerAuth.UnmarshalOption(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*APIHandler)(nil)
