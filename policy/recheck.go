package policy

import (
	"fmt"
	"slices"

	"github.com/keygate/keygate/store"
)

// Standing is what the store holds now for an invocation token's keychain,
// grant and package; nil where there is none.
type Standing struct {
	Keychain *store.Keychain
	Grant    *store.Grant
	Package  *store.Manifest
}

// Recheck decides whether an invocation token may still use one of its
// package's keys (an app key when app is set), from what the store holds
// now, and returns the key's spec. It makes a revocation take effect on the
// next request, and for good: the token's keychain version, grant epoch and
// code must all still stand, so a grant deleted (or a key removed) and made
// again does not revive tokens minted before. Where the key may be sent is
// the caller's to check against spec.Hosts and the secret's allowed hosts.
// The spec's slices are the manifest's (the store's shared, read-only
// record on the hot path): read them, never change them.
func Recheck(c *InvocationClaims, now Standing, key string, app bool) (store.KeySpec, *Denial) {
	if c == nil || now.Keychain == nil || now.Keychain.TokenVersion != c.KeychainVersion {
		return store.KeySpec{}, &Denial{Reason: TokenRevoked}
	}
	deny := func(r DenyReason, detail string) (store.KeySpec, *Denial) {
		return store.KeySpec{}, &Denial{Reason: r, Keychain: c.Keychain, Package: c.Package, Key: key, Detail: detail}
	}
	g := now.Grant
	if g == nil || g.Package != c.Package {
		return deny(NoGrant, "the keychain's grant for this package was revoked")
	}
	if g.SHA256 != c.SHA256 {
		_, d := deny(StaleGrant, "the grant was made for other package code")
		d.GrantedSHA, d.CurrentSHA = g.SHA256, c.SHA256
		if now.Package != nil {
			d.CurrentSHA = now.Package.SHA256
		}
		return store.KeySpec{}, d
	}
	if app && !c.HasAppKey(key) || !app && !c.HasKey(key) {
		return deny(NotApproved, fmt.Sprintf("key %s is not among the keys this call may use", key))
	}
	if !app && !slices.Contains(g.Keys, key) {
		return deny(NotApproved, fmt.Sprintf("key %s is no longer approved for this package", key))
	}
	if g.Epoch != c.GrantEpoch {
		return deny(NoGrant, "the grant this token was minted under was revoked or narrowed since; a new call mints a new token")
	}
	pkg := now.Package
	if pkg == nil {
		return deny(PackageGone, "the package of this token is no longer registered")
	}
	if pkg.SHA256 != c.SHA256 || pkg.CodeEpoch != c.CodeEpoch {
		_, d := deny(StaleGrant, "the package's code changed since this token was minted; the owner must approve it again")
		d.GrantedSHA, d.CurrentSHA = g.SHA256, pkg.SHA256
		return store.KeySpec{}, d
	}
	spec, requested := sharedKey(pkg.Keys, key)
	if app {
		spec, requested = sharedKey(pkg.AppKeys, key)
	}
	if !requested {
		d := notRequested(pkg, key)
		if app {
			d.Requested = d.Requested[:0]
			for _, k := range pkg.AppKeys {
				d.Requested = append(d.Requested, k.Name)
			}
		}
		d.Keychain, d.Detail = c.Keychain, fmt.Sprintf("package %s does not request key %s", pkg.Name, key)
		return store.KeySpec{}, d
	}
	return spec, nil
}

// sharedKey is Manifest.Key without the deep copy: every call through
// egress asks, and only reads the answer.
func sharedKey(keys []store.KeySpec, name string) (store.KeySpec, bool) {
	for i := range keys {
		if keys[i].Name == name {
			return keys[i], true
		}
	}
	return store.KeySpec{}, false
}
