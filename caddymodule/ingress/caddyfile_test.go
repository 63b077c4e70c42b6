package ingress

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestMaxBodySizes: sizes read as Caddy reads them, and the Caddyfile
// refuses exactly what Validate refuses in JSON.
func TestMaxBodySizes(t *testing.T) {
	parse := func(arg string) (*PackageHandler, error) {
		h := new(PackageHandler)
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("keygate_package {\n suffix a.b\n max_body " + arg + "\n}"))
		return h, err
	}
	for _, tc := range []struct {
		arg  string
		want int64
	}{{"4096", 4096}, {"2048kb", 2048000}, {"2MiB", 2 << 20}, {"0", 0}} {
		h, err := parse(tc.arg)
		if err != nil || h.MaxBody != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.arg, h.MaxBody, err, tc.want)
		}
	}
	for _, tc := range []struct{ arg, want string }{
		{"512", "max_body must be at least 1024"},
		{"1kb", "max_body must be at least 1024"}, // 1000 bytes
		{"big", `want a size such as 4096, 64KiB or 1MB, got "big"`},
		{"-1", `got "-1"`},
	} {
		if _, err := parse(tc.arg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.arg, err, tc.want)
		}
	}
	// JSON: the same rule (a body cap of 512 was accepted before).
	for _, n := range []int64{-1, 1, 512, 1023} {
		h := &PackageHandler{Suffix: "a.b", Mode: modeSealed, MaxBody: n}
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "max_body must be at least 1024") {
			t.Errorf("JSON max_body %d: %v", n, err)
		}
	}
	if err := (&PackageHandler{Suffix: "a.b", Mode: modeSealed, MaxBody: 1024}).Validate(); err != nil {
		t.Error(err)
	}
}
