package policy

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"
)

// An invocation token is minted for every ingress call, so its payload is
// written by hand into pooled buffers, byte for byte what encoding/json
// writes for invocationWire (TestAppendInvocationMatchesJSON and
// FuzzAppendInvocation hold it to that): the token's only allocations are
// its jti and the token string itself.

// mintBuf holds a token being built: the payload's JSON and the token's
// bytes.
type mintBuf struct {
	json, tok []byte
	sum       [sha256.Size]byte // the MAC escapes into the hash interface
}

var mintBufs = sync.Pool{New: func() any { return &mintBuf{json: make([]byte, 0, 512), tok: make([]byte, 0, 1024)} }}

// MintInvocation returns a token for one call into a package, valid for
// the configured TTL, and what a verification of it would return. The
// claims share in's slices. The caller decides the usable keys (Decide).
func (t *Tokens) MintInvocation(in Invocation) (string, InvocationClaims, error) {
	if in.Keychain == "" || in.Package == "" || in.SHA256 == "" {
		return "", InvocationClaims{}, errors.New("policy: invocation needs a keychain, a package and its sha256")
	}
	w := invocationWire{
		Package:         in.Package,
		SHA256:          in.SHA256,
		KeychainVersion: in.KeychainVersion,
		GrantEpoch:      in.GrantEpoch,
		CodeEpoch:       in.CodeEpoch,
		Keys:            in.Keys,
		AppKeys:         in.AppKeys,
		RequestID:       in.RequestID,
	}
	t.fill(&w.registered, &t.invocation, in.Keychain, t.ttl)
	b := mintBufs.Get().(*mintBuf)
	defer mintBufs.Put(b)
	b.json = appendInvocation(b.json[:0], &w)
	tok, err := t.invocation.signPayload(b, b.json)
	if err != nil {
		return "", InvocationClaims{}, err
	}
	return tok, InvocationClaims{Invocation: in, ID: w.ID, ExpiresAt: time.Unix(w.Expires, 0)}, nil
}

// signPayload builds header.payload.signature of payload in b.tok and returns it
// as the token string.
func (k *tokenKind) signPayload(b *mintBuf, payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	b.tok = append(b.tok[:0], k.header...)
	b.tok = append(b.tok, '.')
	b.tok = enc.AppendEncode(b.tok, payload)
	sig := k.macInto(b.sum[:0], b.tok)
	b.tok = append(b.tok, '.')
	b.tok = enc.AppendEncode(b.tok, sig)
	if len(b.tok) > MaxTokenLen {
		return "", errors.New("policy: token would be longer than MaxTokenLen")
	}
	return string(b.tok), nil
}

// appendInvocation appends w as encoding/json marshals it.
func appendInvocation(b []byte, w *invocationWire) []byte {
	b = appendRegistered(b, &w.registered)
	b = appendField(b, `,"pkg":`, w.Package)
	b = appendField(b, `,"sha":`, w.SHA256)
	b = append(b, `,"kver":`...)
	b = strconv.AppendUint(b, w.KeychainVersion, 10)
	if w.GrantEpoch != 0 {
		b = append(b, `,"gep":`...)
		b = strconv.AppendUint(b, w.GrantEpoch, 10)
	}
	if w.CodeEpoch != 0 {
		b = append(b, `,"cep":`...)
		b = strconv.AppendUint(b, w.CodeEpoch, 10)
	}
	b = appendStrings(append(b, `,"keys":`...), w.Keys)
	b = appendStrings(append(b, `,"app_keys":`...), w.AppKeys)
	if w.RequestID != "" {
		b = appendField(b, `,"rid":`, w.RequestID)
	}
	return append(b, '}')
}

// appendRegistered appends the registered claims, opening the object.
func appendRegistered(b []byte, r *registered) []byte {
	b = appendField(b, `{"iss":`, r.Issuer)
	b = appendField(b, `,"aud":`, r.Audience)
	b = appendField(b, `,"sub":`, r.Subject)
	b = appendField(b, `,"typ":`, r.Type)
	b = appendField(b, `,"jti":`, r.ID)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, r.IssuedAt, 10)
	if r.Expires != 0 {
		b = append(b, `,"exp":`...)
		b = strconv.AppendInt(b, r.Expires, 10)
	}
	return b
}

func appendField(b []byte, name, v string) []byte {
	return appendJSONString(append(b, name...), v)
}

// appendStrings appends a string list; nil is null, as encoding/json has it.
func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString appends s quoted. Names, ids and hashes are plain ASCII;
// anything else (escapes, HTML characters, non-ASCII) goes through
// encoding/json, so the bytes always equal its output.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonPlain marks the bytes encoding/json writes as they are inside a string.
var jsonPlain = func() (a [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		a[c] = true
	}
	for _, c := range `"\<>&` {
		a[c] = false
	}
	return a
}()
