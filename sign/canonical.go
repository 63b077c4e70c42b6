package sign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"hash/maphash"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The canonical request of a header-signed request is computed here, not
// by the SDK's signer: the SDK builds it from a copy of the request with
// maps, sorted slices and strings for every part (about 9 us and 60
// allocations a signature), and the proxy site computes it twice a
// request (the client's signature, then the new one). Here it is written
// into one pooled buffer and hashed once: the new signature keeps the
// client's X-Amz-Date, signed headers and payload hash, so the canonical
// request is the same bytes and only the string to sign differs. The
// SDK still signs what is signed whole (Sign) and presigned URLs; the
// tests check both give the same signatures.

var canonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// canonicalHash is the hex SHA-256 of req's canonical request for the
// headers named in signed (lowercase, in the order given), with host as
// the host header and payloadHash as the payload's hash. single keeps the
// path as sent (S3); otherwise it is escaped once more.
func canonicalHash(dst *[sha256.Size * 2]byte, req *http.Request, host string, signed []string, payloadHash string, single bool) {
	bp := canonBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, req.Method...)
	b = append(b, '\n')
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if single {
		b = append(b, path...)
	} else {
		b = appendEscaped(b, path, true)
	}
	b = append(b, '\n')
	b = appendCanonicalQuery(b, req.URL.RawQuery)
	b = append(b, '\n')
	for _, name := range signed {
		b = append(b, name...)
		b = append(b, ':')
		switch name {
		case "host":
			b = appendTrimmed(b, host)
		case "content-length":
			if v, ok := req.Header["Content-Length"]; ok && len(v) > 0 {
				b = appendTrimmed(b, v[0])
			} else if req.ContentLength >= 0 {
				b = strconv.AppendInt(b, req.ContentLength, 10)
			}
		default:
			for i, v := range headerValues(req.Header, name) {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendTrimmed(b, v)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, name := range signed {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	b = append(b, payloadHash...)
	sum := sha256.Sum256(b)
	hex.Encode(dst[:], sum[:])
	*bp = b
	canonBufs.Put(bp)
}

// headerValues looks a lowercase header name up in h without allocating
// its canonical form (the map index of a converted byte slice does not).
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) > len(buf) {
		return h[textproto.CanonicalMIMEHeaderKey(name)]
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return h[string(b)]
}

// appendTrimmed appends v without leading and trailing spaces and with
// each run of inner spaces made one, as SigV4 canonicalises header values.
func appendTrimmed(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// appendEscaped appends s with every byte but the unreserved ones
// percent-encoded (upper-case hex), '/' kept when keepSlash.
func appendEscaped(b []byte, s string, keepSlash bool) []byte {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (c == '/' && keepSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return b
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// appendCanonicalQuery appends the canonical form of a raw query: each
// name and value decoded and encoded anew, the pairs sorted by encoded
// name, then value. A pair that does not decode is left out, as
// url.ParseQuery leaves it out.
func appendCanonicalQuery(b []byte, raw string) []byte {
	if raw == "" {
		return b
	}
	type pair struct{ k, v string }
	var buf [16]pair
	pairs := buf[:0]
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" || strings.Contains(part, ";") {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err1 := canonicalComponent(k)
		v, err2 := canonicalComponent(v)
		if err1 != nil || err2 != nil {
			continue
		}
		pairs = append(pairs, pair{k, v})
	}
	slices.SortFunc(pairs, func(a, c pair) int {
		if a.k != c.k {
			return strings.Compare(a.k, c.k)
		}
		return strings.Compare(a.v, c.v)
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

// canonicalComponent is a query name or value as SigV4 encodes it. One
// already in that form (the common case) is returned as it is.
func canonicalComponent(s string) (string, error) {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; !unreserved(c) {
			plain = false
			break
		}
	}
	if plain {
		return s, nil
	}
	d, err := url.QueryUnescape(s)
	if err != nil {
		return "", err
	}
	return string(appendEscaped(make([]byte, 0, len(d)+8), d, false)), nil
}

// signCanonical signs a canonical request's hash with key, at amzDate
// for the key's scope, and returns the hex signature.
func signCanonical(key *signingKeyEntry, amzDate string, canonHash *[sha256.Size * 2]byte) [sigLen]byte {
	bp := canonBufs.Get().(*[]byte)
	b := append((*bp)[:0], algorithm+"\n"...)
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = appendScope(b, key.date, key.region, key.service)
	b = append(b, '\n')
	b = append(b, canonHash[:]...)
	m := key.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(b)
	var sum [sha256.Size]byte
	var out [sigLen]byte
	hex.Encode(out[:], m.Sum(sum[:0]))
	key.macs.Put(m)
	*bp = b
	canonBufs.Put(bp)
	return out
}

func appendScope(b []byte, date, region, service string) []byte {
	b = append(b, date...)
	b = append(b, '/')
	b = append(b, region...)
	b = append(b, '/')
	b = append(b, service...)
	return append(b, "/aws4_request"...)
}

// signingKeyEntry is the derived key of one secret, date, region and
// service, with HMACs keyed by it ready for reuse.
type signingKeyEntry struct {
	secret, date, region, service string
	key                           []byte
	macs                          sync.Pool
}

// signingKeys caches derived keys: deriving one is four HMACs, more than
// the signature it makes.
var signingKeys struct {
	sync.Mutex
	seed maphash.Seed
	m    map[uint64]*signingKeyEntry
}

const maxSigningKeys = 1024

func init() { signingKeys.seed = maphash.MakeSeed() }

// cachedSigningKey returns the derived key of secret for a date
// (YYYYMMDD), region and service.
func cachedSigningKey(secret, date, region, service string) *signingKeyEntry {
	var h maphash.Hash
	h.SetSeed(signingKeys.seed)
	h.WriteString(secret)
	h.WriteByte(0)
	h.WriteString(date)
	h.WriteByte(0)
	h.WriteString(region)
	h.WriteByte(0)
	h.WriteString(service)
	k := h.Sum64()
	signingKeys.Lock()
	defer signingKeys.Unlock()
	if e, ok := signingKeys.m[k]; ok && e.secret == secret && e.date == date && e.region == region && e.service == service {
		return e
	}
	if signingKeys.m == nil || len(signingKeys.m) >= maxSigningKeys {
		signingKeys.m = make(map[uint64]*signingKeyEntry)
	}
	e := &signingKeyEntry{secret: secret, date: date, region: region, service: service, key: deriveKey(secret, date, region, service)}
	e.macs.New = func() any { return hmac.New(sha256.New, e.key) }
	signingKeys.m[k] = e
	return e
}
