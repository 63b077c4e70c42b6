package store

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseMasterKeys(t *testing.T) {
	k32 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	k32raw := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("q", 32)))
	k16 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 16)))
	for _, tc := range []struct {
		spec    string
		current string
		ids     []string
		bad     bool
	}{
		{spec: k32, current: "default", ids: []string{"default"}},
		{spec: " " + k32 + " ", current: "default", ids: []string{"default"}},
		{spec: "k2:" + k32 + ",k1:" + k32raw, current: "k2", ids: []string{"k2", "k1"}},
		{spec: "k2:" + k32 + ", k1:" + k32, current: "k2", ids: []string{"k2", "k1"}},
		{spec: "", bad: true},
		{spec: "k1:", bad: true},
		{spec: "k1:" + k16, bad: true},
		{spec: "k1:" + k32 + "!", bad: true},
		{spec: "k1:" + k32 + ",k1:" + k32, bad: true},
		{spec: k32 + "," + k32, bad: true},
		{spec: "bad id:" + k32, bad: true},
		{spec: "k1:" + k32 + ",", bad: true},
	} {
		kr, err := ParseMasterKeys(tc.spec)
		if tc.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseMasterKeys(%q) err = %v, want ErrInvalid", tc.spec, err)
			}
			if err != nil && (strings.Contains(err.Error(), k32) || strings.Contains(err.Error(), k16)) {
				t.Errorf("error echoes key material: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMasterKeys(%q): %v", tc.spec, err)
			continue
		}
		if kr.CurrentID() != tc.current || strings.Join(kr.IDs(), ",") != strings.Join(tc.ids, ",") {
			t.Errorf("ParseMasterKeys(%q) = %q %v", tc.spec, kr.CurrentID(), kr.IDs())
		}
	}
}

func TestGenerateEncodeParse(t *testing.T) {
	mk, err := GenerateMasterKey("k-2026.01")
	if err != nil {
		t.Fatal(err)
	}
	if len(mk.Key) != MasterKeySize {
		t.Fatalf("key length %d", len(mk.Key))
	}
	kr, err := ParseMasterKeys(mk.Encode())
	if err != nil || kr.CurrentID() != "k-2026.01" {
		t.Fatalf("parse of Encode: %v", err)
	}
	ctx := sealContext{Scope: scopeUser, Owner: "o", Name: "n", Version: 1}
	other, _ := NewKeyring(mk)
	blob, _ := seal(kr, &ctx, []byte("v"))
	if _, err := open(other, &ctx, blob, nil); err != nil {
		t.Fatalf("keyring from Encode and from the key differ: %v", err)
	}
	if _, err := GenerateMasterKey("bad/id"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id accepted: %v", err)
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	good := testKey("a")
	for name, keys := range map[string][]MasterKey{
		"short key": {{ID: "a", Key: make([]byte, 16)}},
		"empty id":  {{ID: "", Key: good.Key}},
		"duplicate": {good, good},
	} {
		if _, err := NewKeyring(keys[0], keys[1:]...); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
