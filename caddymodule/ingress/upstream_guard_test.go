package ingress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// peerConn is a connection to a given remote address.
type peerConn struct {
	net.Conn
	remote net.Addr
}

func (c peerConn) RemoteAddr() net.Addr { return c.remote }
func (c peerConn) Close() error         { return nil }

// TestGuardCleartext: an http:// upstream's transport dials no public
// address (the token and values would cross the network unencrypted); a
// TLS one does, and both keep the site's class rules.
func TestGuardCleartext(t *testing.T) {
	dialTo := func(ip string, cleartext bool, allowed ...string) error {
		rt := &reverseproxy.HTTPTransport{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			return peerConn{remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 80}}, nil
		}}}
		guardDials(rt, allowed, cleartext)
		_, err := rt.Transport.DialContext(context.Background(), "tcp", "x:80")
		return err
	}
	var ur *upstreamRefused
	for _, c := range []struct {
		ip        string
		cleartext bool
		allowed   []string
		refused   bool
	}{
		{"93.184.215.14", true, nil, true},
		{"2606:4700::1111", true, nil, true},
		{"93.184.215.14", false, nil, false},
		{"10.1.2.3", true, []string{"private"}, false},
		{"10.1.2.3", true, []string{"loopback"}, true},
	} {
		err := dialTo(c.ip, c.cleartext, c.allowed...)
		if got := errors.As(err, &ur); got != c.refused {
			t.Errorf("%s cleartext=%v allowed=%v: %v", c.ip, c.cleartext, c.allowed, err)
		}
	}
	if p := upstreamRefusal(dialTo("93.184.215.14", true)); p == nil || p.Status != 403 || p.Reason != "upstream_not_allowed" {
		t.Fatalf("refusal %+v", p)
	}
}
