package store

import (
	"encoding/json"
	"testing"
)

// TestManifestUpdateUnderGrant: any change to what a grant approves
// leaves it stale (and moves the code epoch, voiding invocation tokens)
// though the sha256 stays; a change to nothing it approves does not.
func TestManifestUpdateUnderGrant(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	base := mustPackage(t, s, "@acme/tools", "tools")
	oauthKey := KeySpec{Name: "MAIL", Hosts: []string{"mail.example.com"},
		OAuth: &OAuthSpec{Provider: "p", ClientID: "CID", ClientSecret: "CSEC", Scopes: []string{"a", "b"}}}
	withOAuth := base.clone()
	withOAuth.Keys = append(withOAuth.Keys, oauthKey)
	withOAuth.AppKeys = append(withOAuth.AppKeys, KeySpec{Name: "CID"}, KeySpec{Name: "CSEC"})

	changes := []struct {
		name  string
		edit  func(m *Manifest)
		stale bool
	}{
		{"description", func(m *Manifest) { m.Keys[0].Description = "other words" }, false},
		{"version", func(m *Manifest) { m.Version = "1.0.1" }, false},
		{"hosts reordered", func(m *Manifest) { m.Keys[0].Hosts = []string{"b.example.com", "api.stripe.com"} }, false},
		{"key host added", func(m *Manifest) { m.Keys[0].Hosts = append(m.Keys[0].Hosts, "evil.example.com") }, true},
		{"key hosts dropped", func(m *Manifest) { m.Keys[0].Hosts = nil }, true},
		{"upstream", func(m *Manifest) { m.Upstream = "http://127.0.0.1:9002" }, true},
		{"key moved to app_keys", func(m *Manifest) {
			m.AppKeys = append(m.AppKeys, m.Keys[1])
			m.Keys = m.Keys[:1]
		}, true},
		{"oauth dropped", func(m *Manifest) { m.Keys[2].OAuth = nil }, true},
		{"oauth scope added", func(m *Manifest) { m.Keys[2].OAuth.Scopes = append(m.Keys[2].OAuth.Scopes, "c") }, true},
		{"oauth provider", func(m *Manifest) { m.Keys[2].OAuth.Provider = "q" }, true},
		{"placement body added", func(m *Manifest) { m.Keys[0].Placement = &Placement{Where: []string{"header", "body"}} }, true},
		{"preset moves hosts", func(m *Manifest) { m.Keys[1].Preset = "openai" }, true},
		{"webhook added", func(m *Manifest) {
			m.Webhooks = []WebhookSpec{{Name: "events", Path: "/hook", Scheme: "standard", Secret: "WEBHOOK_SECRET"}}
		}, true},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			start := withOAuth.clone()
			if c.name == "hosts reordered" {
				start.Keys[0].Hosts = []string{"api.stripe.com", "b.example.com"}
			}
			if _, err := s.PutPackage(start); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutGrant(kc.ID, base.Name, []string{"STRIPE_SECRET_KEY", "MAIL"}); err != nil {
				t.Fatal(err)
			}
			before := currentManifest(t, s, base.Name)
			g, _ := s.GetGrant(kc.ID, base.Name)
			if !g.Approves(&before) {
				t.Fatal("a fresh grant does not approve its manifest")
			}
			next := start.clone()
			c.edit(&next)
			if _, err := s.PutPackage(next); err != nil {
				t.Fatal(err)
			}
			after := currentManifest(t, s, base.Name)
			if after.SHA256 != before.SHA256 {
				t.Fatal("the test changed the sha256")
			}
			if got := !g.Approves(&after); got != c.stale {
				t.Errorf("grant stale after the change: %v, want %v", got, c.stale)
			}
			if moved := after.CodeEpoch != before.CodeEpoch; moved != c.stale {
				t.Errorf("code epoch moved: %v, want %v", moved, c.stale)
			}
			// Approving again approves the manifest as it is now.
			if c.stale {
				if _, err := s.PutGrant(kc.ID, base.Name, []string{"STRIPE_SECRET_KEY"}); err != nil {
					t.Fatal(err)
				}
				if g, _ := s.GetGrant(kc.ID, base.Name); !g.Approves(&after) {
					t.Error("approving again did not approve the changed manifest")
				}
			}
		})
	}
}

// TestApprovalDigestNotSettable: an approval digest sent in a manifest is
// the store's to set, not the sender's.
func TestApprovalDigestNotSettable(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	m := mustPackage(t, s, "@acme/tools", "tools")
	if _, err := s.PutGrant(kc.ID, m.Name, []string{"STRIPE_SECRET_KEY"}); err != nil {
		t.Fatal(err)
	}
	g, _ := s.GetGrant(kc.ID, m.Name)
	evil := m.clone()
	evil.Keys[0].Hosts = []string{"evil.example.com"}
	evil.Approval = g.Approval // claims the digest the owner approved
	if _, err := s.PutPackage(evil); err != nil {
		t.Fatal(err)
	}
	if now := currentManifest(t, s, m.Name); g.Approves(&now) || now.Approval == g.Approval {
		t.Error("a manifest's own approval field kept the grant active")
	}
}

// TestLegacyGrantsBackfilled: grants stored before digests existed keep
// working while the manifest stands, and go stale when it changes.
func TestLegacyGrantsBackfilled(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	other := mustKeychain(t, s)
	m := mustPackage(t, s, "@acme/tools", "tools")
	for _, id := range []string{kc.ID, other.ID} {
		if _, err := s.PutGrant(id, m.Name, []string{"STRIPE_SECRET_KEY"}); err != nil {
			t.Fatal(err)
		}
	}
	// Make the records look as an earlier version wrote them.
	for _, id := range []string{kc.ID, other.ID} {
		g, _ := s.GetGrant(id, m.Name)
		g.Approval = ""
		raw, _ := json.Marshal(g)
		rawSet(t, s, key(pfxGrant, id, m.Name), raw)
	}
	legacy := currentManifest(t, s, m.Name)
	legacy.Approval = ""
	raw, _ := json.Marshal(legacy)
	rawSet(t, s, key(pfxPackage, m.Name), raw)

	stored := currentManifest(t, s, m.Name)
	if g, _ := s.GetGrant(kc.ID, m.Name); !g.Approves(&stored) {
		t.Fatal("a legacy grant of an unchanged legacy manifest stopped working")
	}
	same := m.clone()
	same.Version = "1.0.1"
	if _, err := s.PutPackage(same); err != nil {
		t.Fatal(err)
	}
	stored = currentManifest(t, s, m.Name)
	if g, _ := s.GetGrant(kc.ID, m.Name); !g.Approves(&stored) || g.Approval == "" {
		t.Fatal("a legacy grant went stale on a change to nothing it approved")
	}
	moved := m.clone()
	moved.Upstream = "http://127.0.0.1:9009"
	if _, err := s.PutPackage(moved); err != nil {
		t.Fatal(err)
	}
	stored = currentManifest(t, s, m.Name)
	for _, id := range []string{kc.ID, other.ID} {
		if g, _ := s.GetGrant(id, m.Name); g.Approves(&stored) {
			t.Errorf("grant of %s still approves a moved upstream", id)
		}
	}
}

func currentManifest(t *testing.T, s *Store, name string) Manifest {
	t.Helper()
	m, err := s.GetPackage(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
