package gateway

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/keygate/keygate/oauth"
)

// parseOAuthProvider reads, at the oauth_provider token:
//
//	oauth_provider NAME {
//		preset <provider>    # fills what the block leaves out
//		authorize_url <url>
//		token_url <url>
//		revoke_url <url>
//		auth_style header|params
//		pkce on|off
//		extra_authorize_params k=v [k=v ...]
//		userinfo_url <url> [field ...]
//	}
//
// The URLs are checked by oauth.Provider.Validate when the app is validated.
func parseOAuthProvider(d *caddyfile.Dispenser) (oauth.Provider, error) {
	var p oauth.Provider
	if !d.NextArg() {
		return p, d.Err("oauth_provider: want 'oauth_provider NAME { ... }'")
	}
	p.Name = d.Val()
	if d.NextArg() {
		return p, d.ArgErr()
	}
	for d.NextBlock(1) {
		opt := d.Val()
		switch opt {
		case "preset":
			if !d.AllArgs(&p.Preset) {
				return p, d.ArgErr()
			}
		case "authorize_url", "token_url", "revoke_url", "auth_style":
			var v string
			if !d.AllArgs(&v) {
				return p, d.ArgErr()
			}
			switch opt {
			case "authorize_url":
				p.AuthorizeURL = v
			case "token_url":
				p.TokenURL = v
			case "revoke_url":
				p.RevokeURL = v
			case "auth_style":
				if v != "header" && v != "params" {
					return p, d.Errf("oauth_provider %s: auth_style must be header or params, got %q", p.Name, v)
				}
				p.AuthStyle = v
			}
		case "pkce":
			var v string
			if !d.AllArgs(&v) {
				return p, d.ArgErr()
			}
			switch v {
			case "on":
				on := true
				p.PKCE = &on
			case "off":
				off := false
				p.PKCE = &off
			default:
				return p, d.Errf("oauth_provider %s: pkce must be on or off, got %q", p.Name, v)
			}
		case "userinfo_url":
			args := d.RemainingArgs()
			if len(args) == 0 || p.UserinfoURL != "" {
				return p, d.Errf("oauth_provider %s: want one 'userinfo_url <url> [field ...]'", p.Name)
			}
			p.UserinfoURL, p.UserinfoFields = args[0], args[1:]
		case "extra_authorize_params":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return p, d.ArgErr()
			}
			if p.ExtraAuthorizeParams == nil {
				p.ExtraAuthorizeParams = map[string]string{}
			}
			for _, kv := range args {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return p, d.Errf("oauth_provider %s: extra_authorize_params wants k=v pairs, got %q", p.Name, kv)
				}
				p.ExtraAuthorizeParams[k] = v
			}
		default:
			return p, d.Errf("oauth_provider %s: unrecognized option %q", p.Name, opt)
		}
	}
	// The block's own options win; the preset fills the rest now, so that
	// an unknown name is a Caddyfile error.
	if err := p.ApplyPreset(); err != nil {
		return p, d.Err(err.Error())
	}
	return p, nil
}
