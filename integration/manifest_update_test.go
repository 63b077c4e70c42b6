package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestManifestUpdateUnderActiveGrant: a manifest update that keeps the
// sha256 but drops an OAuth key's oauth block suspends the grant and
// voids the invocation tokens minted under it; approved again, egress
// still never sends the stored token record as a bearer value.
func TestManifestUpdateUnderActiveGrant(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t)
	w.connect(t)
	inv := w.in.mintInvocation(t, w.pkgCode, "mail", w.kcToken)
	if r, seen := w.egress(t, inv); r.Status != http.StatusOK || !strings.HasPrefix(seen, "Bearer at-") {
		t.Fatalf("egress before the update: %s", r)
	}

	m := w.manifest()
	key := m["keys"].([]any)[0].(map[string]any)
	delete(key, "oauth")
	if r := w.api(t, "PUT", "/v1/packages/"+oauthPkg, m); r.Status != http.StatusOK {
		t.Fatalf("manifest update: %s", r)
	}
	r := w.in.callIngress(t, "mail", w.kcToken, "GET", "/after", nil)
	p := wantProblem(t, "ingress after the manifest changed", r, http.StatusForbidden, "stale_grant")
	if p.SetURL == "" {
		t.Error("stale_grant without where to approve again")
	}
	r, _ = w.egress(t, inv)
	wantProblem(t, "egress with a token minted before the change", r, http.StatusForbidden, "stale_grant")
	g := w.api(t, "GET", "/v1/keychains/"+w.kc+"/grants", nil)
	if !strings.Contains(string(g.Body), `"status":"stale"`) {
		t.Errorf("the grant listing does not say stale: %s", g.Body)
	}

	// The owner approves the changed manifest: the OAuth record is still
	// not a value to inject.
	w.in.grant(t, w.kc, oauthPkg, "MAIL_TOKEN")
	inv = w.in.mintInvocation(t, w.pkgCode, "mail", w.kcToken)
	r, _ = w.egress(t, inv)
	// Refused before anything is dialed: the upstream's echo is absent.
	wantProblem(t, "egress of an OAuth record as a plain key", r, http.StatusConflict, "secret_kind")
	if r.Header.Get("X-Seen-Authorization-Hex") != "" {
		t.Fatal("the upstream was called with the stored token record")
	}
}
