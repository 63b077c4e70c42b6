package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestSealOpenRoundTrip(t *testing.T) {
	kr := testKeyring(t, "k1")
	for _, v := range [][]byte{[]byte("x"), []byte("sk_live_123"), bytes.Repeat([]byte("a"), DefaultMaxValueBytes)} {
		ctx := sealContext{Scope: scopeUser, Owner: "kc_x", Name: "N", Version: 3, Meta: []byte(`{"m":1}`)}
		blob, err := seal(kr, &ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(blob, v) && len(v) > 4 {
			t.Fatal("sealed blob contains the plaintext")
		}
		got, err := open(kr, &ctx, blob, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, v) {
			t.Fatalf("round trip: got %d bytes, want %d", len(got), len(v))
		}
	}
}

func TestSealFreshDataKeyPerValue(t *testing.T) {
	kr := testKeyring(t, "k1")
	ctx := sealContext{Scope: scopeUser, Owner: "kc_x", Name: "N", Version: 1}
	a, _ := seal(kr, &ctx, []byte("same"))
	b, _ := seal(kr, &ctx, []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are identical")
	}
}

func TestSealTamperEveryByte(t *testing.T) {
	kr := testKeyring(t, "k1")
	ctx := sealContext{Scope: scopeUser, Owner: "kc_x", Name: "N", Version: 1, Meta: []byte("meta")}
	blob, err := seal(kr, &ctx, []byte("secret-value"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range blob {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(blob)
			bad[i] ^= mask
			if _, err := open(kr, &ctx, bad, nil); err == nil {
				t.Fatalf("byte %d ^ %#x: tampered blob opened", i, mask)
			}
		}
	}
	for n := 0; n < len(blob); n++ {
		if _, err := open(kr, &ctx, blob[:n], nil); err == nil {
			t.Fatalf("blob truncated to %d bytes opened", n)
		}
	}
	if _, err := open(kr, &ctx, append(bytes.Clone(blob), 0), nil); err == nil {
		t.Fatal("blob with a trailing byte opened")
	}
}

func TestSealBindsContext(t *testing.T) {
	kr := testKeyring(t, "k1")
	base := sealContext{Scope: scopeUser, Owner: "kc_a", Name: "N", Version: 2, Meta: []byte("m")}
	blob, err := seal(kr, &base, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *sealContext)
	}{
		{"scope", func(c *sealContext) { c.Scope = scopeApp }},
		{"owner", func(c *sealContext) { c.Owner = "kc_b" }},
		{"name", func(c *sealContext) { c.Name = "M" }},
		{"version", func(c *sealContext) { c.Version = 3 }},
		{"meta", func(c *sealContext) { c.Meta = []byte("n") }},
		{"field boundary", func(c *sealContext) { c.Owner, c.Name = "kc_aN", "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			_, err := open(kr, &c, blob, nil)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open with other %s: %v, want ErrCorrupt", tc.name, err)
			}
		})
	}
}

func TestSealUnknownMasterKey(t *testing.T) {
	ctx := sealContext{Scope: scopeUser, Owner: "kc_a", Name: "N", Version: 1}
	blob, _ := seal(testKeyring(t, "old"), &ctx, []byte("v"))
	_, err := open(testKeyring(t, "new"), &ctx, blob, nil)
	var mk *MasterKeyError
	if !errors.As(err, &mk) || mk.ID != "old" || !errors.Is(err, ErrMasterKey) {
		t.Fatalf("err = %v, want a MasterKeyError naming \"old\"", err)
	}
}

func TestRewrapKeepsValueChangesWrap(t *testing.T) {
	ctx := sealContext{Scope: scopeApp, Owner: "@a/b", Name: "N", Version: 1}
	blob, _ := seal(testKeyring(t, "old"), &ctx, []byte("value"))
	kr := testKeyring(t, "new", "old")
	out, did, err := rewrap(kr, &ctx, blob)
	if err != nil || !did {
		t.Fatalf("rewrap: %v %v", did, err)
	}
	if id, _ := envelopeKeyID(out); id != "new" {
		t.Fatalf("key id after rewrap = %q", id)
	}
	if got, err := open(testKeyring(t, "new"), &ctx, out, nil); err != nil || string(got) != "value" {
		t.Fatalf("open after rewrap with the new key alone: %v", err)
	}
	again, did, err := rewrap(kr, &ctx, out)
	if err != nil || did || !bytes.Equal(again, out) {
		t.Fatal("second rewrap changed a record already under the current key")
	}
}

func TestSecretMetaCodec(t *testing.T) {
	m := SecretMeta{
		Name: "STRIPE_SECRET_KEY", AllowedHosts: []string{"api.stripe.com", "[::1]:443"}, RotationHintDays: 90,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), UpdatedAt: time.Date(2027, 1, 2, 3, 4, 5, 7, time.UTC),
	}
	b := encodeSecretMeta(&m)
	got, err := decodeSecretMeta(b, 7)
	m.Version = 7
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	empty, err := decodeSecretMeta(encodeSecretMeta(&SecretMeta{Name: "A"}), 1)
	if err != nil || empty.AllowedHosts == nil {
		t.Fatalf("empty hosts: %+v %v", empty, err)
	}
	for n := range len(b) {
		if _, err := decodeSecretMeta(b[:n], 1); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := decodeSecretMeta(append(b, 0), 1); !errors.Is(err, ErrCorrupt) {
		t.Fatal("trailing byte accepted")
	}
}
