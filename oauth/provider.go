package oauth

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/keygate/keygate/store"
)

// Provider is one entry of the operator's provider registry
// (`oauth_provider NAME { ... }` in the keygate global options).
type Provider struct {
	Name string `json:"name"`
	// Preset names a provider preset (package preset) whose endpoints,
	// auth style, PKCE and extra parameters fill what is left out.
	Preset       string `json:"preset,omitempty"`
	AuthorizeURL string `json:"authorize_url,omitempty"` // needed for authorization_code keys only
	TokenURL     string `json:"token_url"`
	RevokeURL    string `json:"revoke_url,omitempty"` // RFC 7009; empty: disconnect only forgets
	// AuthStyle is how the client credentials reach the token endpoint:
	// "header" (HTTP Basic, the default) or "params" (in the body).
	AuthStyle string `json:"auth_style,omitempty"`
	// PKCE (S256) is on unless set to false.
	PKCE                 *bool             `json:"pkce,omitempty"`
	ExtraAuthorizeParams map[string]string `json:"extra_authorize_params,omitempty"`
	// UserinfoURL, when set, is asked (with the new access token) who the
	// account is, to show the owner before the connect is stored, when the
	// token endpoint returned no ID token naming it. UserinfoFields are
	// the answer's top-level fields to read, first non-empty wins
	// (default email, preferred_username, login, name, sub).
	UserinfoURL    string   `json:"userinfo_url,omitempty"`
	UserinfoFields []string `json:"userinfo_fields,omitempty"`
}

// reservedParams are set by keygate itself on the authorize URL.
var reservedParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"}

// Validate checks the provider; errors name the field.
func (p *Provider) Validate() error {
	field := func(f string) string { return fmt.Sprintf("oauth_provider %s: %s", p.Name, f) }
	if err := store.ValidateOAuthProviderName(p.Name); err != nil {
		return fmt.Errorf("oauth_provider name: %w", err)
	}
	if err := checkEndpoint(field("token_url"), p.TokenURL, true); err != nil {
		return err
	}
	if err := checkEndpoint(field("authorize_url"), p.AuthorizeURL, false); err != nil {
		return err
	}
	if err := checkEndpoint(field("revoke_url"), p.RevokeURL, false); err != nil {
		return err
	}
	if err := checkEndpoint(field("userinfo_url"), p.UserinfoURL, false); err != nil {
		return err
	}
	if len(p.UserinfoFields) > 0 && p.UserinfoURL == "" {
		return fmt.Errorf("%s need userinfo_url", field("userinfo_fields"))
	}
	if len(p.UserinfoFields) > maxUserinfoFields {
		return fmt.Errorf("%s: at most %d", field("userinfo_fields"), maxUserinfoFields)
	}
	for _, f := range p.UserinfoFields {
		if !userinfoField.MatchString(f) {
			return fmt.Errorf("%s: %q is not a field name (letters, digits, _ . -, up to 64)", field("userinfo_fields"), f)
		}
	}
	switch p.AuthStyle {
	case "", "header", "params":
	default:
		return fmt.Errorf("%s must be header or params", field("auth_style"))
	}
	for k := range p.ExtraAuthorizeParams {
		for _, r := range reservedParams {
			if strings.EqualFold(k, r) {
				return fmt.Errorf("%s: %s is set by keygate", field("extra_authorize_params"), r)
			}
		}
		if k == "" {
			return fmt.Errorf("%s: a parameter name is empty", field("extra_authorize_params"))
		}
	}
	return nil
}

func (p *Provider) pkce() bool { return p.PKCE == nil || *p.PKCE }

func (p *Provider) authStyle() oauth2.AuthStyle {
	if p.AuthStyle == "params" {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// checkEndpoint wants an absolute https URL without userinfo or
// fragment; plain http only to a loopback host (a local stand-in).
func checkEndpoint(field, raw string, required bool) error {
	if raw == "" {
		if required {
			return fmt.Errorf("%s is required", field)
		}
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%s must be an absolute URL", field)
	case u.User != nil:
		return fmt.Errorf("%s must not carry userinfo", field)
	case u.Fragment != "":
		return fmt.Errorf("%s must not have a fragment", field)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s must be https (http only to 127.0.0.0/8, ::1 or localhost)", field)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
