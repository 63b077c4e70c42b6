package store

import "testing"

// TestGrantEpoch: every change that takes access away moves the epoch, and
// a grant deleted and made again never gets an epoch already handed out.
func TestGrantEpoch(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	m := mustPackage(t, s, "@acme/tools", "tools")
	put := func(keys ...string) uint64 {
		t.Helper()
		g, err := s.PutGrant(kc.ID, m.Name, keys)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetGrant(kc.ID, m.Name); err != nil || got.Epoch != g.Epoch {
			t.Fatalf("stored epoch %d, %v; returned %d", got.Epoch, err, g.Epoch)
		}
		return g.Epoch
	}
	seen := map[uint64]bool{}
	fresh := func(what string, e uint64) {
		t.Helper()
		if e == 0 || seen[e] {
			t.Fatalf("%s: epoch %d is not new", what, e)
		}
		seen[e] = true
	}

	e := put("STRIPE_SECRET_KEY")
	fresh("first grant", e)
	if put("STRIPE_SECRET_KEY", "OPTIONAL_KEY") != e {
		t.Error("adding a key moved the epoch: tokens minted before still hold only what stands")
	}
	if put("STRIPE_SECRET_KEY", "OPTIONAL_KEY") != e {
		t.Error("the same grant again moved the epoch")
	}
	e = put("STRIPE_SECRET_KEY")
	fresh("a key removed", e)
	if put("STRIPE_SECRET_KEY", "OPTIONAL_KEY") != e {
		t.Error("re-adding a key moved the epoch")
	}

	if err := s.DeleteGrant(kc.ID, m.Name); err != nil {
		t.Fatal(err)
	}
	e = put("STRIPE_SECRET_KEY", "OPTIONAL_KEY")
	fresh("grant deleted and made again", e)

	m2 := m
	m2.SHA256 = "cd" + m.SHA256[2:]
	if _, err := s.PutPackage(m2); err != nil {
		t.Fatal(err)
	}
	e = put("STRIPE_SECRET_KEY", "OPTIONAL_KEY")
	fresh("grant for other code", e)

	// The counter is per keychain and package.
	other := mustKeychain(t, s)
	g, err := s.PutGrant(other.ID, m.Name, []string{"STRIPE_SECRET_KEY"})
	if err != nil || g.Epoch != 1 {
		t.Errorf("another keychain's first grant: epoch %d, %v; want 1", g.Epoch, err)
	}
}

// TestCodeEpoch: each sha256 change moves the package's code epoch, even
// back to an earlier sha256; other changes do not.
func TestCodeEpoch(t *testing.T) {
	s, _ := memStore(t)
	m := mustPackage(t, s, "@acme/tools", "tools")
	epoch := func() uint64 {
		t.Helper()
		got, err := s.GetPackage(m.Name)
		if err != nil {
			t.Fatal(err)
		}
		return got.CodeEpoch
	}
	put := func(m Manifest) {
		t.Helper()
		if _, err := s.PutPackage(m); err != nil {
			t.Fatal(err)
		}
	}
	e0 := epoch()
	if e0 == 0 {
		t.Fatal("a new package has code epoch 0")
	}
	v2 := m
	v2.Version = "1.0.1"
	put(v2)
	if epoch() != e0 {
		t.Error("a change other than sha256 moved the code epoch")
	}
	b := m
	b.SHA256 = "cd" + m.SHA256[2:]
	put(b)
	put(m) // back to the first code
	if epoch() != e0+2 {
		t.Errorf("code epoch %d after two sha256 changes, want %d", epoch(), e0+2)
	}
	forged := m
	forged.CodeEpoch = 1000
	put(forged)
	if epoch() != e0+2 {
		t.Error("the caller set the code epoch")
	}
}
