package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// In plaintext mode the value goes to the package's code itself, so the
// owner must have allowed it to go there: the package's upstream host must
// be among the secret's allowed_hosts, as for any other destination. The
// site's mode alone does not decide.

var errPlaintextHost = errors.New("the package's upstream host is not among the secret's allowed_hosts")

// checkPlaintextHosts refuses the call unless every usable secret allows
// the package's upstream (host:port).
func checkPlaintextHosts(ctx context.Context, st *store.Store, kc, upstream string, keys []string) *gateway.Problem {
	for _, name := range keys {
		meta, err := st.GetSecretMetaContext(ctx, kc, name)
		if err != nil {
			return gateway.ToProblem(err)
		}
		if !gateway.UpstreamAllowed(meta.AllowedHosts, upstream) {
			return plaintextHostProblem(name, upstream)
		}
	}
	return nil
}

func plaintextHostProblem(name, upstream string) *gateway.Problem {
	host, _, err := net.SplitHostPort(upstream)
	if err != nil {
		host = upstream
	}
	return gateway.DenialProblem(&policy.Denial{Reason: policy.HostNotAllowed, Key: name,
		Detail: fmt.Sprintf("secret %s may not be sent in plaintext to the package's code at %s: not among its allowed_hosts", name, host)})
}
