package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPackageLifecycle(t *testing.T) {
	s, clk := memStore(t)
	m := testManifest("@acme/tools", "Tools")
	created, err := s.PutPackage(m)
	if err != nil || !created {
		t.Fatalf("first put: %v %v", created, err)
	}
	if m.Host != "Tools" {
		t.Fatal("PutPackage normalised the caller's manifest")
	}
	got, err := s.GetPackage("@acme/tools")
	if err != nil || got.Host != "tools" || !got.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("get: %+v %v", got, err)
	}
	byHost, err := s.GetPackageByHost("TOOLS")
	if err != nil || byHost.Name != "@acme/tools" {
		t.Fatalf("by host: %+v %v", byHost, err)
	}
	// Changing a returned manifest does not change the stored one.
	byHost.Keys[0].Hosts[0] = "evil.example.com"
	if again, _ := s.GetPackageByHost("tools"); again.Keys[0].Hosts[0] != "api.stripe.com" {
		t.Fatal("cached manifest was mutated through a returned copy")
	}

	clk.Add(time.Minute)
	m.Version = "1.1.0"
	m.Host = "tools2"
	created, err = s.PutPackage(m)
	if err != nil || created {
		t.Fatalf("second put: %v %v", created, err)
	}
	_, err = s.GetPackageByHost("tools")
	wantErr(t, err, ErrNotFound)
	if p, _ := s.GetPackageByHost("tools2"); p.Version != "1.1.0" {
		t.Fatalf("host change: %+v", p)
	}

	// Host uniqueness across packages.
	_, err = s.PutPackage(testManifest("@other/pkg", "tools2"))
	wantErr(t, err, ErrConflict)
	if _, err := s.PutPackage(testManifest("@other/pkg", "tools")); err != nil {
		t.Fatal("freed host not reusable:", err)
	}
	list, err := s.ListPackages()
	if err != nil || len(list) != 2 || list[0].Name != "@acme/tools" {
		t.Fatalf("list: %+v %v", list, err)
	}

	for _, bad := range []string{"", "tools.x", "a_b", strings.Repeat("a", 64)} {
		_, err := s.GetPackageByHost(bad)
		wantErr(t, err, ErrNotFound)
	}
	_, err = s.GetPackage("nope")
	wantErr(t, err, ErrNotFound)
}

func TestPutPackageValidationWritesNothing(t *testing.T) {
	s, _ := memStore(t)
	for _, tc := range []struct {
		field string
		edit  func(m *Manifest)
	}{
		{"upstream", func(m *Manifest) { m.Upstream = "http://user:pass@h/" }},
		{"name", func(m *Manifest) { m.Name = "no-scope" }},
		{"sha256", func(m *Manifest) { m.SHA256 = "xyz" }},
		{"host", func(m *Manifest) { m.Host = "two.labels" }},
		{"version", func(m *Manifest) { m.Version = "" }},
		{"keys[1].name", func(m *Manifest) { m.Keys[1].Name = m.Keys[0].Name }},
		{"keys[0].hosts[0]", func(m *Manifest) { m.Keys[0].Hosts = []string{"*"} }},
		{"app_keys[0].name", func(m *Manifest) { m.AppKeys[0].Name = "BAD NAME" }},
	} {
		m := testManifest("@acme/tools", "tools")
		tc.edit(&m)
		_, err := s.PutPackage(m)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || strings.Contains(err.Error(), "pass") {
			t.Errorf("%s: err = %v", tc.field, err)
		}
	}
	if list, _ := s.ListPackages(); len(list) != 0 {
		t.Fatal("refused package written")
	}
	if _, err := s.GetPackageByHost("tools"); !errors.Is(err, ErrNotFound) {
		t.Fatal("refused package's host index written")
	}
}

func TestDeletePackageRemovesAppSecretsAndGrants(t *testing.T) {
	s, _ := memStore(t)
	a, b := mustKeychain(t, s), mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	mustPackage(t, s, "@acme/toolsx", "toolsx")
	s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte("w"))
	for _, kc := range []string{a.ID, b.ID} {
		for _, p := range []string{"@acme/tools", "@acme/toolsx"} {
			if _, err := s.PutGrant(kc, p, []string{"STRIPE_SECRET_KEY"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.GetGrant(a.ID, "@acme/tools") // warm the cache
	if err := s.DeletePackage("@acme/tools"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeletePackage("@acme/tools"), ErrNotFound)
	_, err := s.GetPackageByHost("tools")
	wantErr(t, err, ErrNotFound)
	for _, kc := range []string{a.ID, b.ID} {
		_, err := s.GetGrant(kc, "@acme/tools")
		wantErr(t, err, ErrNotFound)
		if _, err := s.GetGrant(kc, "@acme/toolsx"); err != nil {
			t.Fatal("grant on another package removed")
		}
	}
	if ok, _ := s.HasAppSecret("@acme/tools", "WEBHOOK_SECRET"); ok {
		t.Fatal("app secret survived")
	}
	// Re-creating the package does not resurrect old grants.
	mustPackage(t, s, "@acme/tools", "tools")
	if gs, _ := s.ListGrants(a.ID); len(gs) != 1 {
		t.Fatalf("grants after re-create: %+v", gs)
	}
}

// Deleting a package with more grants than one batch holds finishes.
func TestDeletePackageManyGrants(t *testing.T) {
	s, _ := memStore(t)
	mustPackage(t, s, "@acme/tools", "tools")
	n := purgeBatch*2 + 7
	for range n {
		kc := mustKeychain(t, s)
		if _, err := s.PutGrant(kc.ID, "@acme/tools", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeletePackage("@acme/tools"); err != nil {
		t.Fatal(err)
	}
	left := 0
	s.be.View(context.Background(), func(r reader) error {
		for _, p := range []string{pfxGrant, pfxGrantByPkg} {
			r.Iterate(iterOptions{Prefix: []byte(p), KeysOnly: true}, func(_, _ []byte) error { left++; return nil })
		}
		return nil
	})
	if left != 0 {
		t.Fatalf("%d grant keys left", left)
	}
}
