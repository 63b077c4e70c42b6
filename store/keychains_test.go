package store

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"
)

func TestKeychainLifecycle(t *testing.T) {
	s, clk := memStore(t)
	a, err := s.CreateKeychain("alice", "", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^kc_[a-z2-7]{26}$`).MatchString(a.ID) {
		t.Fatalf("id %q", a.ID)
	}
	if a.Environment != "production" || a.TokenVersion != 1 || !a.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("defaults: %+v", a)
	}
	clk.Add(time.Second)
	b, _ := s.CreateKeychain("alice", "staging", "")
	c, _ := s.CreateKeychain("bob", "", "")

	got, err := s.GetKeychain(a.ID)
	if err != nil || got != a {
		t.Fatalf("get: %+v %v", got, err)
	}
	for owner, want := range map[string][]string{"alice": {a.ID, b.ID}, "bob": {c.ID}, "": {a.ID, b.ID, c.ID}, "carol": nil} {
		list, err := s.ListKeychains(owner)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range list {
			ids = append(ids, k.ID)
		}
		if owner != "" && !equalStrings(ids, want) || owner == "" && len(ids) != 3 {
			t.Errorf("ListKeychains(%q) = %v, want %v", owner, ids, want)
		}
	}

	r, err := s.RotateKeychainToken(a.ID)
	if err != nil || r.TokenVersion != 2 {
		t.Fatalf("rotate: %+v %v", r, err)
	}
	if got, _ := s.GetKeychain(a.ID); got.TokenVersion != 2 {
		t.Fatal("GetKeychain served a stale token version after rotation")
	}

	if err := s.DeleteKeychain(a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetKeychain(a.ID)
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.DeleteKeychain(a.ID), ErrNotFound)
	_, err = s.RotateKeychainToken(a.ID)
	wantErr(t, err, ErrNotFound)
	if list, _ := s.ListKeychains("alice"); len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("after delete: %+v", list)
	}
	_, err = s.GetKeychain("nope")
	wantErr(t, err, ErrNotFound)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCreateKeychainValidation(t *testing.T) {
	s, _ := memStore(t)
	for _, tc := range []struct{ owner, env, name, field string }{
		{"", "", "", "owner"},
		{"a\nb", "", "", "owner"},
		{"alice", "Prod", "", "environment"},
		{"alice", "", "x\x00", "name"},
	} {
		_, err := s.CreateKeychain(tc.owner, tc.env, tc.name)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%+v: err = %v, want field %s", tc, err, tc.field)
		}
	}
	if list, _ := s.ListKeychains(""); len(list) != 0 {
		t.Fatal("a refused keychain was written")
	}
}

func TestDeleteKeychainRemovesSecretsAndGrants(t *testing.T) {
	s := diskStore(t, "", testKeyring(t, "k1"))
	a, b := mustKeychain(t, s), mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	for _, kc := range []string{a.ID, b.ID} {
		for _, n := range []string{"STRIPE_SECRET_KEY", "OTHER"} {
			if _, err := s.PutSecret(kc, n, []byte("v-"+kc), SecretOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.PutGrant(kc, "@acme/tools", []string{"STRIPE_SECRET_KEY"}); err != nil {
			t.Fatal(err)
		}
	}
	// Warm the cache so the test also proves invalidation.
	if ok, _ := s.HasSecret(a.ID, "OTHER"); !ok {
		t.Fatal("HasSecret")
	}
	if _, err := s.GetGrant(a.ID, "@acme/tools"); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteKeychain(a.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.HasSecret(a.ID, "OTHER"); ok {
		t.Fatal("secret survived DeleteKeychain")
	}
	_, err := s.GetGrant(a.ID, "@acme/tools")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.OpenSecret(a.ID, "OTHER", func(SecretMeta, []byte) error { return nil }), ErrNotFound)
	_, err = s.ListSecrets(a.ID)
	wantErr(t, err, ErrNotFound)
	var left int
	s.be.View(context.Background(), func(r reader) error {
		for _, p := range [][]byte{scope(pfxSecret, a.ID), scope(pfxGrant, a.ID), key(pfxGrantByPkg, "@acme/tools", a.ID), []byte(pfxPending)} {
			r.Iterate(iterOptions{Prefix: p, KeysOnly: true}, func(_, _ []byte) error { left++; return nil })
		}
		return nil
	})
	if left != 0 {
		t.Fatalf("%d keys of the deleted keychain remain", left)
	}
	// The other keychain is untouched.
	if v := openValue(t, s, b.ID, "OTHER"); v != "v-"+b.ID {
		t.Fatal("other keychain's secret changed")
	}
	if _, err := s.GetGrant(b.ID, "@acme/tools"); err != nil {
		t.Fatal(err)
	}
}

func TestInterruptedDeleteIsFinishedByOpen(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc := mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	for i := range 3 {
		s.PutSecret(kc.ID, "S"+string(rune('A'+i)), []byte("v"), SecretOptions{})
	}
	if _, err := s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte("w")); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash right after the first transaction of each delete.
	rawSet(t, s, pendingKey(pendingKeychain, kc.ID), nil)
	rawSet(t, s, pendingKey(pendingPackage, "@acme/tools"), nil)
	s.update(func(w writer) error {
		w.Delete(key(pfxKeychain, kc.ID))
		w.Delete(key(pfxPackage, "@acme/tools"))
		return w.Delete(key(pfxPackageHost, "tools"))
	})
	if _, err := s.PutPackage(testManifest("@acme/tools", "tools")); !errors.Is(err, ErrConflict) {
		t.Fatalf("PutPackage during a pending delete: %v", err)
	}
	s.Close()

	s = diskStore(t, dir, testKeyring(t, "k1"))
	n := 0
	s.be.View(context.Background(), func(r reader) error {
		for _, p := range []string{pfxSecret, pfxAppSecret, pfxPending} {
			r.Iterate(iterOptions{Prefix: []byte(p), KeysOnly: true}, func(_, _ []byte) error { n++; return nil })
		}
		return nil
	})
	if n != 0 {
		t.Fatalf("%d keys left after reopen", n)
	}
	if _, err := s.PutPackage(testManifest("@acme/tools", "tools")); err != nil {
		t.Fatal(err)
	}
}
