package gateway

import (
	"context"
	"errors"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// RecheckContext asks policy whether a verified invocation token may still use
// key (an app key when app is set), from what the store holds now (its
// shared, read-only records), and returns the key's spec; a refusal comes
// explained. A record the store cannot read for another reason than its
// absence is that error's answer (503 when the database is down), not a
// refusal.
// Its database reads stop when ctx (the request's) is done.
func (a *App) RecheckContext(ctx context.Context, c *policy.InvocationClaims, key string, app bool) (store.KeySpec, *Problem) {
	st := a.Store()
	var now policy.Standing
	kc, err := st.GetKeychainContext(ctx, c.Keychain)
	switch {
	case err == nil:
		now.Keychain = &kc
	case !errors.Is(err, store.ErrNotFound):
		return store.KeySpec{}, ToProblem(err)
	}
	if now.Grant, err = st.GrantRecordContext(ctx, c.Keychain, c.Package); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.KeySpec{}, ToProblem(err)
	}
	if now.Package, err = st.PackageRecordContext(ctx, c.Package); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.KeySpec{}, ToProblem(err)
	}
	spec, d := policy.Recheck(c, now, key, app)
	if d != nil {
		return spec, a.ExplainDenial(d)
	}
	return spec, nil
}
