package oauth

import (
	"fmt"
	"maps"

	"github.com/keygate/keygate/preset"
)

// ApplyPreset fills what the provider leaves out from its preset: the
// authorize, token and revoke URLs, the auth style, PKCE, and each extra
// authorize parameter it does not set itself. Applying it twice changes
// nothing.
func (p *Provider) ApplyPreset() error {
	if p.Preset == "" {
		return nil
	}
	ps, err := preset.Get(p.Preset)
	if err != nil {
		return fmt.Errorf("oauth_provider %s: %w", p.Name, err)
	}
	o := ps.OAuth
	if o == nil {
		return fmt.Errorf("oauth_provider %s: preset %s has no OAuth endpoints (%s keys are set by their owners)", p.Name, ps.Name, ps.Title)
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&p.AuthorizeURL, o.AuthorizeURL)
	fill(&p.TokenURL, o.TokenURL)
	fill(&p.RevokeURL, o.RevokeURL)
	fill(&p.AuthStyle, o.AuthStyle)
	if p.PKCE == nil {
		pkce := o.PKCE
		p.PKCE = &pkce
	}
	if len(o.ExtraAuthorizeParams) > 0 {
		extra := maps.Clone(o.ExtraAuthorizeParams)
		maps.Copy(extra, p.ExtraAuthorizeParams)
		p.ExtraAuthorizeParams = extra
	}
	return nil
}
