package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// target is where every request of a tunnel (or one absolute-form request)
// goes: the authority the client named and the one address keygate
// resolved and checked for it. Nothing re-resolves the name, so a DNS
// answer that changes after the check (rebinding) changes nothing.
type target struct {
	scheme string
	host   string // lower case, no trailing dot, IPv6 without brackets
	port   string
	addr   netip.AddrPort
}

// authority is host:port as the Host header of a request to it says it
// (the port omitted when it is the scheme's default).
func (t *target) authority() string {
	h := t.host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if t.port == defaultPort(t.scheme) {
		return h
	}
	return h + ":" + t.port
}

func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}

var errBadAuthority = errors.New("malformed authority")

// splitAuthority splits host[:port], defaulting the port, and normalizes
// the host (lower case, no trailing dot).
func splitAuthority(a, defPort string) (host, port string, err error) {
	if a == "" {
		return "", "", errBadAuthority
	}
	host, port = a, defPort
	if h, p, err := net.SplitHostPort(a); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(a, "[") && strings.HasSuffix(a, "]") {
		host = a[1 : len(a)-1]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", "", errBadAuthority
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || strings.ContainsAny(host, "/?#@\\% \t\r\n") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return "", "", errBadAuthority
	}
	return host, port, nil
}

// sameAuthority reports whether a request's Host names t.
func (t *target) sameAuthority(hostHeader string) bool {
	h, p, err := splitAuthority(hostHeader, defaultPort(t.scheme))
	return err == nil && h == t.host && p == t.port
}

// metadataAddrs are the cloud instance metadata services, refused even
// where private upstreams are allowed: their answers are credentials.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("169.254.170.2"),
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("fd00:ec2::254"),
}

var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// addrAllowed reports whether keygate may dial a.
// An IPv6 address that carries an IPv4 one (NAT64, 6to4) is judged as
// the address it reaches.
func (h *Handler) addrAllowed(a netip.Addr) bool {
	a = store.EmbeddedIPv4(a)
	for _, m := range metadataAddrs {
		if a == m {
			return false
		}
	}
	if a.IsUnspecified() || a.IsMulticast() || !a.IsValid() {
		return false
	}
	if h.AllowPrivateUpstreams {
		return true
	}
	return !(a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsInterfaceLocalMulticast() || sharedAddressSpace.Contains(a) ||
		(a.Is4() && a.As4()[0] == 0)) && store.UpstreamAddrClass(a) == store.UpstreamPublic
}

// resolve checks an authority and finds the address to dial. Every address
// the name resolves to must be allowed: a name that answers with a public
// and a private address is refused, whichever would have come first.
func (h *Handler) resolve(ctx context.Context, scheme, authority string) (*target, *gateway.Problem) {
	host, port, err := splitAuthority(authority, defaultPort(scheme))
	if err != nil {
		return nil, gateway.NewProblem(http.StatusBadRequest, "bad_target", "the proxy target must be host:port")
	}
	t := &target{scheme: scheme, host: host, port: port}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, timeoutOr(h.DialTimeout, defaultDialTimeout))
		addrs, err = h.dns.lookup(rctx, host, time.Now())
		cancel()
		if err != nil || len(addrs) == 0 {
			return nil, gateway.NewProblem(http.StatusBadGateway, "upstream_unresolved", fmt.Sprintf("%s does not resolve", host))
		}
	}
	for _, a := range addrs {
		if !h.addrAllowed(a) {
			return nil, gateway.NewProblem(http.StatusForbidden, "upstream_not_allowed",
				fmt.Sprintf("%s resolves to a loopback, private, link-local or metadata address, which this proxy site does not dial", host))
		}
	}
	n, _ := strconv.Atoi(port)
	t.addr = netip.AddrPortFrom(addrs[0].Unmap(), uint16(n))
	return t, nil
}

// dial connects to the checked address, whatever address the transport
// asks for.
func (h *Handler) dial(ctx context.Context, t *target) (net.Conn, error) {
	d := net.Dialer{Timeout: timeoutOr(h.DialTimeout, defaultDialTimeout)}
	return d.DialContext(ctx, "tcp", t.addr.String())
}
