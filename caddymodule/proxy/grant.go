package proxy

import (
	"context"
	"errors"
	"net/http"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// recheck makes revocation reach placeholders: the call a placeholder came
// from must still stand (keychain version, grant epoch, package code) and
// its key still be approved, exactly as egress checks an invocation token.
// It returns the key's manifest entry.
func (h *Handler) recheck(ctx context.Context, c *policy.PlaceholderClaims) (store.KeySpec, *gateway.Problem) {
	pkg, err := h.app.Store().PackageRecordContext(ctx, c.Package) // read-only
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.KeySpec{}, gateway.NewProblem(http.StatusForbidden, "package_gone", "the package of this placeholder is no longer registered")
	case err != nil:
		return store.KeySpec{}, gateway.ToProblem(err)
	}
	inv, key := c.Invocation(pkg)
	return h.app.RecheckContext(ctx, inv, key, c.App)
}

func forbidden(reason, detail string) *gateway.Problem {
	return gateway.NewProblem(http.StatusForbidden, reason, detail)
}
