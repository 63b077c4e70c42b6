package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"golang.org/x/net/http2"
)

// shared is what every tunnel of a handler uses, made once at Provision
// so that a new tunnel allocates little: one TLS server configuration
// (so its session tickets resume across tunnels), one HTTP/2 server and
// the standard library loggers.
type shared struct {
	tls         *tls.Config
	h2          *http2.Server
	tunnelLog   *log.Logger
	upstreamLog *log.Logger
}

func newShared(h *Handler) *shared {
	return &shared{
		tls: &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"},
			// nil (no curves set): Go's defaults, X25519MLKEM768 first.
			CurvePreferences: h.curves,
			// The leaf is the CONNECT host's, whatever the client's SNI
			// says (a differing SNI is refused 421 on the first request).
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if lc, ok := hello.Conn.(*leafConn); ok {
					return lc.leaf, nil
				}
				return nil, errors.New("keygate_proxy: a TLS connection outside a tunnel")
			},
		},
		h2:          &http2.Server{MaxConcurrentStreams: 100, IdleTimeout: tunnelIdleTimeout},
		tunnelLog:   debugLog(h.logger.Named("tunnel")),
		upstreamLog: debugLog(h.logger.Named("upstream")),
	}
}

// curveIDs maps curves' names, as Caddy's `tls { curves }` spells them, to
// the key exchanges a tunnel's TLS server accepts (crypto/tls ignores
// their order). None: nil, Go's defaults.
func curveIDs(names []string) ([]tls.CurveID, error) {
	var ids []tls.CurveID
	for _, n := range names {
		id, ok := caddytls.SupportedCurves[n]
		if !ok {
			return nil, fmt.Errorf("unknown curve %q; valid: %s", n, strings.Join(curveNames(), ", "))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// curveNames lists the names curves takes, sorted.
func curveNames() []string {
	names := make([]string, 0, len(caddytls.SupportedCurves))
	for n := range caddytls.SupportedCurves {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// leafConn is a tunnel's client connection, carrying the leaf its TLS
// handshake presents.
type leafConn struct {
	net.Conn
	leaf *tls.Certificate
}

// dnsCache keeps the addresses a name resolved to for a short while: a
// new tunnel to a host keygate just resolved does not wait on DNS again,
// and gets the same target, so the same kept-alive upstream connections.
// Every address is checked again on each use, and the address dialed is
// always one checked: a cached answer cannot rebind.
type dnsCache struct {
	mu sync.Mutex
	m  map[string]dnsAnswer
}

type dnsAnswer struct {
	addrs []netip.Addr
	until time.Time
}

const (
	dnsTTL     = 30 * time.Second
	maxDNSKept = 4096
)

// lookup resolves host, from the cache when its answer is fresh. Only
// answers are kept, never failures. A nil cache resolves every time.
func (c *dnsCache) lookup(ctx context.Context, host string, now time.Time) ([]netip.Addr, error) {
	if c == nil {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	c.mu.Lock()
	a, ok := c.m[host]
	c.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.addrs, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxDNSKept {
		c.m = map[string]dnsAnswer{}
	}
	c.m[host] = dnsAnswer{addrs: addrs, until: now.Add(dnsTTL)}
	c.mu.Unlock()
	return addrs, nil
}
