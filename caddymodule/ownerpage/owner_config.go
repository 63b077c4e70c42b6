package ownerpage

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/keygate/keygate/caddymodule/gateway"
)

// OwnerAuth configures how keychain owners sign in to the owners' page
// under /ui/. keygate_api embeds it, so its fields sit beside
// max_body_bytes in keygate_api's JSON.
//
// Owners sign in with a one-time login link that the operator makes
// (POST /v1/keychains/{id}/login-link, `keygate keychain login-link`), or
// with a JWT from a trusted platform (owner_issuer). Either way the owner
// sees and changes only the keychains whose owner is theirs.
type OwnerAuth struct {
	// Lifetime of a login link. Default: 15m; at most 24h.
	LoginLinkTTL caddy.Duration `json:"owner_link_ttl,omitempty"`

	// Lifetime of an owner's session (absolute, not idle). Default: 12h;
	// at most 7 days.
	SessionTTL caddy.Duration `json:"owner_session_ttl,omitempty"`

	// A platform whose JWTs sign owners in. Unset: login links only.
	Issuer *OwnerIssuer `json:"owner_issuer,omitempty"`

	issuer *issuerVerifier
	cop    *http.CrossOriginProtection
}

// provision sets defaults and loads the issuer's keys.
func (h *Page) provision() error {
	if h.LoginLinkTTL == 0 {
		h.LoginLinkTTL = caddy.Duration(15 * time.Minute)
	}
	if h.SessionTTL == 0 {
		h.SessionTTL = caddy.Duration(12 * time.Hour)
	}
	if h.LoginLinkTTL < caddy.Duration(time.Minute) || h.LoginLinkTTL > caddy.Duration(24*time.Hour) {
		return errors.New("keygate_api: owner_link_ttl must be between 1m and 24h")
	}
	if h.SessionTTL < caddy.Duration(5*time.Minute) || h.SessionTTL > caddy.Duration(7*24*time.Hour) {
		return errors.New("keygate_api: owner_session_ttl must be between 5m and 168h")
	}
	if h.Issuer != nil {
		v, err := h.Issuer.build()
		if err != nil {
			return fmt.Errorf("keygate_api: %w", err)
		}
		h.issuer = v
	}
	h.cop = http.NewCrossOriginProtection()
	if o := originOf(h.app.PublicURL); o != "" {
		if err := h.cop.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("keygate: public_url: %w", err)
		}
	}
	return nil
}

// originOf returns scheme://host of a URL, or "" if it has none.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + u.Host
}

// UnmarshalOption reads the owner sign-in options of keygate_api:
//
//	owner_link_ttl <duration>
//	owner_session_ttl <duration>
//	owner_issuer <issuer> {
//		audience <aud>
//		public_key_file <path>   # or: jwks_file <path>
//		algorithms <alg>...      # default: EdDSA RS256 ES256
//		leeway <duration>        # default: 30s
//	}
func (h *OwnerAuth) UnmarshalOption(d *caddyfile.Dispenser) error {
	switch d.Val() {
	case "owner_link_ttl":
		dur, err := gateway.DurationArg(d)
		if err != nil {
			return err
		}
		h.LoginLinkTTL = dur
	case "owner_session_ttl":
		dur, err := gateway.DurationArg(d)
		if err != nil {
			return err
		}
		h.SessionTTL = dur
	case "owner_issuer":
		iss := new(OwnerIssuer)
		if !d.NextArg() {
			return d.Err("want 'owner_issuer <issuer> { audience ...; public_key_file ... }'")
		}
		iss.Issuer = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch d.Val() {
			case "audience":
				if !d.AllArgs(&iss.Audience) {
					return d.ArgErr()
				}
			case "public_key_file":
				if !d.AllArgs(&iss.PublicKeyFile) {
					return d.ArgErr()
				}
			case "jwks_file":
				if !d.AllArgs(&iss.JWKSFile) {
					return d.ArgErr()
				}
			case "algorithms":
				iss.Algorithms = d.RemainingArgs()
				if len(iss.Algorithms) == 0 {
					return d.ArgErr()
				}
				for _, a := range iss.Algorithms {
					if _, ok := asymmetricAlgs[a]; !ok {
						return d.Errf("algorithms: %q is not accepted; use EdDSA, RS256/384/512, PS256/384/512 or ES256/384/512", a)
					}
				}
			case "leeway":
				dur, err := gateway.DurationArg(d)
				if err != nil {
					return err
				}
				iss.Leeway = dur
			default:
				return d.Errf("unrecognized owner_issuer option %q", d.Val())
			}
		}
		if iss.Audience == "" {
			return d.Err("owner_issuer needs 'audience <aud>'")
		}
		if (iss.PublicKeyFile == "") == (iss.JWKSFile == "") {
			return d.Err("owner_issuer needs exactly one of 'public_key_file <path>' and 'jwks_file <path>'")
		}
		h.Issuer = iss
	default:
		return d.Errf("unrecognized keygate_api option %q", d.Val())
	}
	return nil
}
