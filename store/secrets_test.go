package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecretLifecycle(t *testing.T) {
	s, clk := memStore(t)
	kc := mustKeychain(t, s)
	created := clk.Now()
	m, err := s.PutSecret(kc.ID, "STRIPE_SECRET_KEY", []byte("sk_live_1"), SecretOptions{AllowedHosts: []string{"API.Stripe.com"}, RotationHintDays: 90})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 || !m.CreatedAt.Equal(created) || !m.UpdatedAt.Equal(created) || m.AllowedHosts[0] != "api.stripe.com" || m.RotationHintDays != 90 {
		t.Fatalf("meta: %+v", m)
	}
	if ok, err := s.HasSecret(kc.ID, "STRIPE_SECRET_KEY"); !ok || err != nil {
		t.Fatalf("HasSecret: %v %v", ok, err)
	}
	if ok, _ := s.HasSecret(kc.ID, "NOPE"); ok {
		t.Fatal("HasSecret of a missing name")
	}
	if v := openValue(t, s, kc.ID, "STRIPE_SECRET_KEY"); v != "sk_live_1" {
		t.Fatalf("value %q", v)
	}

	clk.Add(time.Hour)
	m2, err := s.PutSecret(kc.ID, "STRIPE_SECRET_KEY", []byte("sk_live_2"), SecretOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Version != 2 || !m2.CreatedAt.Equal(created) || !m2.UpdatedAt.Equal(clk.Now()) || len(m2.AllowedHosts) != 0 || m2.RotationHintDays != 0 {
		t.Fatalf("update meta: %+v", m2)
	}
	if m2.AllowedHosts == nil {
		t.Fatal("AllowedHosts is nil, want [] for JSON")
	}
	if v := openValue(t, s, kc.ID, "STRIPE_SECRET_KEY"); v != "sk_live_2" {
		t.Fatalf("value after update %q", v)
	}
	got, err := s.GetSecretMeta(kc.ID, "STRIPE_SECRET_KEY")
	if err != nil || got.Version != 2 {
		t.Fatalf("GetSecretMeta: %+v %v", got, err)
	}

	s.PutSecret(kc.ID, "A_FIRST", []byte("a"), SecretOptions{})
	list, err := s.ListSecrets(kc.ID)
	if err != nil || len(list) != 2 || list[0].Name != "A_FIRST" || list[1].Name != "STRIPE_SECRET_KEY" {
		t.Fatalf("list: %+v %v", list, err)
	}

	if err := s.DeleteSecret(kc.ID, "STRIPE_SECRET_KEY"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteSecret(kc.ID, "STRIPE_SECRET_KEY"), ErrNotFound)
	if ok, _ := s.HasSecret(kc.ID, "STRIPE_SECRET_KEY"); ok {
		t.Fatal("HasSecret after delete")
	}
	_, err = s.GetSecretMeta(kc.ID, "STRIPE_SECRET_KEY")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.OpenSecret(kc.ID, "STRIPE_SECRET_KEY", func(SecretMeta, []byte) error { return nil }), ErrNotFound)
}

func TestRotationDue(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		days int
		age  time.Duration
		due  bool
	}{
		{0, 1000 * 24 * time.Hour, false},
		{90, 89 * 24 * time.Hour, false},
		{90, 91 * 24 * time.Hour, true},
	} {
		m := SecretMeta{RotationHintDays: tc.days, UpdatedAt: now.Add(-tc.age)}
		if m.RotationDue(now) != tc.due {
			t.Errorf("%+v: due = %v", tc, !tc.due)
		}
	}
}

func TestOpenSecretZeroesBuffer(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	s.PutSecret(kc.ID, "A", []byte("plaintext!"), SecretOptions{})
	var kept []byte
	s.OpenSecret(kc.ID, "A", func(_ SecretMeta, v []byte) error {
		kept = v
		return nil
	})
	if !bytes.Equal(kept, make([]byte, len(kept))) || len(kept) != len("plaintext!") {
		t.Fatalf("buffer not zeroed after fn: %q", kept)
	}
	wantFn := errors.New("from fn")
	if err := s.OpenSecret(kc.ID, "A", func(SecretMeta, []byte) error { return wantFn }); err != wantFn {
		t.Fatalf("fn error not passed through: %v", err)
	}
}

func TestPutSecretValidationWritesNothing(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	for _, tc := range []struct {
		name  string
		key   string
		value string
		o     SecretOptions
		field string
	}{
		{"bad name", "1BAD", "v", SecretOptions{}, "name"},
		{"name with dash", "A-B", "v", SecretOptions{}, "name"},
		{"empty value", "A", "", SecretOptions{}, "value"},
		{"CRLF", "A", "sk\r\n", SecretOptions{}, "value"},
		{"LF", "A", "sk\nx", SecretOptions{}, "value"},
		{"NUL", "A", "sk\x00", SecretOptions{}, "value"},
		{"oversize", "A", strings.Repeat("x", 8193), SecretOptions{}, "value"},
		{"bad host", "A", "v", SecretOptions{AllowedHosts: []string{"ok.com", "https://x"}}, "allowed_hosts[1]"},
		{"star host", "A", "v", SecretOptions{AllowedHosts: []string{"*"}}, "allowed_hosts[0]"},
		{"negative hint", "A", "v", SecretOptions{RotationHintDays: -1}, "rotation_hint_days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutSecret(kc.ID, tc.key, []byte(tc.value), tc.o)
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || ve.Field != tc.field {
				t.Fatalf("err = %v, want field %s", err, tc.field)
			}
			if len(tc.value) > 3 && strings.Contains(err.Error(), tc.value) {
				t.Fatal("error echoes the value")
			}
		})
	}
	if list, _ := s.ListSecrets(kc.ID); len(list) != 0 {
		t.Fatalf("refused secrets were written: %+v", list)
	}
	_, err := s.PutSecret("kc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "A", []byte("v"), SecretOptions{})
	wantErr(t, err, ErrNotFound)
	_, err = s.PutSecret("garbage", "A", []byte("v"), SecretOptions{})
	wantErr(t, err, ErrNotFound)
}

func TestMaxValueBytesOption(t *testing.T) {
	opts := testOptions(t, "")
	opts.Keyring, opts.MaxValueBytes = testKeyring(t, "k1"), 16
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kc := mustKeychain(t, s)
	if _, err := s.PutSecret(kc.ID, "A", bytes.Repeat([]byte("x"), 16), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.PutSecret(kc.ID, "A", bytes.Repeat([]byte("x"), 17), SecretOptions{})
	wantErr(t, err, ErrInvalid)
}

// A sealed record copied to another keychain, name or scope fails to open.
func TestSealedRecordBoundToPlace(t *testing.T) {
	s, _ := memStore(t)
	a, b := mustKeychain(t, s), mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	s.PutSecret(a.ID, "A", []byte("alice's key"), SecretOptions{})
	s.PutSecret(a.ID, "B", []byte("other"), SecretOptions{})
	rec := rawGet(t, s, key(pfxSecret, a.ID, "A"))

	for _, tc := range []struct {
		name string
		dst  []byte
		open func() error
	}{
		{"other keychain", key(pfxSecret, b.ID, "A"), func() error {
			return s.OpenSecret(b.ID, "A", func(SecretMeta, []byte) error { return nil })
		}},
		{"other name", key(pfxSecret, a.ID, "B"), func() error {
			return s.OpenSecret(a.ID, "B", func(SecretMeta, []byte) error { return nil })
		}},
		{"app scope", key(pfxAppSecret, "@acme/tools", "A"), func() error {
			return s.OpenAppSecret("@acme/tools", "A", func(SecretMeta, []byte) error { return nil })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rawSet(t, s, tc.dst, rec)
			if err := tc.open(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("moved record: err = %v, want ErrCorrupt", err)
			}
		})
	}
	// An older version replayed over a newer one fails too.
	old := rawGet(t, s, key(pfxSecret, a.ID, "A"))
	s.PutSecret(a.ID, "A", []byte("v2"), SecretOptions{})
	newer := rawGet(t, s, key(pfxSecret, a.ID, "A"))
	r1, _ := decodeRecord(old)
	r2, _ := decodeRecord(newer)
	rawSet(t, s, key(pfxSecret, a.ID, "A"), encodeRecord(r2.version, r2.meta, r1.blob))
	if err := s.OpenSecret(a.ID, "A", func(SecretMeta, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("old envelope under new metadata: %v", err)
	}
}

// Every byte of the stored record, metadata included, is authenticated.
func TestStoredRecordTamperEveryByte(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	s.PutSecret(kc.ID, "A", []byte("value"), SecretOptions{AllowedHosts: []string{"api.example.com"}})
	k := key(pfxSecret, kc.ID, "A")
	rec := rawGet(t, s, k)
	for i := range rec {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x01
		rawSet(t, s, k, bad)
		err := s.OpenSecret(kc.ID, "A", func(SecretMeta, []byte) error { return nil })
		if err == nil {
			t.Fatalf("record with byte %d flipped opened", i)
		}
	}
	rawSet(t, s, k, rec)
	if v := openValue(t, s, kc.ID, "A"); v != "value" {
		t.Fatal("restored record does not open")
	}
}

// No plaintext value ever reaches the bytes of the data directory.
func TestNoPlaintextInDataDir(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	kc := mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	const marker = "PLAINTEXTMARKER_5d1e8b"
	for i := range 50 {
		v := []byte(marker + strings.Repeat("x", i*37))
		if _, err := s.PutSecret(kc.ID, "S"+strings.Repeat("X", i%5)+string(rune('A'+i%26)), v, SecretOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte(marker+"app")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSigningKey(SigningKey{ID: "sk1", Secret: []byte(marker + strings.Repeat("s", 32))}); err != nil {
		t.Fatal(err)
	}
	// A big value goes to Badger's value log rather than the LSM tree.
	if _, err := s.PutSecret(kc.ID, "BIG", []byte(marker+strings.Repeat("b", 8000)), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	files := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files++
		if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte("PLAINTEXTMARKER")) {
			t.Errorf("%s holds plaintext", p)
		}
		return nil
	})
	if files < 3 {
		t.Fatalf("only %d files scanned", files)
	}
	// And it all still opens.
	s = diskStore(t, dir, testKeyring(t, "k1"))
	if v := openValue(t, s, kc.ID, "BIG"); !strings.HasPrefix(v, marker) {
		t.Fatal("big value does not reopen")
	}
}

func TestAppSecrets(t *testing.T) {
	s, _ := memStore(t)
	_, err := s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte("w"))
	wantErr(t, err, ErrNotFound)
	mustPackage(t, s, "@acme/tools", "tools")
	m, err := s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte("whsec_1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.AllowedHosts) != 1 || m.AllowedHosts[0] != "hooks.example.com" {
		t.Fatalf("app secret hosts come from the manifest: %+v", m)
	}
	_, err = s.PutAppSecret("@acme/tools", "STRIPE_SECRET_KEY", []byte("x"))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "name" || !strings.Contains(err.Error(), "STRIPE_SECRET_KEY") {
		t.Fatalf("undeclared app key: %v", err)
	}
	_, err = s.PutAppSecret("@acme/tools", "WEBHOOK_SECRET", []byte("a\nb"))
	wantErr(t, err, ErrInvalid)
	if ok, _ := s.HasAppSecret("@acme/tools", "WEBHOOK_SECRET"); !ok {
		t.Fatal("HasAppSecret")
	}
	var got string
	if err := s.OpenAppSecret("@acme/tools", "WEBHOOK_SECRET", func(_ SecretMeta, v []byte) error {
		got = string(v)
		return nil
	}); err != nil || got != "whsec_1" {
		t.Fatalf("OpenAppSecret: %q %v", got, err)
	}
	list, err := s.ListAppSecrets("@acme/tools")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListAppSecrets: %+v %v", list, err)
	}
	if err := s.DeleteAppSecret("@acme/tools", "WEBHOOK_SECRET"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteAppSecret("@acme/tools", "WEBHOOK_SECRET"), ErrNotFound)
	if ok, _ := s.HasAppSecret("@acme/tools", "WEBHOOK_SECRET"); ok {
		t.Fatal("HasAppSecret after delete")
	}
}

// A package name that extends another's ("@a/b" and "@a/bc") never sees
// the other's app secrets.
func TestAppSecretPrefixIsolation(t *testing.T) {
	s, _ := memStore(t)
	mustPackage(t, s, "@a/b", "b")
	mustPackage(t, s, "@a/bc", "bc")
	s.PutAppSecret("@a/bc", "WEBHOOK_SECRET", []byte("x"))
	if list, _ := s.ListAppSecrets("@a/b"); len(list) != 0 {
		t.Fatalf("@a/b sees @a/bc's secrets: %+v", list)
	}
	s.DeletePackage("@a/b")
	if ok, _ := s.HasAppSecret("@a/bc", "WEBHOOK_SECRET"); !ok {
		t.Fatal("deleting @a/b removed @a/bc's secret")
	}
}
