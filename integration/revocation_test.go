package integration

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestRevocation checks that each way of taking access away works on the
// very next request, at ingress and at egress with an invocation token
// issued before, with no reload: token rotation, grant deletion, removal
// of a key from a grant, a change of the package's sha256, and (beyond the
// issue) deletion of the keychain and of the secret.
func TestRevocation(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})

	// setup gives each case its own package and keychain, a working
	// ingress and egress call, and the invocation token of that call.
	type fixture struct {
		code     *Upstream
		m        testManifest
		kc, tok  string
		inv      string
		apiCalls int
	}
	setup := func(t *testing.T, name string) *fixture {
		f := &fixture{code: NewUpstream(t, nil)}
		f.m = testManifest{Name: "@rev/" + name, Version: "1.0.0", SHA256: sha256Hex(name), Host: name, Upstream: f.code.URL,
			Keys: []keySpec{
				{Name: "API_KEY", Required: false, Description: "The key egress injects.", Hosts: []string{"127.0.0.1"}},
				{Name: "OTHER_KEY", Required: true, Description: "Another key.", Hosts: []string{"127.0.0.1"}},
			}}
		in.putPackage(t, f.m)
		f.kc, f.tok = in.newKeychain(t, name)
		in.setSecret(t, f.kc, "API_KEY", RandomToken(t, "v_"))
		in.setSecret(t, f.kc, "OTHER_KEY", RandomToken(t, "v_"))
		in.grant(t, f.kc, f.m.Name, "API_KEY", "OTHER_KEY")
		f.inv = in.mintInvocation(t, f.code, name, f.tok)
		if r := in.callEgress(t, f.inv, "GET", "/api/before", nil); r.Status != http.StatusOK {
			t.Fatalf("egress before revocation: %s", r)
		}
		return f
	}
	// refused checks that neither ingress nor egress (with the earlier
	// invocation token) gets through any more.
	refused := func(t *testing.T, f *fixture, ingressStatus int, ingressReason string, egressStatus int, egressReason string) {
		t.Helper()
		before := f.code.Count()
		wantProblem(t, "ingress", in.callIngress(t, f.m.Host, f.tok, "GET", "/after", nil), ingressStatus, ingressReason)
		if f.code.Count() != before {
			t.Error("ingress: a revoked call reached the package's code")
		}
		wantProblem(t, "egress with an earlier invocation token", in.callEgress(t, f.inv, "GET", "/api/after", nil), egressStatus, egressReason)
	}

	t.Run("token rotation", func(t *testing.T) {
		t.Parallel()
		f := setup(t, "rotation")
		r := in.mustAPI(t, http.StatusOK, "POST", "/v1/keychains/"+f.kc+"/token", nil)
		var rot struct{ Token string }
		if err := json.Unmarshal(r.Body, &rot); err != nil || rot.Token == "" {
			t.Fatalf("rotate: %v", err)
		}
		noteSensitive(rot.Token)
		refused(t, f, http.StatusUnauthorized, "unauthorized", http.StatusUnauthorized, "unauthorized")
		// The new token works, and its invocation tokens too.
		inv := in.mintInvocation(t, f.code, f.m.Host, rot.Token)
		if r := in.callEgress(t, inv, "GET", "/api/new", nil); r.Status != http.StatusOK {
			t.Errorf("egress with the new token's invocation token: %s", r)
		}
	})

	t.Run("grant deletion", func(t *testing.T) {
		t.Parallel()
		f := setup(t, "deletion")
		in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+f.kc+"/grants/"+f.m.Name, nil)
		refused(t, f, http.StatusForbidden, "no_grant", http.StatusForbidden, "no_grant")
	})

	t.Run("key removed from grant", func(t *testing.T) {
		t.Parallel()
		f := setup(t, "narrowed")
		in.grant(t, f.kc, f.m.Name, "OTHER_KEY")
		// Ingress still works (API_KEY is optional), without API_KEY.
		inv := in.mintInvocation(t, f.code, f.m.Host, f.tok)
		if k := f.code.Last(t).Header.Get("Keygate-Keys"); k != "OTHER_KEY" {
			t.Errorf("Keygate-Keys after narrowing: %q", k)
		}
		wantProblem(t, "egress with the earlier token", in.callEgress(t, f.inv, "GET", "/api/after", nil), http.StatusForbidden, "not_approved")
		wantProblem(t, "egress with a new token", in.callEgress(t, inv, "GET", "/api/after", nil), http.StatusForbidden, "not_approved")
		// A required key removed: ingress 428.
		in.grant(t, f.kc, f.m.Name, "API_KEY")
		wantProblem(t, "ingress without the required key", in.callIngress(t, f.m.Host, f.tok, "GET", "/", nil),
			http.StatusPreconditionRequired, "missing_keys")
		// Approved again: the earlier invocation token stays void
		// (revocation is final, issue 12); a new one works.
		in.grant(t, f.kc, f.m.Name, "API_KEY", "OTHER_KEY")
		wantProblem(t, "egress after approving again, earlier token", in.callEgress(t, f.inv, "GET", "/api/again", nil), http.StatusForbidden, "no_grant")
		if r := in.callEgress(t, in.mintInvocation(t, f.code, f.m.Host, f.tok), "GET", "/api/again", nil); r.Status != http.StatusOK {
			t.Errorf("egress after approving again, new token: %s", r)
		}
	})

	t.Run("package code change", func(t *testing.T) {
		t.Parallel()
		f := setup(t, "recoded")
		f.m.SHA256 = sha256Hex("recoded v2")
		f.m.Version = "2.0.0"
		in.putPackage(t, f.m)
		refused(t, f, http.StatusForbidden, "stale_grant", http.StatusForbidden, "stale_grant")
		// The owner approves the new code: new calls work, and a token
		// minted for the old code still does not.
		in.grant(t, f.kc, f.m.Name, "API_KEY", "OTHER_KEY")
		inv := in.mintInvocation(t, f.code, f.m.Host, f.tok)
		if r := in.callEgress(t, inv, "GET", "/api/v2", nil); r.Status != http.StatusOK {
			t.Errorf("egress for the approved new code: %s", r)
		}
		wantProblem(t, "egress with a token of the old code", in.callEgress(t, f.inv, "GET", "/api/old", nil), http.StatusForbidden, "stale_grant")
	})

	t.Run("keychain deletion", func(t *testing.T) {
		t.Parallel()
		f := setup(t, "gone")
		in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+f.kc, nil)
		refused(t, f, http.StatusUnauthorized, "unauthorized", http.StatusUnauthorized, "unauthorized")
		in.mustAPI(t, http.StatusNotFound, "GET", "/v1/keychains/"+f.kc+"/secrets", nil)
	})

	t.Run("package deletion", func(t *testing.T) {
		t.Parallel()
		f := setup(t, "unlisted")
		in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/packages/"+f.m.Name, nil)
		refused(t, f, http.StatusNotFound, "unknown_package", http.StatusForbidden, "")
	})

	t.Run("secret deletion", func(t *testing.T) {
		t.Parallel()
		f := setup(t, "unset")
		in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+f.kc+"/secrets/API_KEY", nil)
		wantProblem(t, "egress", in.callEgress(t, f.inv, "GET", "/api/after", nil), http.StatusPreconditionRequired, "missing_keys")
	})

}
