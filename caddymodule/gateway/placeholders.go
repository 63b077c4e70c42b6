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

// SigV4SecretHeaderPrefix names the header with the placeholder secret
// access key of a key signed with sigv4 (its placeholder is the access key
// id): Keygate-Sigv4-Secret-AWS for AWS. A prefix of its own, so that it
// can never be the placeholder header of another key.
const SigV4SecretHeaderPrefix = "Keygate-Sigv4-Secret-"

// SigV4SecretHeader is the header that carries key's placeholder secret.
func SigV4SecretHeader(key string) string {
	return http.CanonicalHeaderKey(SigV4SecretHeaderPrefix + strings.ReplaceAll(key, "_", "-"))
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
	// SigV4Secret is set for a key signed with sigv4: the placeholder
	// secret access key that goes with Value (the access key id).
	SigV4Secret string
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
			p := Placeholder{Key: k.Name, Value: ph}
			if k.Placement != nil && k.Placement.SigV4 != nil {
				p.SigV4Secret = codec.SigV4Secret(ph)
			}
			out = append(out, p)
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
