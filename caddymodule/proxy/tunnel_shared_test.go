package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
)

// handshake runs one tunnel's TLS handshake over a pipe: the server with
// cfg presenting leaf, the client trusting the CA, cache its session
// cache (nil: none).
func handshake(tb testing.TB, cfg *tls.Config, leaf *tls.Certificate, roots *x509.CertPool, cache tls.ClientSessionCache) tls.ConnectionState {
	cs, ss := net.Pipe()
	defer cs.Close()
	defer ss.Close()
	srv := tls.Server(&leafConn{Conn: ss, leaf: leaf}, cfg)
	done := make(chan error, 1)
	go func() {
		done <- srv.HandshakeContext(context.Background())
		// TLS 1.3 sends its tickets after the handshake; a read makes the
		// client take them.
		srv.Write([]byte{0})
	}()
	cl := tls.Client(cs, &tls.Config{ServerName: "api.example.com", RootCAs: roots, ClientSessionCache: cache})
	if err := cl.Handshake(); err != nil {
		tb.Fatal(err)
	}
	cl.Read(make([]byte, 1))
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	return cl.ConnectionState()
}

func sharedForTest(tb testing.TB) (*shared, *tls.Certificate, *x509.CertPool) {
	ca := testSigner(tb)
	leaf, err := mintLeaf(ca, "api.example.com", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	return newShared(&Handler{logger: zap.NewNop()}), leaf, roots
}

// TestSharedTLSResumes: the tunnels of one handler share a TLS server
// configuration, so a client that keeps sessions resumes on its next
// tunnel, and each tunnel presents its own leaf.
func TestSharedTLSResumes(t *testing.T) {
	sh, leaf, roots := sharedForTest(t)
	cache := tls.NewLRUClientSessionCache(4)
	if st := handshake(t, sh.tls, leaf, roots, cache); st.DidResume || st.PeerCertificates[0].Subject.CommonName != "api.example.com" {
		t.Fatalf("first tunnel: resumed %v", st.DidResume)
	}
	if st := handshake(t, sh.tls, leaf, roots, cache); !st.DidResume {
		t.Fatal("the second tunnel did not resume")
	}
	if _, err := sh.tls.GetCertificate(&tls.ClientHelloInfo{Conn: &net.TCPConn{}}); err == nil {
		t.Fatal("a connection that is no tunnel got a leaf")
	}
}

// TestTunnelCurves: a tunnel's handshake with Go's client defaults
// negotiates the post-quantum hybrid unless curves says otherwise, and
// then what curves says.
func TestTunnelCurves(t *testing.T) {
	_, leaf, roots := sharedForTest(t)
	for _, tc := range []struct {
		caddyfile string
		want      tls.CurveID
	}{
		{"keygate_proxy", tls.X25519MLKEM768},
		{"keygate_proxy {\n curves x25519\n}", tls.X25519},
	} {
		h := &Handler{logger: zap.NewNop()}
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.caddyfile)); err != nil {
			t.Fatal(err)
		}
		var err error
		if h.curves, err = curveIDs(h.Curves); err != nil {
			t.Fatal(err)
		}
		if st := handshake(t, newShared(h).tls, leaf, roots, nil); st.CurveID != tc.want {
			t.Errorf("%q: negotiated %v, want %v", tc.caddyfile, st.CurveID, tc.want)
		}
	}
}

// BenchmarkTunnelHandshake: a new tunnel's TLS handshake, both ends in
// this process, with a full handshake each time (Go's curves, and
// `curves x25519`) and with the client's sessions resumed.
func BenchmarkTunnelHandshake(b *testing.B) {
	sh, leaf, roots := sharedForTest(b)
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			handshake(b, sh.tls, leaf, roots, nil)
		}
	})
	b.Run("full/x25519", func(b *testing.B) {
		x := newShared(&Handler{logger: zap.NewNop(), curves: []tls.CurveID{tls.X25519}})
		for b.Loop() {
			handshake(b, x.tls, leaf, roots, nil)
		}
	})
	b.Run("resumed", func(b *testing.B) {
		cache := tls.NewLRUClientSessionCache(4)
		for b.Loop() {
			handshake(b, sh.tls, leaf, roots, cache)
		}
	})
}

// TestDNSCache: an answer is reused while fresh and asked again after;
// a nil cache always asks.
func TestDNSCache(t *testing.T) {
	var c dnsCache
	now := time.Now()
	a, err := c.lookup(context.Background(), "localhost", now)
	if err != nil || len(a) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	c.m["localhost"] = dnsAnswer{addrs: a[:1], until: now.Add(time.Second)}
	if got, _ := c.lookup(context.Background(), "localhost", now.Add(time.Millisecond)); len(got) != 1 {
		t.Fatal("a fresh answer was not reused")
	}
	if got, _ := c.lookup(context.Background(), "localhost", now.Add(2*time.Second)); c.m["localhost"].until.Before(now.Add(2*time.Second)) || len(got) == 0 {
		t.Fatal("a stale answer was not asked again")
	}
	if _, err := (*dnsCache)(nil).lookup(context.Background(), "localhost", now); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkTunnelServer: a tunnel's HTTP/1.1 server, from its Serve to
// one request answered and the connection closed.
func BenchmarkTunnelServer(b *testing.B) {
	h := &Handler{logger: zap.NewNop()}
	h.shared = newShared(h)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	req := []byte("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		cli, srv := net.Pipe()
		done := make(chan struct{})
		go func() {
			_ = h.tunnelServer(context.Background(), ok).Serve(newOneConnListener(srv))
			close(done)
		}()
		if _, err := cli.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, cli); err != nil {
			b.Fatal(err)
		}
		cli.Close()
		<-done
	}
}
