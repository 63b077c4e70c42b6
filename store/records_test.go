package store

import (
	"strings"
	"testing"
)

// The shared records of the hot path are the cached ones: the same record
// until a write replaces it, never the copies Get* hand out, and a write is
// seen by the next read.
func TestSharedRecords(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	pkg := mustPackage(t, s, "@acme/tools", "tools")
	if _, err := s.PutGrant(kc.ID, pkg.Name, []string{"STRIPE_SECRET_KEY"}); err != nil {
		t.Fatal(err)
	}

	p1, err := s.PackageRecord(pkg.Name)
	if err != nil {
		t.Fatal(err)
	}
	byHost, err := s.PackageRecordByHost("TOOLS")
	if err != nil || byHost.Name != p1.Name || byHost.SHA256 != p1.SHA256 {
		t.Fatalf("by host: %+v %v, want %s", byHost, err, p1.Name)
	}
	// The same record, unless on PostgreSQL a notification of the writes
	// above arrived in between and a fresh one was cached.
	if !onPostgres(t) && byHost != p1 {
		t.Fatalf("by host: %p, want the cached record %p", byHost, p1)
	}
	g1, err := s.GrantRecord(kc.ID, pkg.Name)
	if err != nil {
		t.Fatal(err)
	}
	// A copy handed out is the caller's to change.
	cp, _ := s.GetPackage(pkg.Name)
	cp.Keys[0].Hosts[0] = "evil.example"
	gc, _ := s.GetGrant(kc.ID, pkg.Name)
	gc.Keys[0] = "OTHER"
	if p1.Keys[0].Hosts[0] != "api.stripe.com" || g1.Keys[0] != "STRIPE_SECRET_KEY" {
		t.Fatal("a copy from Get* shares memory with the cached record")
	}

	m := testManifest(pkg.Name, "tools")
	m.SHA256 = strings.Repeat("cd", 32)
	if _, err := s.PutPackage(m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutGrant(kc.ID, pkg.Name, []string{"OPTIONAL_KEY"}); err != nil {
		t.Fatal(err)
	}
	p2, _ := s.PackageRecord(pkg.Name)
	g2, _ := s.GrantRecord(kc.ID, pkg.Name)
	if p2.SHA256 != m.SHA256 || g2.Keys[0] != "OPTIONAL_KEY" || len(g2.Keys) != 1 {
		t.Fatalf("records after writes: sha %s, keys %v", p2.SHA256, g2.Keys)
	}
	// The records read before stay as they were read: writes replace, never change in place.
	if p1.SHA256 != pkg.SHA256 || g1.Keys[0] != "STRIPE_SECRET_KEY" {
		t.Fatal("a write changed a record already handed out")
	}
	if _, err := s.GrantRecord(kc.ID, "@acme/none"); err == nil {
		t.Fatal("no grant: want not found")
	}
	if _, err := s.PackageRecordByHost("not a label"); err == nil {
		t.Fatal("bad host: want not found")
	}
}

// The data key AEAD a cached record keeps serves only the keyring it was
// unwrapped under: a keyring without that master key no longer opens the
// value, cached or not, and a value rewritten gets a record of its own.
func TestDataKeyCacheFollowsKeyring(t *testing.T) {
	s, _ := memStore(t)
	s.kr = testKeyring(t, "k1")
	kc := mustKeychain(t, s)
	if _, err := s.PutSecret(kc.ID, "API_KEY", []byte("sk_live_first"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	read := func() (string, error) {
		var got string
		err := s.OpenSecret(kc.ID, "API_KEY", func(_ SecretMeta, v []byte) error { got = string(v); return nil })
		return got, err
	}
	for range 2 { // the second read is served by the cached data key
		if got, err := read(); err != nil || got != "sk_live_first" {
			t.Fatalf("read: %q %v", got, err)
		}
	}
	s.kr = testKeyring(t, "k2") // k1 gone, in memory (SetKeyring would refuse it: the key check)
	if _, err := read(); err == nil {
		t.Fatal("a keyring without the record's master key still opened it through the cached data key")
	}
	s.kr = testKeyring(t, "k1")
	if _, err := s.PutSecret(kc.ID, "API_KEY", []byte("sk_live_second"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := read(); err != nil || got != "sk_live_second" {
		t.Fatalf("after a write: %q %v", got, err)
	}
}
