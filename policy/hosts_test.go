package policy

import (
	"strings"
	"testing"
)

func TestMatchHost(t *testing.T) {
	tests := []struct {
		pattern, host, port string
		want                bool
	}{
		// exact names
		{"api.stripe.com", "api.stripe.com", "443", true},
		{"api.stripe.com", "api.stripe.com", "", true},
		{"api.stripe.com", "API.Stripe.COM", "443", true},
		{"API.STRIPE.COM", "api.stripe.com", "443", true},
		{"api.stripe.com", "api.stripe.com.", "443", true},
		{"api.stripe.com.", "api.stripe.com", "443", true},
		{"api.stripe.com.", "api.stripe.com.", "443", true},
		{"localhost", "localhost", "8080", true},
		{"under_score.example", "under_score.example", "", true},
		// exact names: tricks
		{"api.stripe.com", "api.stripe.com.evil.com", "443", false},
		{"api.stripe.com", "evilapi.stripe.com", "443", false},
		{"api.stripe.com", "evil-api.stripe.com", "443", false},
		{"api.stripe.com", "x.api.stripe.com", "443", false},
		{"api.stripe.com", "api-stripe.com", "443", false},
		{"api.stripe.com", "apistripe.com", "443", false},
		{"api.stripe.com", "api.stripe.co", "443", false},
		{"api.stripe.com", "api.stripe.com..", "443", false},
		{"api.stripe.com", ".api.stripe.com", "443", false},
		{"api.stripe.com", "api..stripe.com", "443", false},
		{"api.stripe.com", "api.stripe.com:443", "443", false},
		{"api.stripe.com", "api.stripe.com ", "443", false},
		{"api.stripe.com", " api.stripe.com", "443", false},
		{"api.stripe.com", "api.stripe.com\x00", "443", false},
		{"api.stripe.com", "api.stripe.com/", "443", false},
		{"api.stripe.com", "api.stripe.com\\", "443", false},
		{"api.stripe.com", "api%2estripe.com", "443", false},
		{"api.stripe.com", "api.stripe%2ecom", "443", false},
		{"api.stripe.com", "api.stripe.com%00", "443", false},
		{"api.stripe.com", "user@api.stripe.com", "443", false},
		{"api.stripe.com", "\u0430pi.stripe.com", "443", false}, // Cyrillic а
		{"api.stripe.com", "api.stripe.c\u043em", "443", false}, // Cyrillic о
		{"api.stripe.com", "api.stripe.com\u200b", "443", false},
		{"api.stripe.com", "ａpi.stripe.com", "443", false},      // fullwidth a
		{"api.stripe.com", "api\u3002stripe.com", "443", false}, // ideographic full stop
		{"api.stripe.com", "xn--pi-7ld.stripe.com", "443", false},
		{"api.stripe.com", "", "443", false},
		{"api.stripe.com", ".", "443", false},
		{"api.stripe.com", "[api.stripe.com]", "443", false},
		{"", "api.stripe.com", "443", false},
		{".", "", "", false},
		{"\u0430pi.stripe.com", "\u0430pi.stripe.com", "443", false}, // non-ASCII never matches
		{"api.stripe.com", strings.Repeat("a", 64) + ".stripe.com", "443", false},
		// wildcards: exactly one label
		{"*.stripe.com", "api.stripe.com", "443", true},
		{"*.stripe.com", "API.STRIPE.COM.", "443", true},
		{"*.Stripe.Com", "files.stripe.com", "", true},
		{"*.stripe.com.", "a.stripe.com", "", true},
		{"*.stripe.com", "a-b_c.stripe.com", "", true},
		{"*.stripe.com", "stripe.com", "443", false},
		{"*.stripe.com", ".stripe.com", "443", false},
		{"*.stripe.com", "stripe.com.", "443", false},
		{"*.stripe.com", "v1.api.stripe.com", "443", false},
		{"*.stripe.com", "evilstripe.com", "443", false},
		{"*.stripe.com", "evil-stripe.com", "443", false},
		{"*.stripe.com", "stripe.com.evil.com", "443", false},
		{"*.stripe.com", "api.stripe.com.evil.com", "443", false},
		{"*.stripe.com", "api.stripe.comm", "443", false},
		{"*.stripe.com", "a..stripe.com", "443", false},
		{"*.stripe.com", "*.stripe.com", "443", false},
		{"*.stripe.com", "\u0430.stripe.com", "443", false},
		{"*.stripe.com", "a%2estripe.com", "443", false},
		{"*.stripe.com", "a.stripe%2ecom", "443", false},
		{"*.stripe.com", "", "443", false},
		{"*.api.stripe.com", "v1.api.stripe.com", "443", true},
		{"*.api.stripe.com", "api.stripe.com", "443", false},
		// malformed wildcards never match
		{"*", "api.stripe.com", "443", false},
		{"*.", "api.stripe.com", "443", false},
		{"*.*.com", "a.b.com", "443", false},
		{"**.stripe.com", "a.stripe.com", "443", false},
		{"*stripe.com", "evilstripe.com", "443", false},
		{"a*.stripe.com", "ab.stripe.com", "443", false},
		{"api.*.com", "api.stripe.com", "443", false},
		{"*..stripe.com", "a..stripe.com", "443", false},
		{".stripe.com", "a.stripe.com", "443", false},
		// ports
		{"api.stripe.com:443", "api.stripe.com", "443", true},
		{"api.stripe.com:443", "api.stripe.com", "8443", false},
		{"api.stripe.com:443", "api.stripe.com", "", false},
		{"api.stripe.com:8443", "api.stripe.com", "08443", false},
		{"api.stripe.com", "api.stripe.com", "08443", false},
		{"api.stripe.com", "api.stripe.com", "0", false},
		{"api.stripe.com", "api.stripe.com", "65536", false},
		{"api.stripe.com", "api.stripe.com", "65535", true},
		{"api.stripe.com", "api.stripe.com", "443a", false},
		{"api.stripe.com", "api.stripe.com", "-1", false},
		{"api.stripe.com", "api.stripe.com", "+443", false},
		{"api.stripe.com:0443", "api.stripe.com", "443", false},
		{"api.stripe.com:", "api.stripe.com", "443", false},
		{"api.stripe.com:99999", "api.stripe.com", "443", false},
		{"api.stripe.com:https", "api.stripe.com", "443", false},
		{"*.stripe.com:443", "api.stripe.com", "443", true},
		{"*.stripe.com:443", "api.stripe.com", "80", false},
		{"api.stripe.com.:443", "api.stripe.com", "443", true},
		// IPv4
		{"10.0.0.5", "10.0.0.5", "443", true},
		{"10.0.0.5", "10.0.0.5", "", true},
		{"10.0.0.5:8080", "10.0.0.5", "8080", true},
		{"10.0.0.5:8080", "10.0.0.5", "8081", false},
		{"10.0.0.5", "10.0.0.6", "443", false},
		{"10.0.0.5", "10.0.0.50", "443", false},
		{"10.0.0.5", "010.0.0.5", "443", false},
		{"10.0.0.5", "10.0.0.5.", "443", false},
		{"10.0.0.5", "0x0a.0.0.5", "443", false},
		{"10.0.0.5", "167772165", "443", false},
		{"10.0.0.5", "10.5", "443", false},
		{"10.0.0.5", "::ffff:10.0.0.5", "443", false},
		{"10.0.0.5", "[::ffff:10.0.0.5]", "443", false},
		{"*.0.0.5", "10.0.0.5", "443", false},
		{"*.5", "10.0.0.5", "443", false},
		{"127.1", "127.1", "", false},
		{"1.2.3", "1.2.3", "", false},
		{"*.1", "127.1", "", false},
		{"*.0x7f", "a.0x7f", "", false},
		{"api.stripe.com", "10.0.0.5", "443", false},
		{"10.0.0.5", "api.stripe.com", "443", false},
		// IPv6
		{"::1", "::1", "443", true},
		{"[::1]", "::1", "443", true},
		{"::1", "[::1]", "443", true},
		{"[::1]:8443", "::1", "8443", true},
		{"[::1]:8443", "[::1]", "8443", true},
		{"[::1]:8443", "::1", "443", false},
		{"[::1]:8443", "::1", "", false},
		{"::1", "0:0:0:0:0:0:0:1", "", true},
		{"2001:db8::1", "2001:DB8::1", "", true},
		{"2001:db8::1", "2001:db8::2", "", false},
		{"::1", "::2", "", false},
		{"::1", "fe80::1%eth0", "", false},
		{"fe80::1%eth0", "fe80::1%eth0", "", false},
		{"::ffff:10.0.0.5", "10.0.0.5", "", false},
		{"[::1", "::1", "", false},
		{"[::1]x", "::1", "", false},
		{"[::1]:", "::1", "", false},
		{"[10.0.0.5]", "10.0.0.5", "", false},
		{"[api.stripe.com]", "api.stripe.com", "", false},
		{"[]", "", "", false},
		{"::1", "[::1", "", false},
		{"::1", "[]", "", false},
		{"1:2:3", "1:2:3", "", false},
		{"*.stripe.com", "::1", "", false},
	}
	for _, tc := range tests {
		if got := MatchHost(tc.pattern, tc.host, tc.port); got != tc.want {
			t.Errorf("MatchHost(%q, %q, %q) = %v, want %v", tc.pattern, tc.host, tc.port, got, tc.want)
		}
	}
}

func TestMatchHostLongNames(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 253 bytes
	if len(name253) != 253 {
		t.Fatal(len(name253))
	}
	if !MatchHost(name253, name253, "") {
		t.Error("253-byte name")
	}
	if MatchHost(name253+"c", name253+"c", "") {
		t.Error("254-byte name")
	}
	if !MatchHost("*.example.com", label63+".example.com", "") {
		t.Error("63-byte label")
	}
}

func TestHostAllowed(t *testing.T) {
	patterns := []string{"api.stripe.com", "*.files.stripe.com", "[::1]:8443", "10.0.0.5"}
	tests := []struct {
		host, port string
		want       bool
	}{
		{"api.stripe.com", "443", true},
		{"a.files.stripe.com", "443", true},
		{"files.stripe.com", "443", false},
		{"::1", "8443", true},
		{"::1", "443", false},
		{"10.0.0.5", "1", true},
		{"evil.com", "443", false},
	}
	for _, tc := range tests {
		if got := HostAllowed(patterns, tc.host, tc.port); got != tc.want {
			t.Errorf("HostAllowed(%q, %q) = %v", tc.host, tc.port, got)
		}
	}
	if HostAllowed(nil, "api.stripe.com", "443") || HostAllowed([]string{}, "api.stripe.com", "443") {
		t.Error("no patterns allowed something")
	}
}

func TestMatchHostDoesNotAllocate(t *testing.T) {
	cases := [][3]string{
		{"api.stripe.com", "API.stripe.com.", "443"},
		{"*.stripe.com:443", "api.stripe.com", "443"},
		{"10.0.0.5", "10.0.0.5", "443"},
		{"[::1]:8443", "::1", "8443"},
		{"api.stripe.com", "evil.com", "443"},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(100, func() { MatchHost(c[0], c[1], c[2]) }); n != 0 {
			t.Errorf("MatchHost%q allocates %v times", c, n)
		}
	}
}

func BenchmarkMatchHost(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !MatchHost("*.stripe.com:443", "API.stripe.com", "443") || MatchHost("api.stripe.com", "api.stripe.com.evil.com", "443") {
			b.Fatal("wrong answer")
		}
	}
}

func BenchmarkHostAllowed(b *testing.B) {
	patterns := []string{"api.openai.com", "*.files.stripe.com", "10.0.0.5:8080", "api.stripe.com"}
	b.ReportAllocs()
	for b.Loop() {
		if !HostAllowed(patterns, "api.stripe.com", "443") {
			b.Fatal("wrong answer")
		}
	}
}
