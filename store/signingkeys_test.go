package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestSigningKeys(t *testing.T) {
	s, clk := memStore(t)
	k1 := SigningKey{ID: "sk1", Secret: bytes.Repeat([]byte{1}, 32)}
	if err := s.PutSigningKey(k1); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	k2 := SigningKey{ID: "sk2", Secret: bytes.Repeat([]byte{2}, 32)}
	s.PutSigningKey(k2)

	keys, err := s.ListSigningKeys()
	if err != nil || len(keys) != 2 || keys[0].ID != "sk2" || keys[1].ID != "sk1" {
		t.Fatalf("list: %+v %v", keys, err)
	}
	if !bytes.Equal(keys[1].Secret, k1.Secret) || keys[1].Retired {
		t.Fatal("sk1 did not round-trip")
	}

	// Retire sk1, keeping its creation time.
	created := keys[1].CreatedAt
	if err := s.PutSigningKey(SigningKey{ID: "sk1", Secret: k1.Secret, Retired: true}); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.ListSigningKeys()
	if !keys[1].Retired || !keys[1].CreatedAt.Equal(created) {
		t.Fatalf("retire: %+v", keys[1])
	}

	for _, bad := range []SigningKey{
		{ID: "", Secret: k1.Secret},
		{ID: "a/b", Secret: k1.Secret},
		{ID: "sk3", Secret: make([]byte, 16)},
	} {
		if err := s.PutSigningKey(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted: %v", bad.ID, err)
		}
	}

	// A signing key record copied to another kid fails to open.
	rawSet(t, s, key(pfxSigningKey, "sk9"), rawGet(t, s, key(pfxSigningKey, "sk2")))
	if _, err := s.ListSigningKeys(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved signing key: %v", err)
	}
}
