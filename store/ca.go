package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
)

// The proxy site's CA is sealed like a secret: scope "proxy-ca", owner
// "keygate", name = its id. Its certificate is public and lives in the
// record's metadata; only the private key is sealed.
const (
	caOwner     = "keygate"
	caLifetime  = 10 * 365 * 24 * time.Hour
	caTries     = 100
	caLockName  = "proxy-ca"
	maxCAKeyLen = 1 << 10
)

// ProxyCA is one of keygate's CAs for the proxy site.
type ProxyCA struct {
	ID        string
	CertDER   []byte // the self-signed certificate
	Key       []byte // PKCS #8 DER of its ECDSA key; the caller's to wipe
	CreatedAt time.Time
	// RetiredAt is set when a newer CA took over: from then on this one
	// signs nothing, and it is trusted (served in the bundle) until
	// TrustUntil.
	RetiredAt, TrustUntil time.Time
}

// Trusted reports whether clients should still trust ca at now.
func (ca ProxyCA) Trusted(now time.Time) bool {
	return ca.RetiredAt.IsZero() || now.Before(ca.TrustUntil)
}

type proxyCAMeta struct {
	ID         string    `json:"id"`
	Cert       []byte    `json:"cert"`
	CreatedAt  time.Time `json:"created_at"`
	RetiredAt  time.Time `json:"retired_at,omitzero"`
	TrustUntil time.Time `json:"trust_until,omitzero"`
}

func proxyCARef(id string) secretRef {
	return secretRef{scope: scopeProxyCA, prefix: pfxProxyCA, owner: caOwner, name: id}
}

// NewProxyCA makes a CA: ECDSA P-256, self-signed, valid ten years, with a
// Subject Key Identifier so that leaves get their Authority Key Identifier
// from it (strict verifiers such as Python 3.13 want both).
func NewProxyCA(now time.Time) (ProxyCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ProxyCA{}, fmt.Errorf("store: CA key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return ProxyCA{}, err
	}
	ski := sha1.Sum(pub) // RFC 5280 4.2.1.2 method 1 uses SHA-1 of the key
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return ProxyCA{}, err
	}
	id := "ca_" + now.UTC().Format("20060102T150405") + "_" + fmt.Sprintf("%x", ski[:4])
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "keygate proxy CA " + id, Organization: []string{"keygate"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return ProxyCA{}, fmt.Errorf("store: CA certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ProxyCA{}, err
	}
	return ProxyCA{ID: id, CertDER: der, Key: pk, CreatedAt: now.UTC()}, nil
}

// PutProxyCA stores a CA, or updates the retirement of a stored one (its
// key and certificate then stay as they are).
func (s *Store) PutProxyCA(ca ProxyCA) error {
	if err := checkKeyID("id", ca.ID); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	ref := proxyCARef(ca.ID)
	return s.update(func(w writer) error {
		version, blob := uint64(1), []byte(nil)
		meta := proxyCAMeta{ID: ca.ID, Cert: ca.CertDER, CreatedAt: ca.CreatedAt.UTC(), RetiredAt: ca.RetiredAt.UTC(), TrustUntil: ca.TrustUntil.UTC()}
		switch old, err := w.Get(key(pfxProxyCA, ca.ID)); {
		case err == nil:
			rec, err := decodeRecord(old)
			if err != nil {
				return err
			}
			var prev proxyCAMeta
			if err := decodeJSON(rec.meta, &prev); err != nil {
				return err
			}
			ctx := ref.sealContext(rec.version, rec.meta)
			k, err := open(s.kr, &ctx, rec.blob, nil)
			if err != nil {
				return fmt.Errorf("proxy CA %q: %w", ca.ID, err)
			}
			version, blob = rec.version+1, k
			meta.Cert, meta.CreatedAt = prev.Cert, prev.CreatedAt
		case !errors.Is(err, errNoKey):
			return err
		default:
			if _, err := x509.ParseCertificate(ca.CertDER); err != nil {
				return invalid("cert", "is not a certificate")
			}
			if len(ca.Key) == 0 || len(ca.Key) > maxCAKeyLen {
				return invalid("key", "must be 1 to 1024 bytes")
			}
			if meta.CreatedAt.IsZero() {
				meta.CreatedAt = s.now()
			}
			blob = ca.Key
		}
		metaJSON, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		ctx := ref.sealContext(version, metaJSON)
		if err := s.markSealerInUse(s.kr); err != nil {
			return err
		}
		sealed, err := seal(s.kr, &ctx, blob)
		if err != nil {
			return err
		}
		return w.Set(key(pfxProxyCA, ca.ID), encodeRecord(version, metaJSON, sealed))
	})
}

// ListProxyCAs opens every stored CA, newest first.
func (s *Store) ListProxyCAs() ([]ProxyCA, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out := []ProxyCA{}
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(pfxProxyCA)}, func(k, v []byte) error {
			id := string(k[len(pfxProxyCA):])
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			var m proxyCAMeta
			if err := decodeJSON(rec.meta, &m); err != nil {
				return err
			}
			ctx := proxyCARef(id).sealContext(rec.version, rec.meta)
			pk, err := open(s.kr, &ctx, rec.blob, nil)
			if err != nil {
				return fmt.Errorf("proxy CA %q: %w", id, err)
			}
			out = append(out, ProxyCA{ID: id, CertDER: m.Cert, Key: pk, CreatedAt: m.CreatedAt, RetiredAt: m.RetiredAt, TrustUntil: m.TrustUntil})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ProxyCA) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// proxyCAMu makes making and rotating the CA one at a time within this
// process too: RunExclusive is a database lock, and on Badger (one
// process) it does not exclude anything.
var proxyCAMu sync.Mutex

// EnsureProxyCA returns the stored CAs, newest first, making the first one
// if there is none. Nodes starting at once on one database make it under
// RunExclusive and then read what is stored, so all of them use one CA.
func (s *Store) EnsureProxyCA() ([]ProxyCA, error) {
	if cas, err := s.ListProxyCAs(); err == nil && current(cas) != nil {
		return cas, nil
	}
	proxyCAMu.Lock()
	defer proxyCAMu.Unlock()
	for attempt := 0; ; attempt++ {
		cas, err := s.ListProxyCAs()
		if err != nil {
			return nil, fmt.Errorf("store: loading the proxy CA: %w", err)
		}
		if current(cas) != nil {
			return cas, nil
		}
		if attempt == caTries {
			return nil, fmt.Errorf("store: another node holds the lock on making the proxy CA: %w", ErrUnavailable)
		}
		ran, err := s.RunExclusive(caLockName, func() error {
			cas, err := s.ListProxyCAs()
			if err != nil || current(cas) != nil {
				return err
			}
			ca, err := NewProxyCA(s.now())
			if err != nil {
				return err
			}
			return s.PutProxyCA(ca)
		})
		if err != nil {
			return nil, fmt.Errorf("store: making the proxy CA: %w", err)
		}
		if !ran {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// RotateProxyCA makes a new CA that signs from now on and retires the
// current one, still trusted for overlap. It returns the CAs, newest first.
func (s *Store) RotateProxyCA(overlap time.Duration) ([]ProxyCA, error) {
	if overlap < 0 {
		return nil, invalid("overlap", "must not be negative")
	}
	proxyCAMu.Lock()
	defer proxyCAMu.Unlock()
	var out []ProxyCA
	ran, err := s.RunExclusive(caLockName, func() error {
		cas, err := s.ListProxyCAs()
		if err != nil {
			return err
		}
		now := s.now()
		next, err := NewProxyCA(now)
		if err != nil {
			return err
		}
		// Ids carry the second; a rotation within the same one still differs.
		for slices.ContainsFunc(cas, func(c ProxyCA) bool { return c.ID == next.ID }) {
			next.ID += "x"
		}
		if err := s.PutProxyCA(next); err != nil {
			return err
		}
		for _, ca := range cas {
			if ca.RetiredAt.IsZero() {
				ca.RetiredAt, ca.TrustUntil = now, now.Add(overlap)
				if err := s.PutProxyCA(ca); err != nil {
					return err
				}
			}
		}
		out, err = s.ListProxyCAs()
		return err
	})
	if err == nil && !ran {
		err = fmt.Errorf("store: another node is making or rotating the proxy CA: %w", ErrUnavailable)
	}
	return out, err
}

// CurrentProxyCA is the CA that signs: the newest one not retired.
func CurrentProxyCA(cas []ProxyCA) (ProxyCA, bool) {
	if c := current(cas); c != nil {
		return *c, true
	}
	return ProxyCA{}, false
}

func current(cas []ProxyCA) *ProxyCA {
	for i := range cas {
		if cas[i].RetiredAt.IsZero() {
			return &cas[i]
		}
	}
	return nil
}
