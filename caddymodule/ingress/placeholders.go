package ingress

import (
	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// placeholders appends to out the placeholders of a call's usable keys and
// app keys, as Keygate-Placeholder-<NAME> header name and value pairs (and,
// for a key signed with sigv4, Keygate-Sigv4-Secret-<NAME> with its
// secret); claims are the call's invocation token's. The package's code
// gives them to an SDK behind the proxy site where the keys would go.
func (h *PackageHandler) placeholders(out [][2]string, claims *policy.InvocationClaims, pkg *store.Manifest) ([][2]string, error) {
	codec, err := h.codec.Get(h.app)
	if err != nil {
		return nil, err
	}
	err = gateway.EachPlaceholder(codec, claims, pkg, func(k *store.KeySpec, ph string) {
		out = append(out, [2]string{h.phHeaders.get(k.Name), ph})
		if k.SignsWithSigV4() {
			out = append(out, [2]string{h.phHeaders.sigv4(k.Name), codec.SigV4Secret(ph)})
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
