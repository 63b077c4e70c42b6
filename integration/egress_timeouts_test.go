package integration

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// stallingTLS accepts connections and never answers a TLS handshake.
func stallingTLS(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return len(conns) }
}

// TestEgressBoundsTLSHandshake: an upstream that accepts the connection and
// never finishes the TLS handshake is given up on by keygate's default
// bound (10s), not held for as long as the caller waits.
func TestEgressBoundsTLSHandshake(t *testing.T) {
	t.Parallel()
	addr, accepted := stallingTLS(t)
	in := Start(t, Config{
		ExtraPorts: 1,
		ExtraSites: "http://:{{index .Extra 0}} {\n\tbind 127.0.0.1\n\treverse_proxy https://" + addr +
			" {\n\t\ttransport keygate {\n\t\t\tsecret API_KEY\n\t\t\ttls_insecure_skip_verify\n\t\t}\n\t}\n}\n",
	})
	inv, value := egressWorld(t, in, "127.0.0.1")
	noteSensitive(inv, value)
	// The caller waits far longer than the bound; without one it would
	// give up first.
	client := &http.Client{Timeout: 90 * time.Second}
	r, err := tryHTTP(client, "GET", "http://127.0.0.1:"+strconv.Itoa(in.Ports.Extra[0])+"/x", "", bearer(inv), nil)
	if err != nil {
		t.Fatalf("the caller gave up before keygate did: %v", err)
	}
	if (r.Status != http.StatusGatewayTimeout && r.Status != http.StatusBadGateway) || accepted() == 0 {
		t.Errorf("a stalled handshake answered %s after %d connections", r, accepted())
	}
}
