package policy

import (
	"testing"

	"github.com/keygate/keygate/store"
)

// The store validates manifests against its own list of schemes (it may
// not import policy); both must name the same schemes.
func TestWebhookSchemesAgreeWithStore(t *testing.T) {
	for _, s := range store.WebhookSchemes {
		if !ValidWebhookScheme(s) {
			t.Errorf("store accepts scheme %q, which policy cannot verify", s)
		}
	}
	for _, s := range []string{WebhookSchemeStripe, WebhookSchemeGitHub, WebhookSchemeSlack, WebhookSchemeStandard} {
		found := false
		for _, t := range store.WebhookSchemes {
			found = found || t == s
		}
		if !found {
			t.Errorf("policy verifies scheme %q, which the store refuses", s)
		}
	}
}
