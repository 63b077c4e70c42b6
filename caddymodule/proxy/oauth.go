package proxy

import (
	"errors"
	"fmt"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/oauth"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// oauthValue is the access token an OAuth key's placeholder stands for,
// refreshed by the gateway's OAuth manager when due, as egress injects
// it. Where the token may go is checked before any refresh is spent on
// it; the refresh token never leaves keygate.
func (s *substitution) oauthValue(c *policy.PlaceholderClaims, spec store.KeySpec, notAllowed *gateway.Problem) (string, *gateway.Problem) {
	m := s.h.app.OAuth()
	host, port := s.tgt.host, s.tgt.port
	if c.App {
		// An app token's allowed hosts are its key's hosts.
		if !policy.HostAllowed(spec.Hosts, host, port) {
			return "", notAllowed
		}
		tok, err := m.AppAccessToken(s.ctx, c.Package, spec.Name)
		if err != nil {
			return "", s.h.app.OAuthProblem(err, "", c.Package, spec.Name)
		}
		return tok, nil
	}
	notConnected := func() *gateway.Problem {
		return s.missing(c, spec, fmt.Sprintf("oauth key %s is not connected", spec.Name))
	}
	meta, err := s.h.app.Store().GetSecretMeta(c.Keychain, spec.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", notConnected()
	case err != nil:
		return "", gateway.ToProblem(err)
	case !policy.HostAllowed(meta.AllowedHosts, host, port):
		return "", notAllowed
	}
	tok, err := m.AccessTokenFor(s.ctx, c.Keychain, c.Package, spec.Name, meta)
	switch {
	case errors.Is(err, oauth.ErrNotConnected):
		return "", notConnected()
	case err != nil:
		return "", s.h.app.OAuthProblem(err, c.Keychain, c.Package, spec.Name)
	}
	return tok, nil
}

// missing is the answer for a key without a value (or not connected), as
// egress gives it: what is missing and how the owner sets it.
func (s *substitution) missing(c *policy.PlaceholderClaims, spec store.KeySpec, detail string) *gateway.Problem {
	return s.h.app.ExplainDenial(&policy.Denial{Reason: policy.MissingKeys, Keychain: c.Keychain, Package: c.Package,
		Key: spec.Name, Missing: []store.KeySpec{spec}, Detail: detail})
}
