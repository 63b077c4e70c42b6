package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"os"
	"sync"
	"testing"
	"time"
)

func TestProxyCA(t *testing.T) {
	s, clk := memStore(t)
	cas, err := s.EnsureProxyCA()
	if err != nil {
		t.Fatal(err)
	}
	if len(cas) != 1 {
		t.Fatalf("%d CAs after the first EnsureProxyCA", len(cas))
	}
	first := cas[0]
	cert, err := x509.ParseCertificate(first.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.IsCA || len(cert.SubjectKeyId) == 0 {
		t.Fatalf("CA: IsCA=%v SKI=%x", cert.IsCA, cert.SubjectKeyId)
	}
	key, err := x509.ParsePKCS8PrivateKey(first.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := key.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("the key is a %T", key)
	}
	again, err := s.EnsureProxyCA()
	if err != nil || len(again) != 1 || again[0].ID != first.ID || !bytes.Equal(again[0].Key, first.Key) {
		t.Fatalf("EnsureProxyCA again = %d CAs, %v", len(again), err)
	}

	clk.Add(time.Second)
	rotated, err := s.RotateProxyCA(48 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 2 || rotated[1].ID != first.ID || rotated[1].RetiredAt.IsZero() {
		t.Fatalf("after rotation: %+v", rotated)
	}
	cur, ok := CurrentProxyCA(rotated)
	if !ok || cur.ID == first.ID {
		t.Fatal("the new CA is not the current one")
	}
	old := rotated[1]
	if !old.Trusted(clk.Now().Add(47*time.Hour)) || old.Trusted(clk.Now().Add(49*time.Hour)) {
		t.Fatalf("the old CA's trust: until %v", old.TrustUntil)
	}
	if !bytes.Equal(old.Key, first.Key) || !bytes.Equal(old.CertDER, first.CertDER) {
		t.Fatal("retiring a CA changed its key or certificate")
	}
	if _, err := s.RotateProxyCA(-time.Second); err == nil {
		t.Fatal("a negative overlap was accepted")
	}
}

func TestPutProxyCAValidation(t *testing.T) {
	s, _ := memStore(t)
	ca, err := NewProxyCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]ProxyCA{
		"no id":    {CertDER: ca.CertDER, Key: ca.Key},
		"bad id":   {ID: "a/b", CertDER: ca.CertDER, Key: ca.Key},
		"not cert": {ID: "x", CertDER: []byte("nope"), Key: ca.Key},
		"no key":   {ID: "x", CertDER: ca.CertDER},
	} {
		if err := s.PutProxyCA(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if cas, err := s.ListProxyCAs(); err != nil || len(cas) != 0 {
		t.Fatalf("refused puts stored %d CAs (%v)", len(cas), err)
	}
}

// TestProxyCANodesAgree: nodes starting together on one database make one
// CA between them.
func TestProxyCANodesAgree(t *testing.T) {
	const nodes = 4
	kr := testKeyring(t, "k1")
	stores := make([]*Store, nodes)
	if onPostgres(t) {
		dir := t.TempDir()
		for i := range stores {
			stores[i] = diskStore(t, dir, kr)
		}
	} else {
		s := diskStore(t, "", kr)
		for i := range stores {
			stores[i] = s
		}
	}
	ids := make([]string, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cas, err := s.EnsureProxyCA()
			if err == nil {
				ids[i] = cas[0].ID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("node %d uses CA %s, node 0 %s", i, ids[i], ids[0])
		}
	}
	if cas, _ := stores[0].ListProxyCAs(); len(cas) != 1 {
		t.Fatalf("%d CAs stored", len(cas))
	}
}

// TestProxyCAKeySealed: the CA key is nowhere in the stored bytes.
func TestProxyCAKeySealed(t *testing.T) {
	if onPostgres(t) {
		t.Skip("the Badger files are what is scanned")
	}
	dir := t.TempDir()
	s := diskStore(t, dir, testKeyring(t, "k1"))
	cas, err := s.EnsureProxyCA()
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(cas[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	scalar, err := pk.(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for path := range hashDir(t, dir) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, scalar) || bytes.Contains(raw, cas[0].Key) {
			t.Fatalf("%s holds the CA key", path)
		}
	}
}
