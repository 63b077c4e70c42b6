package proxy

import (
	"fmt"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// cleartextRefusal refuses to put a value into a request that would carry
// it unencrypted (an absolute-form http:// request) to a public address:
// anyone on the path would read it. Loopback and private addresses (a
// local stand-in, a service inside the network) are the operator's to
// allow, as allow_private_upstreams does.
func cleartextRefusal(tgt *target, key string) *gateway.Problem {
	if tgt.scheme != "http" || store.UpstreamAddrClass(tgt.addr.Addr()) != store.UpstreamPublic {
		return nil
	}
	p := forbidden("not_supported", fmt.Sprintf("key %s goes to %s only over TLS: call https:// (the proxy site tunnels it), not http://", key, tgt.host))
	p.Key = key
	return p
}
