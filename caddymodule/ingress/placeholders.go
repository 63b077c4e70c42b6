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

// sigv4SecretHeaderPrefix names the header with the placeholder secret
// access key of a key signed with sigv4 (its placeholder is the access key
// id): Keygate-Sigv4-Secret-AWS for AWS. A prefix of its own, so that it
// can never be the placeholder header of another key.
const sigv4SecretHeaderPrefix = "Keygate-Sigv4-Secret-"

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

// placeholders mints the placeholders of a call's usable keys and app keys
// as header name and value pairs.
func (h *PackageHandler) placeholders(token string, pkg *store.Manifest) ([][2]string, error) {
	codec, err := h.codec.get(h.app)
	if err != nil {
		return nil, err
	}
	claims, err := h.app.Tokens().VerifyInvocationToken(token)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	add := func(keys []store.KeySpec, usable []string, app bool) error {
		for i, k := range keys {
			if !slices.Contains(usable, k.Name) {
				continue
			}
			ph, err := codec.Mint(&claims, k.Name, i, app)
			if err != nil {
				return err
			}
			name := strings.ReplaceAll(k.Name, "_", "-")
			out = append(out, [2]string{http.CanonicalHeaderKey(placeholderHeaderPrefix + name), ph})
			if k.Placement != nil && k.Placement.SigV4 != nil {
				out = append(out, [2]string{http.CanonicalHeaderKey(sigv4SecretHeaderPrefix + name), codec.SigV4Secret(ph)})
			}
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
