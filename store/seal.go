package store

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// Sealed envelope, format 1:
//
//	[0]        format (1)
//	[1]        n = len(master key id)
//	[2:2+n]    master key id
//	12 bytes   wrap nonce
//	48 bytes   data key sealed by the master key (32 + GCM tag)
//	12 bytes   data nonce
//	rest       value sealed by the data key (len + GCM tag)
//
// The wrap's associated data covers the header bytes and the context; the
// value's covers the context. Rewrap replaces header and wrap only.
const (
	sealFormatV1 = 1
	dataKeySize  = 32
	nonceSize    = 12
	tagSize      = 16
	wrappedSize  = dataKeySize + tagSize
	// sealOverhead is the envelope size minus value and key id.
	sealOverhead = 2 + nonceSize + wrappedSize + nonceSize + tagSize
)

// Scopes bound into every sealed value.
const (
	scopeUser    = "user"
	scopeApp     = "app"
	scopeSigning = "signing"
	scopeProxyCA = "proxy-ca"
)

const (
	wrapLabel = "keygate/wrap/v1"
	dataLabel = "keygate/data/v1"
)

// sealContext is what a sealed value is bound to: moving the bytes to
// another scope, owner, name or version, or editing the metadata stored
// beside them, makes them fail to open.
type sealContext struct {
	Scope   string
	Owner   string // keychain id, package name, or "keygate" for signing keys
	Name    string
	Version uint64
	Meta    []byte // the record's metadata, authenticated but not secret
}

func (c *sealContext) appendAAD(dst []byte, label string) []byte {
	dst = appendLP(dst, label)
	dst = appendLP(dst, c.Scope)
	dst = appendLP(dst, c.Owner)
	dst = appendLP(dst, c.Name)
	dst = binary.BigEndian.AppendUint64(dst, c.Version)
	return appendLP(dst, string(c.Meta))
}

func (c *sealContext) aadLen() int {
	return 5*4 + len(wrapLabel) + len(c.Scope) + len(c.Owner) + len(c.Name) + 8 + len(c.Meta)
}

// appendLP appends a length-prefixed string so fields cannot run together.
func appendLP(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// envelope is a parsed view into a sealed blob (slices alias the blob).
type envelope struct {
	keyID     string
	header    []byte
	wrapNonce []byte
	wrapped   []byte
	data      []byte // data nonce + sealed value
}

func parseEnvelope(b []byte) (envelope, error) {
	if len(b) < 2 {
		return envelope{}, fmt.Errorf("sealed value is truncated: %w", ErrCorrupt)
	}
	if b[0] != sealFormatV1 {
		return envelope{}, fmt.Errorf("sealed value has unknown format %d: %w", b[0], ErrCorrupt)
	}
	n := int(b[1])
	if n == 0 || len(b) < sealOverhead+n {
		return envelope{}, fmt.Errorf("sealed value is truncated: %w", ErrCorrupt)
	}
	h := 2 + n
	return envelope{
		keyID:     string(b[2:h]),
		header:    b[:h],
		wrapNonce: b[h : h+nonceSize],
		wrapped:   b[h+nonceSize : h+nonceSize+wrappedSize],
		data:      b[h+nonceSize+wrappedSize:],
	}, nil
}

// seal encrypts value under a fresh data key wrapped by the current master key.
func seal(kr *Keyring, ctx *sealContext, value []byte) ([]byte, error) {
	var dk [dataKeySize]byte
	rand.Read(dk[:])
	defer clear(dk[:])

	out := make([]byte, 0, sealOverhead+len(kr.current)+len(value))
	out, err := appendWrap(out, kr, ctx, dk[:])
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(dk[:])
	if err != nil {
		return nil, err
	}
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	out = append(out, nonce[:]...)
	aad := ctx.appendAAD(make([]byte, 0, ctx.aadLen()), dataLabel)
	return gcm.Seal(out, nonce[:], value, aad), nil
}

// appendWrap appends header, wrap nonce and dk sealed by the current key.
func appendWrap(out []byte, kr *Keyring, ctx *sealContext, dk []byte) ([]byte, error) {
	id := kr.current
	master, ok := kr.aead(id)
	if !ok {
		return nil, missingMasterKey(id)
	}
	start := len(out)
	out = append(out, sealFormatV1, byte(len(id)))
	out = append(out, id...)
	header := out[start:]
	aad := ctx.appendAAD(make([]byte, 0, ctx.aadLen()+len(header)), wrapLabel)
	aad = append(aad, header...)
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	out = append(out, nonce[:]...)
	return master.Seal(out, nonce[:], dk, aad), nil
}

// unwrap opens the data key into dk (32 bytes); aad is scratch space.
func unwrap(kr *Keyring, ctx *sealContext, env *envelope, dk, aad []byte) error {
	master, ok := kr.aead(env.keyID)
	if !ok {
		return missingMasterKey(env.keyID)
	}
	aad = append(ctx.appendAAD(aad[:0], wrapLabel), env.header...)
	if _, err := master.Open(dk[:0], env.wrapNonce, env.wrapped, aad); err != nil {
		return fmt.Errorf("data key does not open: %w", ErrCorrupt)
	}
	return nil
}

// open decrypts blob, appending the value to dst. The caller zeroes it.
func open(kr *Keyring, ctx *sealContext, blob, dst []byte) ([]byte, error) {
	env, err := parseEnvelope(blob)
	if err != nil {
		return nil, err
	}
	gcm, err := openDataKey(kr, ctx, &env)
	if err != nil {
		return nil, err
	}
	return openData(gcm, ctx, &env, dst)
}

// openDataKey unwraps env's data key and returns its AEAD.
func openDataKey(kr *Keyring, ctx *sealContext, env *envelope) (cipher.AEAD, error) {
	var dk [dataKeySize]byte
	defer clear(dk[:])
	aad := make([]byte, 0, ctx.aadLen()+len(env.header))
	if err := unwrap(kr, ctx, env, dk[:], aad); err != nil {
		return nil, err
	}
	return newGCM(dk[:])
}

// openData decrypts env's value with its data key's AEAD, appending it to dst.
func openData(gcm cipher.AEAD, ctx *sealContext, env *envelope, dst []byte) ([]byte, error) {
	aad := ctx.appendAAD(make([]byte, 0, ctx.aadLen()), dataLabel)
	out, err := gcm.Open(dst, env.data[:nonceSize], env.data[nonceSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("value does not open: %w", ErrCorrupt)
	}
	return out, nil
}

// rewrap re-wraps blob's data key under the current master key, leaving the
// sealed value as it is. It reports false when blob already uses it.
func rewrap(kr *Keyring, ctx *sealContext, blob []byte) ([]byte, bool, error) {
	env, err := parseEnvelope(blob)
	if err != nil {
		return nil, false, err
	}
	if env.keyID == kr.current {
		return blob, false, nil
	}
	var dk [dataKeySize]byte
	defer clear(dk[:])
	if err := unwrap(kr, ctx, &env, dk[:], make([]byte, 0, ctx.aadLen()+len(env.header))); err != nil {
		return nil, false, err
	}
	out := make([]byte, 0, sealOverhead+len(kr.current)+len(env.data))
	out, err = appendWrap(out, kr, ctx, dk[:])
	if err != nil {
		return nil, false, err
	}
	return append(out, env.data...), true, nil
}
