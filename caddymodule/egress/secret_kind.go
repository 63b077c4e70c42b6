package egress

import (
	"fmt"
	"net/http"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// injectableAsIs refuses a stored secret that is not a value to inject as
// it is. What a secret holds is the store's to say, not the manifest's: a
// manifest that drops a key's oauth block must not turn its sealed token
// record (refresh token and all) into a bearer value.
func injectableAsIs(name string, meta store.SecretMeta) error {
	if meta.Kind == "" {
		return nil
	}
	p := gateway.NewProblem(http.StatusConflict, "secret_kind",
		fmt.Sprintf("secret %s holds a token keygate obtained (%s), which the package no longer declares as such; the owner reconnects or sets the key", name, meta.Kind))
	p.Key = name
	return p
}
