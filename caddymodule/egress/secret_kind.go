package egress

import (
	"fmt"
	"net/http"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// injectableAsIs refuses a stored secret that is not a value to inject as
// it is (an OAuth token record, AWS credentials). What a secret holds is the store's to say, not the manifest's: a
// manifest that drops a key's oauth block must not turn its sealed token
// record (refresh token and all) into a bearer value.
func injectableAsIs(name string, meta store.SecretMeta) error {
	if meta.Kind == "" {
		return nil
	}
	msg := fmt.Sprintf("secret %s is of kind %s, which this route never sends as a plain value", name, meta.Kind)
	if meta.Kind == store.SecretKindOAuth {
		msg = fmt.Sprintf("secret %s holds a token keygate obtained (oauth), which the package no longer declares as such; the owner reconnects or sets the key", name)
	}
	p := gateway.NewProblem(http.StatusConflict, "secret_kind", msg)
	p.Key = name
	return p
}
