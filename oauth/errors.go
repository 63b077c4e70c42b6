package oauth

import "errors"

// OAuth errors. Messages name keychains, packages, keys and providers,
// never a code, state, verifier, token or client secret.
var (
	// ErrConfig: the key is not obtained by OAuth, its provider is not
	// configured, or the package's client credentials are missing.
	ErrConfig = errors.New("oauth is not set up for this key")
	// ErrState: a callback's state is missing, unknown, used or expired (400).
	ErrState = errors.New("oauth state is not valid")
	// ErrPending: a confirmation names no pending connect, or one already
	// confirmed, cancelled or expired (400).
	ErrPending = errors.New("the connection is not waiting for confirmation")
	// ErrBrowser: a confirmation from another browser than the one that
	// finished the callback (400); the connect stays pending.
	ErrBrowser = errors.New("the connection was started in another browser")
	// ErrBadCallback: a callback without a code or otherwise malformed (400).
	ErrBadCallback = errors.New("oauth callback is malformed")
	// ErrDenied: the owner (or the provider) refused the authorization.
	ErrDenied = errors.New("authorization was not granted")
	// ErrExchange: the provider answered but issued no usable token (502).
	ErrExchange = errors.New("the provider did not issue a token")
	// ErrNotConnected: no token is stored for the key (428 not set).
	ErrNotConnected = errors.New("oauth key is not connected")
	// ErrReconnect: the provider refused the refresh token (428
	// reason reconnect_required).
	ErrReconnect = errors.New("oauth key needs to be reconnected")
	// ErrUnavailable: the provider is down, slow or answered badly and
	// no still-valid token is left (503).
	ErrUnavailable = errors.New("oauth provider is unavailable")
)
