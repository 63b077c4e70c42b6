package proxy

import (
	"context"
	"net/netip"
	"testing"
)

func TestAddrAllowed(t *testing.T) {
	strict, loose := &Handler{}, &Handler{AllowPrivateUpstreams: true}
	for _, c := range []struct {
		addr          string
		strict, loose bool
	}{
		{"93.184.215.14", true, true},
		{"2606:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"192.168.1.1", false, true},
		{"fd12::1", false, true},
		{"169.254.10.1", false, true},
		{"fe80::1", false, true},
		{"100.64.0.1", false, true},
		{"0.1.2.3", false, true},
		{"169.254.169.254", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"fd00:ec2::254", false, false},
		{"100.100.100.200", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"::ffff:127.0.0.1", false, true},
		// IPv6 forms carrying an IPv4 address a NAT64 gateway, a 6to4
		// relay or the host may route them to: as that address.
		{"64:ff9b::a9fe:a9fe", false, false},
		{"64:ff9b::7f00:1", false, true},
		{"64:ff9b::a00:1", false, true},
		{"64:ff9b::5db8:d70e", true, true},
		{"::a9fe:a9fe", false, false},
		{"::7f00:1", false, true},
		{"2002:a9fe:a9fe::1", false, false},
		{"2002:c0a8:101::1", false, true},
		{"64:ff9b:1::a00:1", false, true},
	} {
		a := netip.MustParseAddr(c.addr)
		if got := strict.addrAllowed(a); got != c.strict {
			t.Errorf("strict %s = %v", c.addr, got)
		}
		if got := loose.addrAllowed(a); got != c.loose {
			t.Errorf("allow_private_upstreams %s = %v", c.addr, got)
		}
	}
}

func TestSplitAuthority(t *testing.T) {
	for in, want := range map[string][2]string{
		"API.Example.com:443":  {"api.example.com", "443"},
		"api.example.com.:443": {"api.example.com", "443"},
		"api.example.com":      {"api.example.com", "443"},
		"[::1]:8443":           {"::1", "8443"},
		"[::1]":                {"::1", "443"},
		"127.0.0.1:1":          {"127.0.0.1", "1"},
	} {
		h, p, err := splitAuthority(in, "443")
		if err != nil || h != want[0] || p != want[1] {
			t.Errorf("%q = %q %q %v", in, h, p, err)
		}
	}
	for _, bad := range []string{"", ":443", "a:0", "a:65536", "a:+1", "a:01", "a b:443", "a/b:443", "user@a:443", "a:443:1", "a%2f:443"} {
		if _, _, err := splitAuthority(bad, "443"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSameAuthority(t *testing.T) {
	tg := &target{scheme: "https", host: "api.example.com", port: "443"}
	for h, want := range map[string]bool{
		"api.example.com": true, "API.example.com:443": true, "api.example.com.": true,
		"api.example.com:8443": false, "evil.example.com": false, "": false, "api.example.com.evil": false,
	} {
		if got := tg.sameAuthority(h); got != want {
			t.Errorf("%q = %v", h, got)
		}
	}
}

// TestResolveRefusesAnyPrivateAnswer: a name is refused when any of its
// addresses is one keygate does not dial.
func TestResolveRefusesAnyPrivateAnswer(t *testing.T) {
	h := &Handler{}
	if _, p := h.resolve(context.Background(), "https", "localhost:443"); p == nil || p.Reason != "upstream_not_allowed" {
		t.Fatalf("localhost: %+v", p)
	}
	if _, p := h.resolve(context.Background(), "https", "10.0.0.1:443"); p == nil || p.Reason != "upstream_not_allowed" {
		t.Fatalf("10.0.0.1: %+v", p)
	}
	if _, p := h.resolve(context.Background(), "https", "bad host:443"); p == nil || p.Reason != "bad_target" {
		t.Fatalf("bad host: %+v", p)
	}
	tg, p := (&Handler{AllowPrivateUpstreams: true}).resolve(context.Background(), "https", "127.0.0.1:8443")
	if p != nil || tg.addr.String() != "127.0.0.1:8443" || tg.authority() != "127.0.0.1:8443" {
		t.Fatalf("127.0.0.1 allowed: %+v %+v", tg, p)
	}
}
