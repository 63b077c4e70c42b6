package policy

import (
	"errors"
	"slices"

	"github.com/keygate/keygate/store"
)

// DenyReason is a short machine word saying why access was refused. It goes
// into problem responses and audit events as it is.
type DenyReason string

// The reasons a Denial can carry. gateway's problem registry gives each its
// status and the members its answers carry.
const (
	NoGrant        DenyReason = "no_grant"         // the keychain never approved the package, or revoked or narrowed the grant
	StaleGrant     DenyReason = "stale_grant"      // approved for another sha256 of its code
	MissingKeys    DenyReason = "missing_keys"     // a required key is not approved or has no value
	NotRequested   DenyReason = "not_requested"    // a grant or a route names a key the package did not request
	NotApproved    DenyReason = "not_approved"     // an egress route's key is not in the invocation token
	HostNotAllowed DenyReason = "host_not_allowed" // the host dialed is not among the key's hosts
	PackageGone    DenyReason = "package_gone"     // the token's package is no longer registered
	TokenRevoked   DenyReason = "unauthorized"     // the token's keychain was deleted or its token rotated
)

// Denial is a refusal with the details a caller needs to explain it. Its
// Error() holds none of them: names and hashes go out only through the
// fields, where the caller chooses how to show them.
type Denial struct {
	Reason                 DenyReason
	Keychain               string // when known, so that the answer can say where to fix it
	Package                string
	GrantedSHA, CurrentSHA string          // stale_grant
	Missing                []store.KeySpec // missing_keys, in manifest order
	Key                    string          // not_requested, not_approved, host_not_allowed, missing_keys at egress
	Requested              []string        // not_requested: the keys the package does request
	// Detail, when set, is the sentence an answer gives instead of Error():
	// more precise, and it may name keys and hosts (never a value).
	Detail string
}

// Error returns a sentence that names no package, hash, key or value.
func (d *Denial) Error() string {
	switch d.Reason {
	case NoGrant:
		return "the keychain has not approved this package"
	case StaleGrant:
		return "the package's code changed since the keychain approved it; approve it again"
	case MissingKeys:
		return "the package needs keys that are not approved or have no value"
	case NotRequested:
		return "the package did not request this key"
	case NotApproved:
		return "this call may not use that key"
	case HostNotAllowed:
		return "the key may not be sent to this host"
	case PackageGone:
		return "the package of this token is no longer registered"
	case TokenRevoked:
		return "the keychain of this token was deleted or its token rotated"
	default:
		return "access denied"
	}
}

// errNoPackage is what Decide says when it is asked about no package at all:
// a caller bug, refused rather than guessed at.
var errNoPackage = errors.New("policy: no package to decide on")

// Decide returns the user keys the package may use in this keychain, sorted:
// those the manifest requests AND the grant approves AND that have a value
// (has reports that; it is asked only about approved keys). grant may be
// nil. It refuses with a *Denial when there is no grant or the grant is for
// another package (no_grant), when the grant was made for other code
// (stale_grant), or when a required key is not approved or has no value
// (missing_keys, listing every such key). Keys the
// grant still approves but the package no longer requests are ignored; an
// optional key that is approved but has no value is just not usable.
func Decide(pkg *store.Manifest, grant *store.Grant, has func(name string) bool) (usable []string, err error) {
	if pkg == nil {
		return nil, errNoPackage
	}
	if grant == nil || grant.Package != pkg.Name {
		return nil, &Denial{Reason: NoGrant, Package: pkg.Name}
	}
	if grant.SHA256 == "" || grant.SHA256 != pkg.SHA256 {
		return nil, &Denial{Reason: StaleGrant, Package: pkg.Name, GrantedSHA: grant.SHA256, CurrentSHA: pkg.SHA256}
	}
	return usableKeys(pkg, pkg.Keys, func(name string) bool {
		return slices.Contains(grant.Keys, name) && has != nil && has(name)
	})
}

// usableKeys returns the names of specs for which ok holds, sorted, or a
// missing_keys denial listing every required spec for which it does not.
func usableKeys(pkg *store.Manifest, specs []store.KeySpec, ok func(name string) bool) ([]string, error) {
	var usable []string
	var missing []store.KeySpec
	for _, k := range specs {
		if !ok(k.Name) {
			if k.Required {
				missing = append(missing, k)
			}
			continue
		}
		if usable == nil {
			usable = make([]string, 0, len(specs))
		}
		if !slices.Contains(usable, k.Name) {
			usable = append(usable, k.Name)
		}
	}
	if len(missing) > 0 {
		return nil, &Denial{Reason: MissingKeys, Package: pkg.Name, Missing: missing}
	}
	slices.Sort(usable)
	return usable, nil
}

// CheckGrantKeys refuses, with a not_requested *Denial naming the first
// such key in Key, a grant that approves a key the package did not request.
// Approving only what was requested keeps the opt-in double.
func CheckGrantKeys(pkg *store.Manifest, keys []string) error {
	if pkg == nil {
		return errNoPackage
	}
	for _, name := range keys {
		if _, ok := pkg.Key(name); !ok {
			return notRequested(pkg, name)
		}
	}
	return nil
}

// CheckUsable refuses, with a not_approved *Denial, an egress call for a
// user key that the invocation token does not carry.
func CheckUsable(claims *InvocationClaims, name string) error {
	if claims == nil || !claims.HasKey(name) {
		return notApproved(claims, name)
	}
	return nil
}

func notApproved(claims *InvocationClaims, name string) *Denial {
	d := &Denial{Reason: NotApproved, Key: name}
	if claims != nil {
		d.Package = claims.Package
	}
	return d
}

// notRequested names the key and lists those the package requests, so that
// a mistyped name shows its right spelling.
func notRequested(pkg *store.Manifest, name string) *Denial {
	d := &Denial{Reason: NotRequested, Package: pkg.Name, Key: name, Requested: []string{}}
	for _, k := range pkg.Keys {
		d.Requested = append(d.Requested, k.Name)
	}
	return d
}
