package ingress

import (
	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// placeholders mints the placeholders of a call's usable keys and app keys
// as Keygate-Placeholder-<NAME> header name and value pairs. The package's
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
	out := make([][2]string, len(phs))
	for i, p := range phs {
		out[i] = [2]string{gateway.PlaceholderHeader(p.Key), p.Value}
	}
	return out, nil
}
