package gateway

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckAdminTokenLength(t *testing.T) {
	for _, tok := range []string{"", "a", "Zq9_short_Zq9", strings.Repeat("Q", MinAdminTokenLen-1)} {
		err := checkAdminToken(tok)
		if err == nil {
			t.Errorf("a %d-character admin token was accepted", len(tok))
			continue
		}
		if len(tok) > 8 && strings.Contains(err.Error(), tok) {
			t.Error("the error holds the token")
		}
		if !strings.Contains(err.Error(), "admin_token") || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q: want one line naming admin_token", err)
		}
	}
	if err := checkAdminToken(strings.Repeat("x", MinAdminTokenLen)); err != nil {
		t.Errorf("a %d-character token: %v", MinAdminTokenLen, err)
	}
}

func TestFailureGuard(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := newFailureGuard(func() time.Time { return now })
	a, b := netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32")
	for i := range adminFailBurst {
		if w := g.wait(a); w != 0 {
			t.Fatalf("attempt %d refused (wait %v); want %d failures allowed", i+1, w, adminFailBurst)
		}
		g.fail(a)
	}
	w := g.wait(a)
	if w <= 0 || w > adminFailWindow/adminFailBurst {
		t.Fatalf("after %d failures: wait %v, want (0, %v]", adminFailBurst, w, adminFailWindow/adminFailBurst)
	}
	if g.wait(b) != 0 {
		t.Error("another address was refused")
	}
	now = now.Add(w)
	if g.wait(a) != 0 {
		t.Error("still refused once the wait passed")
	}
}

func TestFailureGuardBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := newFailureGuard(func() time.Time { return now })
	for i := range adminGuardMaxIPs + 10 {
		g.fail(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
	}
	if n := len(g.clients); n > adminGuardMaxIPs {
		t.Errorf("%d clients kept, want at most %d", n, adminGuardMaxIPs)
	}
}

func TestClientPrefix(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"127.0.0.1:5000", "127.0.0.0/8"},
		{"127.0.0.2:5000", "127.0.0.0/8"},
		{"127.255.1.9:5000", "127.0.0.0/8"},
		{"[::1]:5000", "127.0.0.0/8"},
		{"[::ffff:127.0.0.3]:5000", "127.0.0.0/8"},
		{"128.0.0.1:5000", "128.0.0.1/32"},
		{"[::2]:5000", "::/64"},
		{"[::ffff:10.1.2.3]:80", "10.1.2.3/32"},
		{"[2001:db8:1:2:3:4:5:6]:80", "2001:db8:1:2::/64"},
		{"garbage", "invalid Prefix"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if got := clientPrefix(r).String(); got != tt.want {
			t.Errorf("clientPrefix(%q) = %s, want %s", tt.remote, got, tt.want)
		}
	}
}
