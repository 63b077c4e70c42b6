package ingress

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestCleanupClosesTransportConnections: the handler's Cleanup reaches the
// transport it built, so a reload does not leave its idle upstream
// connections open.
func TestCleanupClosesTransportConnections(t *testing.T) {
	var closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	tr := &ingressTransport{dialTimeout: caddy.Duration(time.Second), responseTimeout: caddy.Duration(time.Second)}
	if err := tr.provision(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := tr.plain.Transport.RoundTrip(httptest.NewRequest("GET", srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // the connection goes idle in the transport's pool

	h := &PackageHandler{transport: tr}
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for closed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if closed.Load() == 0 {
		t.Fatal("the idle upstream connection is still open after Cleanup")
	}
}
