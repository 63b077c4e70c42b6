// Package ownerpage is the owners' web page under /ui/ that keygate_api
// serves: owner sign-in (one-time login links, platform issuers), sessions,
// and the forms that set values and approve packages.
//
// It is not a Caddy module of its own: keygate_api mounts it. It imports
// the gateway package, policy/ and store/, never another keygate module
// package nor cli.
package ownerpage

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
)

// Page serves the owners' page for one keygate_api handler.
type Page struct {
	*OwnerAuth

	// MaxBodyBytes bounds form bodies, as keygate_api bounds API bodies.
	MaxBodyBytes int64

	app    *gateway.App
	logger *zap.Logger
}

// AdminRoute wraps a management route with the API's admin-token check and
// JSON answers; keygate_api passes its own.
type AdminRoute func(fn func(r *http.Request) (int, any, error)) http.HandlerFunc

// New provisions the owners' page of a keygate_api handler whose owner
// options are cfg.
func New(app *gateway.App, cfg *OwnerAuth, maxBody int64, logger *zap.Logger) (*Page, error) {
	p := &Page{OwnerAuth: cfg, MaxBodyBytes: maxBody, app: app, logger: logger}
	if err := p.provision(); err != nil {
		return nil, err
	}
	return p, nil
}
