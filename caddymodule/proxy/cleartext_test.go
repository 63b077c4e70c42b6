package proxy

import (
	"net/netip"
	"testing"
)

// A value never goes in cleartext to a public address; over TLS, or to a
// loopback or private one, it may.
func TestCleartextRefusal(t *testing.T) {
	for _, c := range []struct {
		scheme, addr string
		refused      bool
	}{
		{"http", "93.184.215.14:80", true},
		{"http", "[2606:4700::1111]:80", true},
		{"http", "[64:ff9b::5db8:d70e]:80", true},
		{"https", "93.184.215.14:443", false},
		{"http", "127.0.0.1:8080", false},
		{"http", "10.1.2.3:80", false},
		{"http", "[fd12::1]:80", false},
	} {
		tgt := &target{scheme: c.scheme, host: "api.example.com", addr: netip.MustParseAddrPort(c.addr)}
		p := cleartextRefusal(tgt, "API_KEY")
		if (p != nil) != c.refused {
			t.Errorf("%s %s: refused = %v", c.scheme, c.addr, p != nil)
		}
		if p != nil && (p.Status != 403 || p.Reason != "not_supported" || p.Key != "API_KEY") {
			t.Errorf("%s %s: %+v", c.scheme, c.addr, p)
		}
	}
}
