package proxy

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// recheck makes revocation reach placeholders: the call they came from
// must still stand (keychain version, grant epoch, package code), and the
// key must still be approved. It returns the key's manifest entry. The
// checks are the egress transport's, for a placeholder's claims.
func (h *Handler) recheck(c *policy.PlaceholderClaims) (store.KeySpec, *gateway.Problem) {
	st := h.app.Store()
	kc, err := st.GetKeychain(c.Keychain)
	if err != nil || kc.TokenVersion != c.KeychainVersion {
		return store.KeySpec{}, gateway.Unauthorized("the keychain of this placeholder was deleted or its token rotated")
	}
	g, err := st.GrantRecord(c.Keychain, c.Package) // read-only
	if err != nil {
		return store.KeySpec{}, forbidden("no_grant", "the keychain's grant for this placeholder's package was revoked")
	}
	if g.Epoch != c.GrantEpoch {
		return store.KeySpec{}, forbidden("no_grant", "the grant this placeholder was minted under was revoked or narrowed since")
	}
	pkg, err := st.PackageRecord(c.Package) // read-only
	if err != nil {
		return store.KeySpec{}, forbidden("package_gone", "the package of this placeholder is no longer registered")
	}
	if pkg.CodeEpoch != c.CodeEpoch || !strings.HasPrefix(pkg.SHA256, c.SHA256Prefix) || !strings.HasPrefix(g.SHA256, c.SHA256Prefix) {
		return store.KeySpec{}, forbidden("stale_grant", "the package's code changed since this placeholder was minted")
	}
	keys := pkg.Keys
	if c.App {
		keys = pkg.AppKeys
	}
	if c.KeyIndex >= len(keys) {
		return store.KeySpec{}, forbidden("stale_grant", "the package's keys changed since this placeholder was minted")
	}
	spec := keys[c.KeyIndex]
	if !c.App && !slices.Contains(g.Keys, spec.Name) {
		return store.KeySpec{}, forbidden("not_approved", fmt.Sprintf("key %s is no longer approved for this package", spec.Name))
	}
	return spec, nil
}

func forbidden(reason, detail string) *gateway.Problem {
	return gateway.NewProblem(http.StatusForbidden, reason, detail)
}
