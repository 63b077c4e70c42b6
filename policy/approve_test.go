package policy

import (
	"testing"

	"github.com/keygate/keygate/store"
)

func TestPreferWait(t *testing.T) {
	tests := []struct {
		in     []string
		secs   int
		ok     bool
		hasErr bool
	}{
		{in: nil},
		{in: []string{"respond-async"}},
		{in: []string{"wait=10"}, secs: 10, ok: true},
		{in: []string{"WAIT = 10"}, secs: 10, ok: true},
		{in: []string{"respond-async, wait=5"}, secs: 5, ok: true},
		{in: []string{"handling=lenient; x=\"a,b\", wait=7"}, secs: 7, ok: true},
		{in: []string{"wait=3", "wait=9"}, secs: 3, ok: true},
		{in: []string{"wait=3;foo=bar"}, secs: 3, ok: true},
		{in: []string{"wait=0"}, secs: 0, ok: true},
		{in: []string{",,wait=2,"}, secs: 2, ok: true},
		// Hostile and malformed: refused, never read as something else.
		{in: []string{"wait"}, hasErr: true},
		{in: []string{"wait="}, hasErr: true},
		{in: []string{"wait=abc"}, hasErr: true},
		{in: []string{"wait=-5"}, hasErr: true},
		{in: []string{"wait=+5"}, hasErr: true},
		{in: []string{"wait=1.5"}, hasErr: true},
		{in: []string{"wait=1e3"}, hasErr: true},
		{in: []string{`wait="5"`}, hasErr: true},
		{in: []string{"wait=9999999999"}, hasErr: true},
		{in: []string{"wait=5, wait=x"}, hasErr: true},
		{in: []string{"wa(it=5"}, hasErr: true},
		{in: []string{"=5"}, hasErr: true},
		{in: []string{"wait=5\x00"}, hasErr: true},
	}
	for _, tt := range tests {
		secs, ok, err := PreferWait(tt.in)
		if (err != nil) != tt.hasErr || secs != tt.secs || ok != tt.ok {
			t.Errorf("PreferWait(%q) = %d, %v, %v; want %d, %v, error %v", tt.in, secs, ok, err, tt.secs, tt.ok, tt.hasErr)
		}
	}
}

func FuzzPreferWait(f *testing.F) {
	for _, s := range []string{"wait=10", "respond-async, wait=5", `a="x,y";b, wait=1`, "wait=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secs, ok, err := PreferWait([]string{s})
		if err == nil && ok && (secs < 0 || secs > 999999999) {
			t.Fatalf("PreferWait(%q) = %d", s, secs)
		}
	})
}

func TestApproveMatch(t *testing.T) {
	rules := []store.ApproveRule{{Method: "POST", Host: "api.stripe.com", Path: "/v1/charges*"}, {Method: "*", Path: "/v1/refunds"}}
	tests := []struct {
		method, host, path string
		want               bool
	}{
		{"POST", "api.stripe.com", "/v1/charges", true},
		{"POST", "api.stripe.com", "/v1/charges/ch_1/capture", true},
		{"GET", "api.stripe.com", "/v1/charges", false},
		{"POST", "evil.example", "/v1/charges", false},
		{"POST", "api.stripe.com", "/v1/charge", false},
		{"DELETE", "anything.example", "/v1/refunds", true},
		{"DELETE", "anything.example", "/v1/refunds/re_1", false},
		// A server that folds method case reads these as POST.
		{"post", "api.stripe.com", "/v1/charges", true},
		{"Post", "api.stripe.com", "/v1/charges", true},
	}
	for _, tt := range tests {
		if got := ApproveMatch(rules, tt.method, tt.host, "443", tt.path); got != tt.want {
			t.Errorf("ApproveMatch(%s %s%s) = %v, want %v", tt.method, tt.host, tt.path, got, tt.want)
		}
	}
}

func TestShapeIDIsExact(t *testing.T) {
	base := Shape{Package: "@a/b", Key: "K", Method: "POST", Host: "h", Path: "/v1/charges", BodySHA256: "00"}
	seen := map[string]bool{base.ID(): true}
	for _, s := range []Shape{
		{Package: "@a/b", Key: "K", Method: "POST", Host: "h", Path: "/v1/charges*", BodySHA256: "00"},
		{Package: "@a/b", Key: "K", Method: "POST", Host: "h", Path: "/v1/charges", BodySHA256: "01"},
		{Package: "@a/bK", Key: "", Method: "POST", Host: "h", Path: "/v1/charges", BodySHA256: "00"},
		{Package: "@a/b", Key: "K", Method: "PUT", Host: "h", Path: "/v1/charges", BodySHA256: "00"},
	} {
		if seen[s.ID()] {
			t.Fatalf("shape %+v shares an id", s)
		}
		seen[s.ID()] = true
	}
	if len(base.ID()) != 64 {
		t.Fatal("shape id is not 64 hex characters")
	}
}
