package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/store"
)

// A placeholder stands for one usable key of one call, in code that was not
// written for keygate: the package's SDK sends it where the key would go and
// the proxy site puts the value in its place. It is "kgph_" and the
// base64url encoding (no padding) of the claims below and a truncated
// HMAC-SHA256 over them, so its charset needs no escaping in a header, a
// URL, basic-auth userinfo or JSON, and the proxy can check it without
// reading the store. It says everything an invocation token says that
// revocation turns on (keychain version, grant and code epochs, expiry), so
// it is worth exactly as long as the token of its call.
const (
	PlaceholderPrefix = "kgph_"
	// MaxPlaceholderLen is the longest placeholder minted or looked at.
	MaxPlaceholderLen  = 511
	placeholderV1      = 1
	placeholderMACLen  = 16
	placeholderFlagApp = 1
)

// PlaceholderKeyPurpose names the key placeholders are MAC'd with among
// keygate's shared keys (gateway.App.SharedKey): whoever mints and whoever
// verifies derive it the same way.
const PlaceholderKeyPurpose = "proxy placeholders"

// ErrPlaceholderInvalid is wrapped by every placeholder that fails to parse
// or verify; ErrPlaceholderExpired by one whose call has ended.
var (
	ErrPlaceholderInvalid = errors.New("invalid placeholder")
	ErrPlaceholderExpired = &placeholderError{"placeholder expired"}
	errPlaceholderLong    = &placeholderError{"placeholder too long"}
	errPlaceholderForm    = &placeholderError{"malformed placeholder"}
	errPlaceholderMAC     = &placeholderError{"placeholder not minted by this keygate"}
)

// placeholderError is a fixed message: it never holds any part of the input.
type placeholderError struct{ msg string }

func (e *placeholderError) Error() string { return e.msg }
func (e *placeholderError) Unwrap() error { return ErrPlaceholderInvalid }

// PlaceholderClaims is what a verified placeholder says.
type PlaceholderClaims struct {
	Keychain, Package string
	// SHA256Prefix is the first half of the package code's SHA-256 (hex):
	// with CodeEpoch, enough to tell the code changed.
	SHA256Prefix string
	// KeyIndex is the key's position in the manifest's keys (app_keys when
	// App): names may be long, and the manifest cannot change without
	// moving CodeEpoch.
	KeyIndex              int
	App                   bool
	TokenID               string // jti of the invocation token of its call
	KeychainVersion       uint64
	GrantEpoch, CodeEpoch uint64
	ExpiresAt             time.Time
}

// Placeholders mints and verifies placeholders with one MAC key. It is safe
// for concurrent use.
type Placeholders struct {
	key    []byte
	now    func() time.Time
	leeway time.Duration
	macs   sync.Pool
}

// minPlaceholderKeyLen is the shortest MAC key accepted.
const minPlaceholderKeyLen = 32

// NewPlaceholders builds the minter and verifier. key must be secret to
// keygate and the same on every node (App.SharedKey gives one); now may be
// nil (time.Now).
func NewPlaceholders(key []byte, now func() time.Time) (*Placeholders, error) {
	if len(key) < minPlaceholderKeyLen {
		return nil, errors.New("policy: placeholder key is shorter than 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	p := &Placeholders{key: append([]byte(nil), key...), now: now, leeway: 5 * time.Second}
	p.macs.New = func() any { return hmac.New(sha256.New, p.key) }
	return p, nil
}

// Mint returns the placeholder for key of the call c was minted for; index
// is the key's position in the manifest's keys (app_keys when app).
func (p *Placeholders) Mint(c *InvocationClaims, key string, index int, app bool) (string, error) {
	if key == "" || (app && !c.HasAppKey(key)) || (!app && !c.HasKey(key)) {
		return "", errors.New("policy: the token does not make that key usable")
	}
	var sha [sha256.Size]byte
	if len(c.SHA256) != hex.EncodedLen(sha256.Size) || index < 0 {
		return "", errors.New("policy: the token's code hash or the key index is malformed")
	}
	if _, err := hex.Decode(sha[:], []byte(c.SHA256)); err != nil {
		return "", errors.New("policy: the token's code hash or the key index is malformed")
	}
	pb := placeholderBufs.Get().(*placeholderBuf)
	defer placeholderBufs.Put(pb)
	b := append(pb.body[:0], placeholderV1)
	b = binary.AppendUvarint(b, uint64(c.ExpiresAt.Unix()))
	b = binary.AppendUvarint(b, c.KeychainVersion)
	b = binary.AppendUvarint(b, c.GrantEpoch)
	b = binary.AppendUvarint(b, c.CodeEpoch)
	flags := byte(0)
	if app {
		flags |= placeholderFlagApp
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(index))
	for _, s := range [...]string{c.Keychain, c.Package, string(sha[:sha256.Size/2]), c.ID} {
		if len(s) > 255 {
			return "", errors.New("policy: a placeholder field is longer than 255 bytes")
		}
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	m := p.macs.Get().(hash.Hash)
	m.Write(b)
	b = append(b, m.Sum(pb.sum[:0])[:placeholderMACLen]...)
	m.Reset()
	p.macs.Put(m)
	pb.body = b
	out := append(pb.out[:0], PlaceholderPrefix...)
	out = base64.RawURLEncoding.AppendEncode(out, b)
	pb.out = out
	if len(out) > MaxPlaceholderLen {
		return "", errors.New("policy: placeholder would be longer than 511 bytes")
	}
	return string(out), nil
}

// placeholderBuf is the scratch space of one Mint; pooled, since every
// ingress call mints one placeholder per usable key.
type placeholderBuf struct {
	body, out []byte
	sum       [sha256.Size]byte // the MAC escapes into the hash interface
}

var placeholderBufs = sync.Pool{New: func() any {
	return &placeholderBuf{body: make([]byte, 0, 192), out: make([]byte, 0, MaxPlaceholderLen+1)}
}}

// Parse verifies a placeholder (exactly, nothing around it) and returns its
// claims. An expired one is refused with ErrPlaceholderExpired; revocation
// (grant, keychain, code) is the caller's to check against the store.
func (p *Placeholders) Parse(s string) (PlaceholderClaims, error) {
	var c PlaceholderClaims
	if len(s) > MaxPlaceholderLen {
		return c, errPlaceholderLong
	}
	if !strings.HasPrefix(s, PlaceholderPrefix) {
		return c, errPlaceholderForm
	}
	// The decoder skips CR and LF even when strict: only the alphabet
	// itself makes one placeholder have one spelling.
	enc := s[len(PlaceholderPrefix):]
	for i := 0; i < len(enc); i++ {
		if !isPlaceholderChar(enc[i]) {
			return c, errPlaceholderForm
		}
	}
	var buf [MaxPlaceholderLen]byte
	n, err := placeholderEncoding.Decode(buf[:], []byte(enc))
	if err != nil || n < 1+placeholderMACLen || buf[0] != placeholderV1 {
		return c, errPlaceholderForm
	}
	body, mac := buf[:n-placeholderMACLen], buf[n-placeholderMACLen:n]
	m := p.macs.Get().(hash.Hash)
	m.Write(body)
	var sum [sha256.Size]byte
	ok := hmac.Equal(m.Sum(sum[:0])[:placeholderMACLen], mac)
	m.Reset()
	p.macs.Put(m)
	if !ok {
		return c, errPlaceholderMAC
	}
	// From here on the bytes are keygate's own: a parse failure means a
	// bug, still refused.
	r := placeholderReader{b: body[1:]}
	exp := r.uvarint()
	c.KeychainVersion, c.GrantEpoch, c.CodeEpoch = r.uvarint(), r.uvarint(), r.uvarint()
	flags := r.byte()
	c.App = flags&placeholderFlagApp != 0
	index := r.uvarint()
	var sha string
	c.Keychain, c.Package, sha, c.TokenID = r.str(), r.str(), r.str(), r.str()
	c.SHA256Prefix, c.KeyIndex = hex.EncodeToString([]byte(sha)), int(index)
	if r.bad || len(r.b) != 0 || index > 1<<16 || exp > 1<<62 {
		return PlaceholderClaims{}, errPlaceholderForm
	}
	c.ExpiresAt = time.Unix(int64(exp), 0).UTC()
	if !p.now().Before(c.ExpiresAt.Add(p.leeway)) {
		return PlaceholderClaims{}, ErrPlaceholderExpired
	}
	return c, nil
}

type placeholderReader struct {
	b   []byte
	bad bool
}

func (r *placeholderReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *placeholderReader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *placeholderReader) str() string {
	n := int(r.byte())
	if r.bad || len(r.b) < n {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// NextPlaceholder finds the first placeholder candidate in s at or after
// from: the prefix and the run of base64url characters after it. It returns
// start and end offsets, or -1, -1. A candidate is not yet verified.
func NextPlaceholder(s string, from int) (start, end int) {
	for from < len(s) {
		i := strings.Index(s[from:], PlaceholderPrefix)
		if i < 0 {
			return -1, -1
		}
		start = from + i
		// A prefix inside a longer base64url word (xkgph_...) is not one.
		if start > 0 && isPlaceholderChar(s[start-1]) {
			from = start + len(PlaceholderPrefix)
			continue
		}
		end = start + len(PlaceholderPrefix)
		for end < len(s) && isPlaceholderChar(s[end]) {
			end++
		}
		return start, end
	}
	return -1, -1
}

// ContainsPlaceholder reports whether s has a placeholder candidate.
func ContainsPlaceholder(s string) bool {
	start, _ := NextPlaceholder(s, 0)
	return start >= 0
}

func isPlaceholderChar(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '_'
}

// ReplacePlaceholders returns s with every placeholder candidate replaced by
// what fn returns for it, and how many it replaced. The first error of fn
// stops it; s is then returned unchanged with the error.
func ReplacePlaceholders(s string, fn func(ph string) (string, error)) (string, int, error) {
	start, end := NextPlaceholder(s, 0)
	if start < 0 {
		return s, 0, nil
	}
	var b strings.Builder
	n, last := 0, 0
	for start >= 0 {
		v, err := fn(s[start:end])
		if err != nil {
			return s, 0, err
		}
		if b.Cap() == 0 {
			b.Grow(len(s) + len(v))
		}
		b.WriteString(s[last:start])
		b.WriteString(v)
		n++
		last = end
		start, end = NextPlaceholder(s, end)
	}
	b.WriteString(s[last:])
	return b.String(), n, nil
}

// placeholderEncoding is strict, so that one placeholder has one spelling.
var placeholderEncoding = base64.RawURLEncoding.Strict()

// Invocation restates c as the claims of the invocation token it came
// from, as far as Recheck needs them, with pkg (the package's current
// manifest) naming the key by its index. A manifest that moved on gives
// claims that Recheck refuses: a code hash that differs, or no key name.
func (c *PlaceholderClaims) Invocation(pkg *store.Manifest) (inv *InvocationClaims, key string) {
	inv = &InvocationClaims{Invocation: Invocation{
		Keychain: c.Keychain, Package: c.Package, SHA256: c.SHA256Prefix,
		KeychainVersion: c.KeychainVersion, GrantEpoch: c.GrantEpoch, CodeEpoch: c.CodeEpoch,
	}, ID: c.TokenID, ExpiresAt: c.ExpiresAt}
	if pkg == nil {
		return inv, ""
	}
	if strings.HasPrefix(pkg.SHA256, c.SHA256Prefix) {
		inv.SHA256 = pkg.SHA256
	}
	keys := pkg.Keys
	if c.App {
		keys = pkg.AppKeys
	}
	if c.KeyIndex < len(keys) {
		key = keys[c.KeyIndex].Name
	}
	if c.App {
		inv.AppKeys = []string{key}
	} else {
		inv.Keys = []string{key}
	}
	return inv, key
}
