package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// MasterKeySize is the length of a master key in bytes (AES-256).
const MasterKeySize = 32

// defaultMasterKeyID names a master key given without an id.
const defaultMasterKeyID = "default"

// MasterKey wraps data keys. Key is 32 bytes; ID matches ^[A-Za-z0-9_.-]{1,64}$.
type MasterKey struct {
	ID  string
	Key []byte
}

// Encode returns "id:BASE64", the form ParseMasterKeys reads.
func (m MasterKey) Encode() string {
	return m.ID + ":" + base64.StdEncoding.EncodeToString(m.Key)
}

// GenerateMasterKey makes a new random master key.
func GenerateMasterKey(id string) (MasterKey, error) {
	if err := checkKeyID("master key id", id); err != nil {
		return MasterKey{}, err
	}
	k := make([]byte, MasterKeySize)
	rand.Read(k)
	return MasterKey{ID: id, Key: k}, nil
}

// Keyring holds master keys by id: the current one seals, all of them open.
type Keyring struct {
	current string
	order   []string // current first, then the others as given
	aeads   map[string]cipher.AEAD
	audit   map[string][]byte // per key id: the audit chain's HMAC key
}

// NewKeyring builds a keyring; current seals new values. The key bytes are
// copied into AES key schedules and audit keys derived from them, and not
// retained otherwise.
func NewKeyring(current MasterKey, others ...MasterKey) (*Keyring, error) {
	kr := &Keyring{
		current: current.ID,
		aeads:   make(map[string]cipher.AEAD, 1+len(others)),
		audit:   make(map[string][]byte, 1+len(others)),
	}
	for i, mk := range append([]MasterKey{current}, others...) {
		field := fmt.Sprintf("master key %d", i+1)
		if err := checkKeyID(field+" id", mk.ID); err != nil {
			return nil, err
		}
		if len(mk.Key) != MasterKeySize {
			return nil, invalid(fmt.Sprintf("master key %q", mk.ID), fmt.Sprintf("must be %d bytes", MasterKeySize))
		}
		if _, dup := kr.aeads[mk.ID]; dup {
			return nil, invalid(fmt.Sprintf("master key %q", mk.ID), "is given twice")
		}
		aead, err := newGCM(mk.Key)
		if err != nil {
			return nil, err
		}
		kr.aeads[mk.ID] = aead
		if kr.audit[mk.ID], err = hkdf.Key(sha256.New, mk.Key, nil, auditKeyLabel, sha256.Size); err != nil {
			return nil, err
		}
		kr.order = append(kr.order, mk.ID)
	}
	return kr, nil
}

// CurrentID is the id of the key that seals.
func (k *Keyring) CurrentID() string { return k.current }

// IDs lists every key id, current first.
func (k *Keyring) IDs() []string { return cloneStrings(k.order) }

func (k *Keyring) aead(id string) (cipher.AEAD, bool) {
	a, ok := k.aeads[id]
	return a, ok
}

// auditKeyLabel separates the audit chain's key from every other use of
// a master key: a reader of the data alone cannot make a valid MAC.
const auditKeyLabel = "keygate/audit-mac/v1"

func (k *Keyring) auditMACKey(id string) ([]byte, bool) {
	key, ok := k.audit[id]
	return key, ok
}

// ParseMasterKeys reads "BASE64" (id "default") or "id1:BASE64,id2:BASE64";
// the first key is current. Errors name positions and ids, never key bytes.
func ParseMasterKeys(spec string) (*Keyring, error) {
	parts := strings.Split(strings.TrimSpace(spec), ",")
	keys := make([]MasterKey, 0, len(parts))
	for i, part := range parts {
		part = strings.TrimSpace(part)
		field := fmt.Sprintf("master key %d", i+1)
		if part == "" {
			return nil, invalid(field, "is empty")
		}
		id, b64 := defaultMasterKeyID, part
		if before, after, ok := strings.Cut(part, ":"); ok {
			id, b64 = strings.TrimSpace(before), strings.TrimSpace(after)
		} else if len(parts) > 1 {
			return nil, invalid(field, "needs an id (id:BASE64) when several keys are given")
		}
		if err := checkKeyID(field+" id", id); err != nil {
			return nil, err
		}
		key, err := decodeBase64(b64)
		if err != nil {
			return nil, invalid(fmt.Sprintf("master key %q", id), "is not valid base64")
		}
		if len(key) != MasterKeySize {
			return nil, invalid(fmt.Sprintf("master key %q", id), fmt.Sprintf("must decode to %d bytes", MasterKeySize))
		}
		keys = append(keys, MasterKey{ID: id, Key: key})
	}
	kr, err := NewKeyring(keys[0], keys[1:]...)
	for _, k := range keys {
		clear(k.Key)
	}
	return kr, err
}

// decodeBase64 accepts standard or URL alphabet, padded or not.
func decodeBase64(s string) ([]byte, error) {
	var lastErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}
