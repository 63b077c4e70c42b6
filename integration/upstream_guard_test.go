package integration

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestUpstreamAddressesGuarded: a manifest cannot point keygate at a
// metadata service, and a site that allows public upstreams only refuses
// one that is (or resolves to) loopback, before anything is sent.
func TestUpstreamAddressesGuarded(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{ExtraPorts: 1, ExtraSites: `
http://*.public.test:{{index .Extra 0}} {
	bind 127.0.0.1
	keygate_package {
		suffix public.test
		allow_upstreams public
	}
}`})
	for _, up := range []string{"http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/", "http://metadata.google.internal/", "http://0.0.0.0:80/"} {
		m := apiKeyManifest("@it/meta", "meta", up)
		r := in.callAPI(t, "PUT", "/v1/packages/"+m.Name, m)
		p := wantProblem(t, "upstream "+up, r, http.StatusBadRequest, "invalid")
		if p.Field != "upstream" {
			t.Errorf("upstream %s: field %q", up, p.Field)
		}
	}

	// keygate's own sites are never a package's code.
	kcSelf, tokSelf := in.newKeychain(t, "self")
	for i, up := range []string{in.EgressURL, in.APIURL} {
		m := apiKeyManifest("@it/self"+strconv.Itoa(i), "self"+strconv.Itoa(i), up)
		in.putPackage(t, m)
		in.setSecret(t, kcSelf, "API_KEY", RandomToken(t, "sk_"), "127.0.0.1")
		in.grant(t, kcSelf, m.Name, "API_KEY")
		r := in.callIngress(t, m.Host, tokSelf, "GET", "/x", nil)
		wantProblem(t, "upstream "+up+" (keygate itself)", r, http.StatusForbidden, "upstream_not_allowed")
	}

	code := NewUpstream(t, nil)
	port := code.Addr[strings.LastIndex(code.Addr, ":")+1:]
	kc, tok := in.newKeychain(t, "guard")
	for i, up := range []string{code.URL, "http://localhost:" + port} {
		m := apiKeyManifest("@it/local"+strconv.Itoa(i), "local"+strconv.Itoa(i), up)
		in.putPackage(t, m)
		in.setSecret(t, kc, "API_KEY", RandomToken(t, "sk_"), "127.0.0.1")
		in.grant(t, kc, m.Name, "API_KEY")
		// The default site allows the package's code on loopback.
		if r := in.callIngress(t, m.Host, tok, "GET", "/x", nil); r.Status != http.StatusOK {
			t.Fatalf("default site, upstream %s: %s", up, r)
		}
		before := code.Count()
		host := m.Host + ".public.test:" + strconv.Itoa(in.Ports.Extra[0])
		r := sendT(t, "GET", "http://127.0.0.1:"+strconv.Itoa(in.Ports.Extra[0])+"/x", host, bearer(tok), nil)
		wantProblem(t, "public-only site, upstream "+up, r, http.StatusForbidden, "upstream_not_allowed")
		if code.Count() != before {
			t.Errorf("upstream %s: the refused request reached the package's code", up)
		}
	}
}
