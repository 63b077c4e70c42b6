package proxy

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

func testSigner(t testing.TB) *caSigner {
	t.Helper()
	ca, err := store.NewProxyCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(ca.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &caSigner{id: ca.ID, cert: cert, key: k.(crypto.Signer)}
}

// TestMintLeaf: a leaf verifies under the CA for its host only, and has
// what strict verifiers (Python 3.13) ask for: SAN, SKI, AKI = the CA's
// SKI, server auth, about a day.
func TestMintLeaf(t *testing.T) {
	ca := testSigner(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	now := time.Now()
	for _, host := range []string{"api.example.com", "127.0.0.1", "::1"} {
		tc, err := mintLeaf(ca, host, now)
		if err != nil {
			t.Fatal(err)
		}
		leaf := tc.Leaf
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: roots}); err == nil {
			t.Errorf("%s: the leaf verifies for another host", host)
		}
		if len(leaf.SubjectKeyId) == 0 || !bytes.Equal(leaf.AuthorityKeyId, ca.cert.SubjectKeyId) {
			t.Errorf("%s: SKI %x AKI %x, CA SKI %x", host, leaf.SubjectKeyId, leaf.AuthorityKeyId, ca.cert.SubjectKeyId)
		}
		if leaf.IsCA || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
			t.Errorf("%s: IsCA %v, EKU %v", host, leaf.IsCA, leaf.ExtKeyUsage)
		}
		if d := leaf.NotAfter.Sub(now); d < 23*time.Hour || d > 25*time.Hour {
			t.Errorf("%s: valid for %s", host, d)
		}
	}
}

// BenchmarkMintLeaf is what a tunnel to a host without a cached leaf
// costs beyond one that has one.
func BenchmarkMintLeaf(b *testing.B) {
	ca := testSigner(b)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mintLeaf(ca, "api.example.com", now); err != nil {
			b.Fatal(err)
		}
	}
}
