package store

import (
	"errors"
	"reflect"
	"testing"
)

// fillForCopy puts one record of every kind into s.
func fillForCopy(t *testing.T, s *Store) (kcID string) {
	t.Helper()
	kc := mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	if _, err := s.PutSecret(kc.ID, "STRIPE_SECRET_KEY", []byte("sk_live_copy"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte("whsec_copy")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutGrant(kc.ID, "@acme/tools", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSigningKey(SigningKey{ID: "sk1", Secret: []byte("0123456789abcdef0123456789abcdef")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit([]AuditEvent{{Action: "secret.put", Keychain: kc.ID}}); err != nil {
		t.Fatal(err)
	}
	return kc.ID
}

// Copy to the other backend and back: every record byte for byte, and
// the copy opens with the same keys.
func TestCopyRoundTrip(t *testing.T) {
	kr := testKeyring(t, "k1")
	src := diskStore(t, "", kr)
	kc := fillForCopy(t, src)

	// The target is the other kind: on Badger's pass a second Badger dir.
	dst := diskStore(t, "", kr)
	counts, err := CopyWithProgress(src, dst, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Records == 0 || counts.ByKind["sec/"] != 1 || counts.ByKind["sk/"] != 1 {
		t.Fatalf("counts %+v", counts)
	}
	if err := VerifyCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	if got := openValue(t, dst, kc, "STRIPE_SECRET_KEY"); got != "sk_live_copy" {
		t.Fatalf("copied value %q", got)
	}

	// A non-empty target is refused, and changes nothing.
	if _, err := CopyWithProgress(src, dst, false, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("non-empty target: %v", err)
	}
	if _, err := dst.PutSecret(kc, "EXTRA", []byte("x"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := VerifyCopy(src, dst); !errors.Is(err, ErrConflict) {
		t.Fatalf("verify missed an extra record: %v", err)
	}
	// force replaces it whole.
	if _, err := CopyWithProgress(src, dst, true, nil); err != nil {
		t.Fatal(err)
	}
	if err := VerifyCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := CopyWithProgress(src, src, true, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("copy onto itself: %v", err)
	}

	// A target whose keys cannot open the source's records is refused.
	other := diskStore(t, "", testKeyring(t, "k9"))
	if _, err := CopyWithProgress(src, other, false, nil); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("copy to a store without the source's key: %v", err)
	}
}

func TestOpenSpecRejects(t *testing.T) {
	kr := testKeyring(t, "k1")
	for _, spec := range []string{"", "badger:", "postgres:", "mysql:x", "/just/a/dir"} {
		if _, err := OpenSpec(spec, kr); !errors.Is(err, ErrInvalid) {
			t.Errorf("OpenSpec(%q) = %v", spec, err)
		}
	}
	s, err := OpenSpec("badger:"+t.TempDir(), kr)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestCountsByKind(t *testing.T) {
	got := CountsByKind(map[string]int{"sec/": 3, "kc/": 1, "kco/": 1, "aus/": 2, "auh/": 1, "au/": 2, "other": 1})
	want := []KindCount{{"secrets", 3}, {"keychains", 1}, {"audit segments", 2}, {kindIndexes, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CountsByKind = %v, want %v", got, want)
	}
	if got := CountsByKind(nil); got != nil {
		t.Errorf("CountsByKind(nil) = %v", got)
	}
}
