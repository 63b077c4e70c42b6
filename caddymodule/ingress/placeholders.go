package ingress

import (
	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// placeholders mints the placeholders of a call's usable keys and app keys
// as Keygate-Placeholder-<NAME> header name and value pairs (and, for a
// key signed with sigv4, Keygate-Sigv4-Secret-<NAME> with its secret). The package's
// code gives them to an SDK behind the proxy site where the keys would go.
func (h *PackageHandler) placeholders(token string, pkg *store.Manifest) ([][2]string, error) {
	codec, err := h.codec.Get(h.app)
	if err != nil {
		return nil, err
	}
	claims, err := h.app.Tokens().VerifyInvocationToken(token)
	if err != nil {
		return nil, err
	}
	phs, err := gateway.MintPlaceholders(codec, &claims, pkg)
	if err != nil {
		return nil, err
	}
	out := make([][2]string, 0, len(phs))
	for _, p := range phs {
		out = append(out, [2]string{gateway.PlaceholderHeader(p.Key), p.Value})
		if p.SigV4Secret != "" {
			out = append(out, [2]string{gateway.SigV4SecretHeader(p.Key), p.SigV4Secret})
		}
	}
	return out, nil
}
