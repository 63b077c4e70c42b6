package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestGrantLifecycle(t *testing.T) {
	s, clk := memStore(t)
	kc := mustKeychain(t, s)
	_, err := s.PutGrant(kc.ID, "@acme/tools", []string{"STRIPE_SECRET_KEY"})
	wantErr(t, err, ErrNotFound)
	pkg := mustPackage(t, s, "@acme/tools", "tools")

	g, err := s.PutGrant(kc.ID, "@acme/tools", []string{"STRIPE_SECRET_KEY", "OPTIONAL_KEY", "STRIPE_SECRET_KEY"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(g.Keys, ",") != "OPTIONAL_KEY,STRIPE_SECRET_KEY" || g.SHA256 != pkg.SHA256 {
		t.Fatalf("grant: %+v", g)
	}
	created := g.CreatedAt

	_, err = s.PutGrant(kc.ID, "@acme/tools", []string{"WEBHOOK_SECRET"})
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "WEBHOOK_SECRET") {
		t.Fatalf("app key granted: %v", err)
	}
	_, err = s.PutGrant(kc.ID, "@acme/tools", []string{"NOT_REQUESTED"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "NOT_REQUESTED") {
		t.Fatalf("unrequested key: %v", err)
	}
	_, err = s.PutGrant(kc.ID, "@acme/tools", []string{"bad-name"})
	wantErr(t, err, ErrInvalid)
	if got, _ := s.GetGrant(kc.ID, "@acme/tools"); len(got.Keys) != 2 {
		t.Fatal("a refused grant changed the stored one")
	}

	// The package changes: the grant keeps the sha it approved.
	m := testManifest("@acme/tools", "tools")
	m.SHA256 = strings.Repeat("cd", 32)
	s.PutPackage(m)
	if got, _ := s.GetGrant(kc.ID, "@acme/tools"); got.SHA256 != pkg.SHA256 {
		t.Fatal("grant followed the package's new sha")
	}
	clk.Add(time.Hour)
	g2, err := s.PutGrant(kc.ID, "@acme/tools", nil)
	if err != nil || g2.SHA256 != m.SHA256 || !g2.CreatedAt.Equal(created) || !g2.UpdatedAt.Equal(clk.Now()) || g2.Keys == nil {
		t.Fatalf("re-approve: %+v %v", g2, err)
	}

	list, err := s.ListGrants(kc.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := s.DeleteGrant(kc.ID, "@acme/tools"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetGrant(kc.ID, "@acme/tools")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.DeleteGrant(kc.ID, "@acme/tools"), ErrNotFound)
	_, err = s.PutGrant("kc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "@acme/tools", nil)
	wantErr(t, err, ErrNotFound)
}

func TestGetGrantReturnsCopy(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	s.PutGrant(kc.ID, "@acme/tools", []string{"STRIPE_SECRET_KEY"})
	g, _ := s.GetGrant(kc.ID, "@acme/tools")
	g.Keys[0] = "X"
	if g2, _ := s.GetGrant(kc.ID, "@acme/tools"); g2.Keys[0] != "STRIPE_SECRET_KEY" {
		t.Fatal("cached grant mutated through a returned copy")
	}
}

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
