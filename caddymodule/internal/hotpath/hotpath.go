// Package hotpath builds the fixture of the flows' hot-path benchmarks: a
// keygate app over a real Badger directory with one keychain, one secret,
// one package and its grant, and the audit queue running, without Caddy's
// servers around it.
package hotpath

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// Fixture is what a benchmark needs: the app, a keychain token for
// ingress and an invocation token for egress.
type Fixture struct {
	App   *gateway.App
	KC    store.Keychain
	Token string // keychain token
	Inv   string // invocation token for @acme/tools with API_KEY
}

// New builds the fixture. With persistAudit the audit batch writer also
// persists every event to Badger meanwhile (on the other core, off the
// request path); without, batches are discarded.
func New(b *testing.B, persistAudit bool) *Fixture {
	b.Helper()
	mk, err := store.GenerateMasterKey("k1")
	if err != nil {
		b.Fatal(err)
	}
	kr, err := store.NewKeyring(mk)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: b.TempDir(), Keyring: kr})
	if err != nil {
		b.Fatal(err)
	}
	key := store.SigningKey{ID: "sk_bench", Secret: make([]byte, 32), CreatedAt: time.Now()}
	rand.Read(key.Secret)
	tokens, err := policy.NewTokens([]store.SigningKey{key}, policy.TokenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	app, stop := gateway.NewStandalone(st, tokens, persistAudit)
	b.Cleanup(stop)

	kc, err := st.CreateKeychain("alice", "", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.PutSecret(kc.ID, "API_KEY", []byte("sk_live_0123456789abcdef0123456789"), store.SecretOptions{AllowedHosts: []string{"api.example.com"}}); err != nil {
		b.Fatal(err)
	}
	m := store.Manifest{
		Name: "@acme/tools", Version: "1.0.0", Host: "tools", Upstream: "http://127.0.0.1:9001",
		SHA256: "9f2c4d1e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c",
		Keys:   []store.KeySpec{{Name: "API_KEY", Required: true, Hosts: []string{"api.example.com"}}},
	}
	if _, err := st.PutPackage(m); err != nil {
		b.Fatal(err)
	}
	g, err := st.PutGrant(kc.ID, m.Name, []string{"API_KEY"})
	if err != nil {
		b.Fatal(err)
	}
	pkg, err := st.GetPackage(m.Name)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := tokens.IssueKeychainToken(kc)
	if err != nil {
		b.Fatal(err)
	}
	inv, err := tokens.MintInvocationToken(policy.Invocation{Keychain: kc.ID, Package: m.Name, SHA256: m.SHA256, KeychainVersion: kc.TokenVersion,
		GrantEpoch: g.Epoch, CodeEpoch: pkg.CodeEpoch, Keys: []string{"API_KEY"}})
	if err != nil {
		b.Fatal(err)
	}
	return &Fixture{App: app, KC: kc, Token: tok, Inv: inv}
}
