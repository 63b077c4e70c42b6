package gateway

import (
	"context"

	"github.com/keygate/keygate/store"
)

// DeleteSecret deletes a keychain's secret. An OAuth token is disconnected
// (revoked at the provider when it has a revoke_url); the package whose
// key it is comes from the keychain's grants, else from any package
// declaring the key as an OAuth key.
func (a *App) DeleteSecret(ctx context.Context, kc, name string) error {
	st := a.Store()
	meta, err := st.GetSecretMeta(kc, name)
	if err != nil {
		return err
	}
	if meta.Kind != store.SecretKindOAuth {
		return st.DeleteSecret(kc, name)
	}
	return a.oauth.Disconnect(ctx, kc, a.oauthPackageOf(kc, name), name)
}

// oauthPackageOf names the package an OAuth key of the keychain belongs
// to, "" when none declares it any more (the token is then only deleted).
func (a *App) oauthPackageOf(kc, key string) string {
	st := a.Store()
	declares := func(pkg string) bool {
		m, err := st.GetPackage(pkg)
		if err != nil {
			return false
		}
		spec, ok := m.Key(key)
		return ok && spec.OAuth != nil
	}
	if grants, err := st.ListGrants(kc); err == nil {
		for _, g := range grants {
			if declares(g.Package) {
				return g.Package
			}
		}
	}
	if ms, err := st.ListPackages(); err == nil {
		for _, m := range ms {
			if spec, ok := m.Key(key); ok && spec.OAuth != nil {
				return m.Name
			}
		}
	}
	return ""
}
