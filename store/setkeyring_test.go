package store

import (
	"context"
	"errors"
	"testing"
)

func TestSetKeyring(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc := mustKeychain(t, s)
	s.PutSecret(kc.ID, "OLD", []byte("old"), SecretOptions{})

	wrong := mustKeyring(t, MasterKey{ID: "k2", Key: testKey("k2").Key}, MasterKey{ID: "k1", Key: testKey("nope").Key})
	if err := s.SetKeyring(wrong); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("wrong old key accepted: %v", err)
	}
	if err := s.SetKeyring(testKeyring(t, "k2")); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("keyring without k1 accepted: %v", err)
	}
	if s.kr.CurrentID() != "k1" {
		t.Fatal("a refused keyring was installed")
	}

	if err := s.SetKeyring(testKeyring(t, "k2", "k1")); err != nil {
		t.Fatal(err)
	}
	s.PutSecret(kc.ID, "NEW", []byte("new"), SecretOptions{})
	if ids := countByKeyID(t, s); ids["k1"] != 1 || ids["k2"] != 1 {
		t.Fatalf("records by key: %v", ids)
	}
	if openValue(t, s, kc.ID, "OLD") != "old" || openValue(t, s, kc.ID, "NEW") != "new" {
		t.Fatal("values do not open after SetKeyring")
	}
	if ids := readKeycheckIDs(t, dir); !ids["k1"] || !ids["k2"] {
		t.Fatalf("keycheck: %v", ids)
	}
}

// A keyring change in the middle of Rewrap must not let it drop the key
// that the pages done so far were wrapped under.
func TestRewrapOvertakenBySetKeyring(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc, _ := fillForRewrap(t, s, 10)
	if err := s.SetKeyring(testKeyring(t, "k2", "k1")); err != nil {
		t.Fatal(err)
	}
	s.rewrapPage = 2
	s.rewrapHook = func(done int) error {
		if done == 2 {
			return s.SetKeyring(testKeyring(t, "k3", "k2", "k1"))
		}
		return nil
	}
	if _, err := s.Rewrap(context.Background()); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	// k1 and k2 sealed records; k3 sealed nothing yet, so it is recorded
	// but not required.
	if ids := readKeycheckIDs(t, dir); !ids["k1"] || !ids["k2"] {
		t.Fatalf("keycheck lost a key in use: %v", ids)
	} else if inUse, ok := ids["k3"]; !ok || inUse {
		t.Fatalf("k3: recorded %v, in use %v; want recorded, not in use", ok, inUse)
	}
	s.rewrapHook = nil
	if _, err := s.Rewrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ids := countByKeyID(t, s); len(ids) != 1 || ids["k3"] == 0 {
		t.Fatalf("records by key: %v", ids)
	}
	openValue(t, s, kc, "S000")
}

// A config reload that installs a new key and is then rolled back, before
// the new key sealed anything, leaves a store that opens without that key.
func TestSetKeyringRolledBack(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc, err := s.CreateKeychain("o", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecret(kc.ID, "A", []byte("a"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	old := s.Keyring()
	if err := s.SetKeyring(testKeyring(t, "k2", "k1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyring(old); err != nil {
		t.Fatalf("rolling back: %v", err)
	}
	s.Close()
	s = diskStore(t, dir, testKeyring(t, "k1"))
	if openValue(t, s, kc.ID, "A") != "a" {
		t.Fatal("value lost")
	}
}
