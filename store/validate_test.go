package store

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateSecretName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"A", true}, {"_", true}, {"STRIPE_SECRET_KEY", true}, {"a1_b2", true},
		{strings.Repeat("A", 128), true},
		{"", false}, {"1A", false}, {"A-B", false}, {"A B", false}, {"A.B", false},
		{"Ä", false}, {"A\x00", false}, {strings.Repeat("A", 129), false},
	} {
		err := ValidateSecretName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateSecretName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("not ErrInvalid: %v", err)
		}
	}
}

func TestValidateSecretValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    string
		max  int
		ok   bool
	}{
		{"one byte", "x", 0, true},
		{"max", strings.Repeat("x", 8192), 0, true},
		{"custom max", strings.Repeat("x", 10), 10, true},
		{"empty", "", 0, false},
		{"oversize", strings.Repeat("x", 8193), 0, false},
		{"over custom max", strings.Repeat("x", 11), 10, false},
		{"CR", "sk_\rx", 0, false},
		{"LF", "sk_\nx", 0, false},
		{"CRLF", "sk_\r\n", 0, false},
		{"NUL", "sk_\x00x", 0, false},
	} {
		err := ValidateSecretValue([]byte(tc.v), tc.max)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
		var ve *ValidationError
		if err != nil && (!errors.As(err, &ve) || ve.Field != "value") {
			t.Errorf("%s: error %v does not name field value", tc.name, err)
		}
		if err != nil && len(tc.v) > 2 && strings.Contains(err.Error(), tc.v) {
			t.Errorf("%s: error echoes the value", tc.name)
		}
	}
}

func TestValidateHostPattern(t *testing.T) {
	for _, tc := range []struct {
		p    string
		norm string // "" = refused
	}{
		{"api.stripe.com", "api.stripe.com"},
		{"API.Stripe.COM", "api.stripe.com"},
		{"api.stripe.com:443", "api.stripe.com:443"},
		{"*.example.com", "*.example.com"},
		{"*.example.com:8443", "*.example.com:8443"},
		{"localhost", "localhost"},
		{"127.0.0.1", "127.0.0.1"},
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"[::1]", "[::1]"},
		{"[::1]:8443", "[::1]:8443"},
		{"[2001:DB8::1]:443", "[2001:db8::1]:443"},
		{"2001:db8::1", "2001:db8::1"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"", ""},
		{" api.stripe.com", ""},
		{"api stripe.com", ""},
		{"https://api.stripe.com", ""},
		{"api.stripe.com/v1", ""},
		{"api.stripe.com?x", ""},
		{"user@api.stripe.com", ""},
		{"*", ""},
		{"*:443", ""},
		{"*.com", ""},
		{"a.*.com", ""},
		{"*a.example.com", ""},
		{"*.*.example.com", ""},
		{"api.stripe.com:", ""},
		{"api.stripe.com:0", ""},
		{"api.stripe.com:65536", ""},
		{"api.stripe.com:http", ""},
		{":443", ""},
		{"-bad.example.com", ""},
		{"bad-.example.com", ""},
		{"under_score.example.com", ""},
		{"example.com.", ""},
		{"1.2.3", ""},
		{"2001:db8::1:443x", ""},
		{"[::1", ""},
		{"[::1]x", ""},
		{"[127.0.0.1]", ""},
		{"fe80::1%eth0", ""},
		{"2001:db8::1]:443", ""},
		{"bücher.example", ""},
		{strings.Repeat("a", 64) + ".example.com", ""},
	} {
		got, err := normalizeHostPattern("allowed_hosts[0]", tc.p)
		switch {
		case tc.norm == "" && err == nil:
			t.Errorf("%q accepted as %q", tc.p, got)
		case tc.norm != "" && err != nil:
			t.Errorf("%q refused: %v", tc.p, err)
		case tc.norm != "" && got != tc.norm:
			t.Errorf("%q normalised to %q, want %q", tc.p, got, tc.norm)
		case err != nil && !errors.Is(err, ErrInvalid):
			t.Errorf("%q: not ErrInvalid: %v", tc.p, err)
		}
		if (err == nil) != (ValidateHostPattern(tc.p) == nil) {
			t.Errorf("ValidateHostPattern(%q) disagrees", tc.p)
		}
	}
}

func TestNormalizeEnvironmentAndText(t *testing.T) {
	for env, ok := range map[string]bool{
		"": true, "production": true, "staging-2": true, "a_b": true, "0": true,
		"Prod": false, "-x": false, "_x": false, "a b": false, strings.Repeat("a", 33): false,
	} {
		if _, err := normalizeEnvironment(env); (err == nil) != ok {
			t.Errorf("environment %q: %v", env, err)
		}
	}
	for s, ok := range map[string]bool{
		"alice": true, "org:acme inc": true, "ünïcode": true,
		"": false, "a\nb": false, "a\x00": false, "\xff": false, strings.Repeat("x", 257): false,
	} {
		if err := checkText("owner", s, maxOwnerRunes, true); (err == nil) != ok {
			t.Errorf("owner %q: %v", s, err)
		}
	}
}
