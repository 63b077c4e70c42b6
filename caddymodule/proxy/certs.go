package proxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

const (
	leafLifetime = 24 * time.Hour
	// A leaf is minted again once less than this is left of it.
	leafRenewBefore = time.Hour
	// The CA is read again this often, so a rotation on another node
	// reaches this one.
	caRecheck    = time.Minute
	maxLeafCache = 10000
)

// leafCache mints leaf certificates from keygate's current CA and keeps
// them per host.
type leafCache struct {
	app *gateway.App
	mu  sync.Mutex
	ca  *caSigner
	m   map[string]*tls.Certificate
}

type caSigner struct {
	id      string
	cert    *x509.Certificate
	key     crypto.Signer
	checked time.Time
}

func newLeafCache(app *gateway.App) *leafCache {
	return &leafCache{app: app, m: map[string]*tls.Certificate{}}
}

// signer returns the current CA, loading (and on first use making) it.
// The caller holds c.mu.
func (c *leafCache) signer(now time.Time) (*caSigner, error) {
	if c.ca != nil && now.Sub(c.ca.checked) < caRecheck {
		return c.ca, nil
	}
	cas, err := c.app.Store().EnsureProxyCA()
	if err != nil {
		return nil, err
	}
	cur, ok := store.CurrentProxyCA(cas)
	if !ok {
		return nil, errors.New("keygate_proxy: no current CA")
	}
	if c.ca != nil && c.ca.id == cur.ID {
		c.ca.checked = now
		return c.ca, nil
	}
	cert, err := x509.ParseCertificate(cur.CertDER)
	if err != nil {
		return nil, fmt.Errorf("keygate_proxy: CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(cur.Key)
	clear(cur.Key)
	if err != nil {
		return nil, fmt.Errorf("keygate_proxy: CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("keygate_proxy: CA key cannot sign")
	}
	c.ca = &caSigner{id: cur.ID, cert: cert, key: signer, checked: now}
	clear(c.m) // leaves of the old CA go
	return c.ca, nil
}

// get returns the leaf for host, minting it if none is cached or the
// cached one is near its end.
func (c *leafCache) get(host string) (*tls.Certificate, error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	ca, err := c.signer(now)
	if err != nil {
		return nil, err
	}
	if leaf, ok := c.m[host]; ok && now.Add(leafRenewBefore).Before(leaf.Leaf.NotAfter) {
		return leaf, nil
	}
	leaf, err := mintLeaf(ca, host, now)
	if err != nil {
		return nil, err
	}
	if len(c.m) >= maxLeafCache {
		clear(c.m)
	}
	c.m[host] = leaf
	return leaf, nil
}

// mintLeaf makes an ECDSA P-256 leaf for host, valid about a day, with a
// Subject Key Identifier; CreateCertificate takes the Authority Key
// Identifier from the CA's Subject Key Identifier.
func mintLeaf(ca *caSigner, host string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(pub)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SubjectKeyId: ski[:],
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("keygate_proxy: minting a leaf: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}
