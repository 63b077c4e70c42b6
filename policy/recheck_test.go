package policy

import (
	"testing"

	"github.com/keygate/keygate/store"
)

// TestRecheck walks every way a minted invocation token stops being usable,
// in the order a request meets them, and checks the reason and what the
// denial names.
func TestRecheck(t *testing.T) {
	pkg := testPackage()
	pkg.CodeEpoch = 3
	claims := func() *InvocationClaims {
		return &InvocationClaims{Invocation: Invocation{
			Keychain: "kc_x", Package: pkg.Name, SHA256: shaNew, KeychainVersion: 2, GrantEpoch: 5, CodeEpoch: 3,
			Keys: []string{"STRIPE_SECRET_KEY"}, AppKeys: []string{"WEBHOOK_SIGNING_SECRET"},
		}}
	}
	standing := func() Standing {
		g := grantFor(shaNew, "STRIPE_SECRET_KEY")
		g.Epoch = 5
		p := *pkg
		return Standing{Keychain: &store.Keychain{ID: "kc_x", TokenVersion: 2}, Grant: g, Package: &p}
	}
	for _, tc := range []struct {
		name   string
		change func(*InvocationClaims, *Standing)
		key    string
		app    bool
		reason DenyReason
	}{
		{"user key stands", nil, "STRIPE_SECRET_KEY", false, ""},
		{"app key stands", nil, "WEBHOOK_SIGNING_SECRET", true, ""},
		{"nil claims", func(c *InvocationClaims, s *Standing) { *c = InvocationClaims{} }, "STRIPE_SECRET_KEY", false, TokenRevoked},
		{"keychain deleted", func(c *InvocationClaims, s *Standing) { s.Keychain = nil }, "STRIPE_SECRET_KEY", false, TokenRevoked},
		{"token rotated", func(c *InvocationClaims, s *Standing) { s.Keychain.TokenVersion = 3 }, "STRIPE_SECRET_KEY", false, TokenRevoked},
		{"grant revoked", func(c *InvocationClaims, s *Standing) { s.Grant = nil }, "STRIPE_SECRET_KEY", false, NoGrant},
		{"grant of another package", func(c *InvocationClaims, s *Standing) { s.Grant.Package = "@other/p" }, "STRIPE_SECRET_KEY", false, NoGrant},
		{"grant for other code", func(c *InvocationClaims, s *Standing) { s.Grant.SHA256 = shaOld }, "STRIPE_SECRET_KEY", false, StaleGrant},
		{"key not in token", nil, "GITHUB_TOKEN", false, NotApproved},
		{"app key asked as user key", nil, "WEBHOOK_SIGNING_SECRET", false, NotApproved},
		{"user key asked as app key", nil, "STRIPE_SECRET_KEY", true, NotApproved},
		{"key removed from grant", func(c *InvocationClaims, s *Standing) { s.Grant.Keys = nil }, "STRIPE_SECRET_KEY", false, NotApproved},
		{"grant remade since", func(c *InvocationClaims, s *Standing) { s.Grant.Epoch = 6 }, "STRIPE_SECRET_KEY", false, NoGrant},
		{"package gone", func(c *InvocationClaims, s *Standing) { s.Package = nil }, "STRIPE_SECRET_KEY", false, PackageGone},
		{"code changed", func(c *InvocationClaims, s *Standing) { s.Package.SHA256 = shaOld }, "STRIPE_SECRET_KEY", false, StaleGrant},
		{"code epoch moved", func(c *InvocationClaims, s *Standing) { s.Package.CodeEpoch = 4 }, "STRIPE_SECRET_KEY", false, StaleGrant},
		{"no longer requested", func(c *InvocationClaims, s *Standing) { s.Package.Keys = s.Package.Keys[1:] }, "STRIPE_SECRET_KEY", false, NotRequested},
		{"app key no longer requested", func(c *InvocationClaims, s *Standing) { s.Package.AppKeys = s.Package.AppKeys[1:] }, "WEBHOOK_SIGNING_SECRET", true, NotRequested},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := claims(), standing()
			if tc.change != nil {
				tc.change(c, &s)
			}
			spec, d := Recheck(c, s, tc.key, tc.app)
			if tc.reason == "" {
				if d != nil || spec.Name != tc.key {
					t.Fatalf("denied %v, spec %q", d, spec.Name)
				}
				return
			}
			if d == nil || d.Reason != tc.reason {
				t.Fatalf("got %#v, want %s", d, tc.reason)
			}
			if tc.reason == TokenRevoked {
				return
			}
			if d.Keychain != "kc_x" || d.Package != pkg.Name || d.Key != tc.key || d.Detail == "" {
				t.Fatalf("denial does not say where: %#v", d)
			}
			if tc.reason == StaleGrant && (d.GrantedSHA == "" || d.CurrentSHA == "") {
				t.Fatalf("stale_grant without both hashes: %#v", d)
			}
			if tc.reason == NotRequested && len(d.Requested) == 0 {
				t.Fatalf("not_requested lists nothing: %#v", d)
			}
		})
	}
}
