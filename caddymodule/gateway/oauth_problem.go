package gateway

import (
	"errors"
	"net/http"
)

// oauthProblem maps the OAuth errors (see ToProblem); nil for others.
// The manager's messages name keys, packages and providers only.
func oauthProblem(err error) *Problem {
	switch {
	case errors.Is(err, ErrOAuthReconnect):
		return NewProblem(http.StatusPreconditionRequired, "reconnect_required", err.Error())
	case errors.Is(err, ErrOAuthNotConnected):
		return NewProblem(http.StatusPreconditionRequired, "not_connected", err.Error())
	case errors.Is(err, ErrOAuthUnavailable):
		p := NewProblem(http.StatusServiceUnavailable, "oauth_unavailable", err.Error())
		p.headersExtra = http.Header{"Retry-After": {"1"}}
		return p
	case errors.Is(err, ErrOAuthState):
		return NewProblem(http.StatusBadRequest, "oauth_state", err.Error())
	case errors.Is(err, ErrOAuthBadCallback):
		return NewProblem(http.StatusBadRequest, "oauth_bad_callback", err.Error())
	case errors.Is(err, ErrOAuthDenied):
		return NewProblem(http.StatusBadRequest, "oauth_denied", err.Error())
	case errors.Is(err, ErrOAuthExchange):
		return NewProblem(http.StatusBadRequest, "oauth_exchange", err.Error())
	case errors.Is(err, ErrOAuthConfig):
		return NewProblem(http.StatusBadRequest, "oauth_config", err.Error())
	}
	return nil
}

// OAuthProblem is ToProblem for an OAuth key of a keychain: a token the
// owner must (re)connect links to the owners' page as set_url.
func (a *App) OAuthProblem(err error, kc, pkg, key string) *Problem {
	p := ToProblem(err)
	if p.Status == http.StatusPreconditionRequired {
		p.Key, p.Package = key, pkg
		if kc != "" {
			p.SetURL = a.OwnerPageURL(kc, pkg)
		}
	}
	return p
}
