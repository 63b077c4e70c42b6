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

// EachPlaceholder mints the placeholder of each usable key and app key of
// pkg for the call claims stands for, in manifest order, and gives it to
// fn with its key.
func EachPlaceholder(codec *policy.Placeholders, claims *policy.InvocationClaims, pkg *store.Manifest, fn func(k *store.KeySpec, ph string)) error {
	add := func(keys []store.KeySpec, usable []string, app bool) error {
		for i := range keys {
			if !slices.Contains(usable, keys[i].Name) {
				continue
			}
			ph, err := codec.Mint(claims, keys[i].Name, i, app)
			if err != nil {
				return err
			}
			fn(&keys[i], ph)
		}
		return nil
	}
	if err := add(pkg.Keys, claims.Keys, false); err != nil {
		return err
	}
	return add(pkg.AppKeys, claims.AppKeys, true)
}

// MintPlaceholders is EachPlaceholder's placeholders as a list, with the
// secret half of each sigv4 key's pair.
func MintPlaceholders(codec *policy.Placeholders, claims *policy.InvocationClaims, pkg *store.Manifest) ([]Placeholder, error) {
	var out []Placeholder
	err := EachPlaceholder(codec, claims, pkg, func(k *store.KeySpec, ph string) {
		p := Placeholder{Key: k.Name, Value: ph}
		if k.SignsWithSigV4() {
			p.SigV4Secret = codec.SigV4Secret(ph)
		}
		out = append(out, p)
	})
	return out, err
}

// ActionProxyPlaceholders audits placeholders handed out through the API
// (to keygate exec), beside the Action* names of audit.go.
const ActionProxyPlaceholders = "proxy.placeholders"
