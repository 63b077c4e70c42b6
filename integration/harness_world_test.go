package integration

// The common setup through the API: keychain, secret, package, grant,
// an invocation token, and the world that has them all.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// keySpec is one key of a test manifest.
type keySpec struct {
	Name        string   `json:"name"`
	Required    bool     `json:"required"`
	Description string   `json:"description,omitempty"`
	Hosts       []string `json:"hosts,omitempty"`
	Placement   any      `json:"placement,omitempty"`
}

// testManifest is a package manifest.
type testManifest struct {
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	SHA256   string    `json:"sha256"`
	Host     string    `json:"host"`
	Upstream string    `json:"upstream"`
	Keys     []keySpec `json:"keys,omitempty"`
	AppKeys  []keySpec `json:"app_keys,omitempty"`
}

// apiKeyManifest is a package that requires API_KEY for 127.0.0.1.
func apiKeyManifest(name, host, upstream string) testManifest {
	return testManifest{Name: name, Version: "1.0.0", SHA256: sha256Hex(name + "/v1"), Host: host, Upstream: upstream,
		Keys: []keySpec{{Name: "API_KEY", Required: true, Description: "Key for the test API.", Hosts: []string{"127.0.0.1"}}}}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// newKeychain creates a keychain through the API and returns its id and
// token.
func (in *Instance) newKeychain(t testing.TB, owner string) (id, token string) {
	t.Helper()
	r := in.mustAPI(t, http.StatusCreated, "POST", "/v1/keychains", map[string]string{"owner": owner})
	var kc struct{ ID, Token string }
	if err := json.Unmarshal(r.Body, &kc); err != nil || kc.ID == "" || kc.Token == "" {
		t.Fatalf("create keychain: %v: %s", err, r)
	}
	noteSensitive(kc.Token)
	return kc.ID, kc.Token
}

// setSecret stores a secret through the API.
func (in *Instance) setSecret(t testing.TB, kc, name, value string, hosts ...string) {
	t.Helper()
	if hosts == nil {
		hosts = []string{"127.0.0.1"}
	}
	noteSensitive(value)
	in.mustAPI(t, http.StatusNoContent, "PUT", "/v1/keychains/"+kc+"/secrets/"+name,
		map[string]any{"value": value, "allowed_hosts": hosts})
}

// putPackage registers (or updates) a package.
func (in *Instance) putPackage(t testing.TB, m testManifest) {
	t.Helper()
	r := in.callAPI(t, "PUT", "/v1/packages/"+m.Name, m)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("put package %s: %s", m.Name, r)
	}
}

// grant approves keys of package pkg for keychain kc.
func (in *Instance) grant(t testing.TB, kc, pkg string, keys ...string) {
	t.Helper()
	if keys == nil {
		keys = []string{}
	}
	in.mustAPI(t, http.StatusOK, "PUT", "/v1/keychains/"+kc+"/grants/"+pkg, map[string]any{"keys": keys})
}

// mintInvocation calls package host as an agent on a path of its own, and
// returns the invocation token that the package's code (pkgCode, a
// recording Upstream) received for that call.
func (in *Instance) mintInvocation(t testing.TB, pkgCode *Upstream, host, kcToken string) string {
	t.Helper()
	path := "/mint/" + RandomToken(t, "")
	r := in.callIngress(t, host, kcToken, "GET", path, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("ingress to %s for an invocation token: %s", host, r)
	}
	tok, received := receivedInvocation(pkgCode, path)
	switch {
	case !received:
		t.Fatalf("the package's code did not receive %s", path)
	case tok == "" || tok == kcToken:
		t.Fatalf("the package's code got no invocation token")
	}
	return tok
}

// mintInvocationOK is mintInvocation that returns "" on a refusal, for
// polling while a node recovers.
func (in *Instance) mintInvocationOK(pkgCode *Upstream, host, kcToken string) string {
	path := "/mint/" + randomHex(8)
	r, err := tryHTTP(httpClient, "GET", in.IngressURL+path, in.ingressHost(host), bearer(kcToken), nil)
	if err != nil || r.Status != http.StatusOK {
		return ""
	}
	tok, _ := receivedInvocation(pkgCode, path)
	return tok
}

// receivedInvocation is the bearer token the package's code received
// with its request for path, noted as sensitive; received is false when
// no such request came.
func receivedInvocation(pkgCode *Upstream, path string) (tok string, received bool) {
	for _, req := range pkgCode.Requests() {
		if req.Path == path {
			tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
			if !ok {
				return "", true
			}
			noteSensitive(tok)
			return tok, true
		}
	}
	return "", false
}

// world is an instance with one keychain whose API_KEY is granted to one
// package (@it/tools at host "tools", its code a recording Upstream).
type world struct {
	in      *Instance
	pkgCode *Upstream
	kc      string
	token   string // keychain token
	value   string // the API_KEY value
	pkgName string
	host    string
}

// newWorld starts keygate from cfg and sets up the world's keychain.
func newWorld(t testing.TB, cfg Config) *world {
	t.Helper()
	w := &world{pkgCode: NewUpstream(t, nil), pkgName: "@it/tools", host: "tools"}
	w.in = Start(t, cfg)
	w.kc, w.token = w.in.newKeychain(t, "world")
	w.value = RandomToken(t, "sk_world_")
	w.in.setSecret(t, w.kc, "API_KEY", w.value)
	w.in.putPackage(t, apiKeyManifest(w.pkgName, w.host, w.pkgCode.URL))
	w.in.grant(t, w.kc, w.pkgName, "API_KEY")
	return w
}

// healthy checks that keygate still serves: the API answers with the
// world's keychain, the package is reached through ingress, and the value
// reaches the default upstream through egress.
func (w *world) healthy(t testing.TB) {
	t.Helper()
	if !w.in.Running() {
		t.Fatal("keygate is not running")
	}
	w.in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+w.kc, nil)
	inv := w.in.mintInvocation(t, w.pkgCode, w.host, w.token)
	r := w.in.callEgress(t, inv, "GET", "/api/health", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("egress health check: %s", r)
	}
	if w.in.Upstream != nil {
		if got := w.in.Upstream.Last(t).Header.Get("Authorization"); got != "Bearer "+w.value {
			t.Fatal("egress health check: the upstream did not get the secret as configured")
		}
	}
}
