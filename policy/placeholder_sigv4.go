package policy

import (
	"encoding/base64"
	"hash"
	"strings"
)

// SigV4SecretPrefix starts the placeholder secret access key of a key the
// proxy site signs with SigV4.
const SigV4SecretPrefix = "kgsk_"

// sigv4SecretDomain keeps the secret's MAC apart from a placeholder's,
// whose MAC input starts with its version byte.
const sigv4SecretDomain = "sigv4 secret access key\x00"

// SigV4Secret is the placeholder secret access key that goes with the
// placeholder ph used as an access key id: an AWS client signs with the
// pair, and the proxy site checks that signature before signing anew with
// the real key. It is derived from ph with keygate's placeholder key, so
// that no node stores it and every node finds the same one, and so that
// the access key id, which travels in every request (and in an SDK's
// debug log), is not enough to sign a request. It is worth what ph is
// worth: nothing after the call's end. ph is not checked here.
func (p *Placeholders) SigV4Secret(ph string) string {
	m := p.macs.Get().(hash.Hash)
	m.Write([]byte(sigv4SecretDomain))
	m.Write([]byte(ph))
	var sum [32]byte
	mac := m.Sum(sum[:0])
	m.Reset()
	p.macs.Put(m)
	var b strings.Builder
	b.Grow(len(SigV4SecretPrefix) + base64.RawURLEncoding.EncodedLen(30))
	b.WriteString(SigV4SecretPrefix)
	b.WriteString(base64.RawURLEncoding.EncodeToString(mac[:30]))
	return b.String()
}
