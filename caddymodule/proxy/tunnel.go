package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http2"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
)

// tunnel is one CONNECT: its target is fixed at CONNECT and every request
// inside goes there or is refused.
type tunnel struct {
	h    *Handler
	tgt  *target
	auth *policy.InvocationClaims
	sni  string
	rt   *http.Transport
}

// serveConnect answers a CONNECT with 200, terminates TLS with a leaf for
// the CONNECT host, and serves HTTP/1.1 or HTTP/2 (by ALPN) inside.
func (h *Handler) serveConnect(w http.ResponseWriter, r *http.Request, auth *policy.InvocationClaims) {
	release, ok := h.sources.acquire(r.RemoteAddr)
	if !ok {
		h.refuse(w, r, r.Host, gateway.NewProblem(http.StatusTooManyRequests, "too_many_tunnels", "this client has too many tunnels open"))
		return
	}
	defer release()
	tgt, prob := h.resolve(r.Context(), "https", r.Host)
	if prob != nil {
		h.refuse(w, r, r.Host, prob)
		return
	}
	leaf, err := h.certs.get(tgt.host)
	if err != nil {
		h.logger.Error("minting a leaf certificate", zap.Error(err))
		h.refuse(w, r, r.Host, gateway.ToProblem(err))
		return
	}
	conn, err := connectConn(w, r)
	if err != nil {
		h.logger.Debug("CONNECT: taking the connection", zap.Error(err))
		return
	}
	defer conn.Close()

	t := &tunnel{h: h, tgt: tgt, auth: auth}
	t.rt = h.transports.get(h, tgt)
	tc := tls.Server(&leafConn{Conn: conn, leaf: leaf}, h.shared.tls)
	hctx, cancel := context.WithTimeout(r.Context(), handshakeTimeout)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		// A client that refuses keygate's CA ends here; nothing was sent.
		h.logger.Debug("CONNECT: TLS handshake failed", zap.String("host", tgt.host), zap.Error(err))
		return
	}
	st := tc.ConnectionState()
	t.sni = st.ServerName
	if st.NegotiatedProtocol == "h2" {
		h.shared.h2.ServeConn(tc, &http2.ServeConnOpts{Context: r.Context(), Handler: t})
		return
	}
	_ = h.tunnelServer(r.Context(), t).Serve(newOneConnListener(tc))
}

// tunnelServer serves a tunnel's HTTP/1.1 requests. Its TLSNextProto is
// empty: the connection it gets is already TLS and its protocol chosen,
// and otherwise every tunnel's Serve would set up an HTTP/2 server of its
// own that nothing uses.
func (h *Handler) tunnelServer(ctx context.Context, handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: handshakeTimeout,
		IdleTimeout:       tunnelIdleTimeout,
		ErrorLog:          h.shared.tunnelLog,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
}

// connectConn takes the client's connection and says 200 on it: hijacked
// on HTTP/1.1, the request stream itself on HTTP/2.
func connectConn(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	rc := http.NewResponseController(w)
	if r.ProtoMajor >= 2 {
		w.WriteHeader(http.StatusOK)
		if err := rc.Flush(); err != nil {
			return nil, err
		}
		return &streamConn{r: r.Body, w: w, flush: rc.Flush}, nil
	}
	conn, brw, err := rc.Hijack()
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	if brw.Reader.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: brw.Reader}, nil
	}
	return conn, nil
}

// ServeHTTP serves one request inside the tunnel.
func (t *tunnel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (t.sni != "" || !isIP(t.tgt.host)) && !t.tgt.sameAuthority(t.sni+":"+t.tgt.port) {
		t.h.refuse(w, r, t.tgt.host, gateway.NewProblem(http.StatusMisdirectedRequest, "misdirected",
			"the TLS server name differs from the CONNECT host: a tunnel goes to its CONNECT host only"))
		return
	}
	if !t.tgt.sameAuthority(r.Host) {
		t.h.refuse(w, r, t.tgt.host, gateway.NewProblem(http.StatusMisdirectedRequest, "misdirected",
			"the request's Host differs from the CONNECT host: a tunnel goes to its CONNECT host only"))
		return
	}
	t.h.forward(w, r, t.tgt, t.auth, t.rt)
}

// serveAbsolute serves an absolute-form request (http:// behind
// HTTP_PROXY) under the same rules as a tunnel.
func (h *Handler) serveAbsolute(w http.ResponseWriter, r *http.Request, auth *policy.InvocationClaims) {
	if r.URL.Scheme != "http" {
		h.refuse(w, r, r.URL.Host, gateway.NewProblem(http.StatusBadRequest, "bad_target", "an absolute-form request must be http://; https:// goes through CONNECT"))
		return
	}
	tgt, prob := h.resolve(r.Context(), "http", r.URL.Host)
	if prob != nil {
		h.refuse(w, r, r.URL.Host, prob)
		return
	}
	// The URL's authority is the target; net/http already set r.Host from
	// it (a proxy ignores the Host header of an absolute-form request, RFC
	// 9112 3.2.2), and the request goes out with it as Host.
	rt := h.transports.get(h, tgt)
	h.forward(w, r, tgt, auth, rt)
}

// transportCache keeps one upstream client per target (scheme, name, port
// and checked address), so tunnels to one host share kept-alive upstream
// connections. It is bounded: past maxTransports every client is let go.
type transportCache struct {
	mu sync.Mutex
	m  map[target]*http.Transport
}

const maxTransports = 1024

func (c *transportCache) get(h *Handler, tgt *target) *http.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rt, ok := c.m[*tgt]; ok {
		return rt
	}
	if c.m == nil || len(c.m) >= maxTransports {
		for _, rt := range c.m {
			rt.CloseIdleConnections()
		}
		c.m = map[target]*http.Transport{}
	}
	rt := h.transport(tgt)
	c.m[*tgt] = rt
	return rt
}

// closeAll lets every client go, at Cleanup.
func (c *transportCache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rt := range c.m {
		rt.CloseIdleConnections()
	}
	c.m = nil
}

// transport is the upstream client of one target: it dials only the
// checked address and verifies TLS for the target's name.
func (h *Handler) transport(tgt *target) *http.Transport {
	pinned := *tgt
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return h.dial(ctx, &pinned)
		},
		TLSClientConfig:       &tls.Config{ServerName: tgt.host, RootCAs: h.roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeoutOr(h.TLSHandshakeTimeout, defaultTLSTimeout),
		ResponseHeaderTimeout: time.Duration(h.ResponseHeaderTimeout),
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       tunnelIdleTimeout,
		Proxy:                 nil, // never another proxy from the environment
	}
}

func isIP(host string) bool { return net.ParseIP(host) != nil }

// oneConnListener hands http.Server one connection and then blocks until
// that connection is closed.
type oneConnListener struct {
	conn net.Conn
	once sync.Once
	done chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{done: make(chan struct{})}
	l.conn = &notifyConn{Conn: c, done: l.done}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

type notifyConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// bufferedConn reads what the hijack already buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// streamConn is an HTTP/2 CONNECT stream as a connection.
type streamConn struct {
	r     io.ReadCloser
	w     io.Writer
	flush func() error
}

func (c *streamConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err == nil {
		err = c.flush()
	}
	return n, err
}
func (c *streamConn) Close() error         { return c.r.Close() }
func (c *streamConn) LocalAddr() net.Addr  { return streamAddr{} }
func (c *streamConn) RemoteAddr() net.Addr { return streamAddr{} }

// The stream's deadlines are the outer HTTP/2 server's; these do nothing.
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

type streamAddr struct{}

func (streamAddr) Network() string { return "h2-stream" }
func (streamAddr) String() string  { return "h2-stream" }

func timeoutOr[D ~int64](d D, def time.Duration) time.Duration {
	if d > 0 {
		return time.Duration(d)
	}
	return def
}
