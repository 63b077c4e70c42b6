package store

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Key layout. Prefixes are short ASCII; parts are joined by NUL, which no
// id, name or owner may contain, so a prefix scan never strays into a
// neighbour ("@a/b" vs "@a/bc").
//
//	kc/<id>                      Keychain JSON
//	kco/<owner>\0<id>            owner index (empty value)
//	sec/<kc>\0<name>             user secret: sealed record
//	app/<pkg>\0<name>            app secret: sealed record
//	pkg/<name>                   Manifest JSON
//	pkh/<host>                   host index: package name
//	gr/<kc>\0<pkg>               Grant JSON
//	grp/<pkg>\0<kc>              grants by package (empty value)
//	gre/<kc>\0<pkg>              grant epoch counter, kept after the grant (grants.go)
//	au/<time8><id>               audit segment: a batch of events, keyed by its
//	                             first event, time-ordered; chained (see
//	                             audit_chain.go) or a legacy JSON array
//	aus/<seq8>                   chained segments in chain order: segment key
//	auh/                         audit chain head (last seq and link, MAC'd)
//	aua/                         audit chain anchor (where verify starts, MAC'd)
//	auk/<kc>\0<time8><id>        segments with events of a keychain (empty value)
//	aup/<pkg>\0<time8><id>       segments with events of a package (empty value)
//	sk/<id>                      signing key: sealed record
//	whd/<pkg>\0<kc>\0<hook>\0<id> webhook delivery forwarded (JSON: expiry), for redeliveries
//	osl/<sha256 hex>             owner sign-in link JSON, by hash of its token
//	oss/<sha256 hex>             owner session JSON, by hash of its cookie token
//	oas/<sha256 of state>        OAuth connect state: sealed record (verifier)
//	oax/<time8><sha256 of state> states by expiry, for pruning (empty value)
//	oap/<sha256 of id>           OAuth connect awaiting the owner's confirmation: sealed record (token)
//	opx/<time8><sha256 of id>    pending connects by expiry, for pruning (empty value)
//	lse/<name>                   lease JSON (holder, expiry)
//	pca/<id>                     proxy site CA: sealed record (key; certificate in meta)
const (
	pfxKeychain           = "kc/"
	pfxOwner              = "kco/"
	pfxSecret             = "sec/"
	pfxAppSecret          = "app/"
	pfxPackage            = "pkg/"
	pfxPackageHost        = "pkh/"
	pfxGrant              = "gr/"
	pfxGrantByPkg         = "grp/"
	pfxGrantEpoch         = "gre/"
	pfxAudit              = "au/"
	pfxAuditByKC          = "auk/"
	pfxAuditByPkg         = "aup/"
	pfxAuditBySeq         = "aus/"
	keyAuditHead          = "auh/"
	keyAuditAnchor        = "aua/"
	pfxSigningKey         = "sk/"
	pfxWebhookDelivery    = "whd/"
	pfxOwnerLink          = "osl/"
	pfxOwnerSession       = "oss/"
	pfxOAuthState         = "oas/"
	pfxOAuthExpiry        = "oax/"
	pfxOAuthBinding       = "oab/"
	pfxOAuthPending       = "oap/"
	pfxOAuthPendingExpiry = "opx/"
	pfxLease              = "lse/"
	pfxProxyCA            = "pca/"
	sep                   = 0
	auditTimeLength       = 8
)

// cacheablePrefixes are the records the metadata cache may hold.
var cacheablePrefixes = []string{pfxKeychain, pfxSecret, pfxAppSecret, pfxPackage, pfxPackageHost, pfxGrant}

func key(prefix string, parts ...string) []byte {
	n := len(prefix)
	for _, p := range parts {
		n += len(p) + 1
	}
	return appendKey(make([]byte, 0, n), prefix, parts...)
}

// keyBuf is room for a key on the stack: the metadata reads of the hot
// path build their keys in one (see lookupKey), so a cache hit allocates
// nothing for its key.
type keyBuf [128]byte

// lookupKey builds a key in buf for a read that does not keep it.
func (buf *keyBuf) lookupKey(prefix string, parts ...string) []byte {
	return appendKey(buf[:0], prefix, parts...)
}

// appendKey appends the key of prefix and parts to b.
func appendKey(b []byte, prefix string, parts ...string) []byte {
	b = append(b, prefix...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return b
}

// scope returns the prefix of every key under prefix+owner+NUL.
func scope(prefix, owner string) []byte {
	return append(key(prefix, owner), sep)
}

// lastPart returns what follows the last NUL (or the prefix) in k.
func lastPart(k []byte, prefix string) string {
	k = k[len(prefix):]
	if i := bytes.LastIndexByte(k, sep); i >= 0 {
		k = k[i+1:]
	}
	return string(k)
}

// auditTime encodes t so that byte order is time order, before 1970 too.
func auditTime(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())^(1<<63))
}

func auditKey(t time.Time, id string) []byte {
	b := append([]byte(pfxAudit), auditTime(t)...)
	return append(b, id...)
}

// auditIndexKeyOf is the index key of segment key seg under owner. It
// follows the segment key, not the events, which pruning may trim.
func auditIndexKeyOf(prefix, owner string, seg []byte) []byte {
	return append(scope(prefix, owner), seg[len(pfxAudit):]...)
}

func auditSeqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(pfxAuditBySeq), seq)
}

// auditKeyFromIndex rebuilds the primary key from an index key.
func auditKeyFromIndex(idx []byte, scopeLen int) []byte {
	return append([]byte(pfxAudit), idx[scopeLen:]...)
}

// auditKeyTime decodes the time part that follows prefix in k.
func auditKeyTime(rest []byte) int64 {
	return int64(binary.BigEndian.Uint64(rest[:auditTimeLength]) ^ (1 << 63))
}
