package gateway

import (
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// PlaceholderHeaderPrefix names the header that hands the package one
// placeholder per usable key: Keygate-Placeholder-OPENAI-API-KEY for
// OPENAI_API_KEY.
const PlaceholderHeaderPrefix = "Keygate-Placeholder-"

// PlaceholderHeader is the header that carries key's placeholder.
func PlaceholderHeader(key string) string {
	return http.CanonicalHeaderKey(PlaceholderHeaderPrefix + strings.ReplaceAll(key, "_", "-"))
}

// PlaceholderCodec is the placeholder minter and verifier, built on first
// use: its key needs the open store.
type PlaceholderCodec struct {
	once sync.Once
	p    *policy.Placeholders
	err  error
}

// Get returns the codec of app's shared placeholder key.
func (c *PlaceholderCodec) Get(app *App) (*policy.Placeholders, error) {
	c.once.Do(func() {
		c.p, c.err = policy.NewPlaceholders(app.SharedKey(policy.PlaceholderKeyPurpose), nil)
	})
	return c.p, c.err
}

// Placeholder is one usable key's placeholder.
type Placeholder struct {
	Key   string
	Value string
}

// MintPlaceholders mints the placeholders of the call claims stands for:
// one per usable key and app key of pkg, in manifest order.
func MintPlaceholders(codec *policy.Placeholders, claims *policy.InvocationClaims, pkg *store.Manifest) ([]Placeholder, error) {
	var out []Placeholder
	add := func(keys []store.KeySpec, usable []string, app bool) error {
		for i, k := range keys {
			if !slices.Contains(usable, k.Name) {
				continue
			}
			ph, err := codec.Mint(claims, k.Name, i, app)
			if err != nil {
				return err
			}
			out = append(out, Placeholder{Key: k.Name, Value: ph})
		}
		return nil
	}
	if err := add(pkg.Keys, claims.Keys, false); err != nil {
		return nil, err
	}
	if err := add(pkg.AppKeys, claims.AppKeys, true); err != nil {
		return nil, err
	}
	return out, nil
}

// ActionProxyPlaceholders audits placeholders handed out through the API
// (to keygate exec), beside the Action* names of audit.go.
const ActionProxyPlaceholders = "proxy.placeholders"
