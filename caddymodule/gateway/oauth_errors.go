package gateway

import "errors"

// OAuth errors. Messages name keychains, packages, keys and providers,
// never a code, state, verifier, token or client secret.
var (
	// ErrOAuthConfig: the key is not obtained by OAuth, its provider is not
	// configured, or the package's client credentials are missing.
	ErrOAuthConfig = errors.New("oauth is not set up for this key")
	// ErrOAuthState: a callback's state is missing, unknown, used or expired (400).
	ErrOAuthState = errors.New("oauth state is not valid")
	// ErrOAuthBadCallback: a callback without a code or otherwise malformed (400).
	ErrOAuthBadCallback = errors.New("oauth callback is malformed")
	// ErrOAuthDenied: the owner (or the provider) refused the authorization.
	ErrOAuthDenied = errors.New("authorization was not granted")
	// ErrOAuthExchange: the provider answered but issued no usable token (502).
	ErrOAuthExchange = errors.New("the provider did not issue a token")
	// ErrOAuthNotConnected: no token is stored for the key (428 not set).
	ErrOAuthNotConnected = errors.New("oauth key is not connected")
	// ErrOAuthReconnect: the provider refused the refresh token (428
	// reason reconnect_required).
	ErrOAuthReconnect = errors.New("oauth key needs to be reconnected")
	// ErrOAuthUnavailable: the provider is down, slow or answered badly and
	// no still-valid token is left (503).
	ErrOAuthUnavailable = errors.New("oauth provider is unavailable")
)
