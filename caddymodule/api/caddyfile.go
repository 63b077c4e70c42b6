package api

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/keygate/keygate/caddymodule/gateway"
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
			n, err := gateway.SizeArg(d, checkMaxBodyBytes)
			if err != nil {
				return err
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
