package ingress

import (
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// placeholderHeaderPrefix names the header that hands the package one
// placeholder per usable key: Keygate-Placeholder-OPENAI-API-KEY for
// OPENAI_API_KEY. The package's code gives it to an SDK behind the proxy
// site where the key would go.
const placeholderHeaderPrefix = "Keygate-Placeholder-"

// placeholderCodec is built on first use: its key needs the open store.
type placeholderCodec struct {
	once sync.Once
	p    *policy.Placeholders
	err  error
}

func (c *placeholderCodec) get(app *gateway.App) (*policy.Placeholders, error) {
	c.once.Do(func() {
		c.p, c.err = policy.NewPlaceholders(app.SharedKey(policy.PlaceholderKeyPurpose), nil)
	})
	return c.p, c.err
}

// placeholders appends to out the placeholders of a call's usable keys and
// app keys, as header name and value pairs; claims are the call's
// invocation token's.
func (h *PackageHandler) placeholders(out [][2]string, claims *policy.InvocationClaims, pkg *store.Manifest) ([][2]string, error) {
	codec, err := h.codec.get(h.app)
	if err != nil {
		return nil, err
	}
	add := func(keys []store.KeySpec, usable []string, app bool) error {
		for i, k := range keys {
			if !slices.Contains(usable, k.Name) {
				continue
			}
			ph, err := codec.Mint(claims, k.Name, i, app)
			if err != nil {
				return err
			}
			out = append(out, [2]string{h.phHeaders.get(k.Name), ph})
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

// placeholderHeader names the header of key's placeholder.
func placeholderHeader(key string) string {
	return http.CanonicalHeaderKey(placeholderHeaderPrefix + strings.ReplaceAll(key, "_", "-"))
}
