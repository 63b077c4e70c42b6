package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestMaxValueBytesSizes: sizes read as Caddy reads them, and the
// Caddyfile refuses exactly what Validate refuses in JSON.
func TestMaxValueBytesSizes(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want int
	}{{"4096", 4096}, {"8kb", 8000}, {"64KiB", 65536}} {
		app, err := parseKeygateBlock(t, "max_value_bytes "+tc.arg)
		if err != nil || app.MaxValueBytes != tc.want {
			t.Errorf("%s: %+v, %v; want %d", tc.arg, app, err, tc.want)
		}
	}
	for _, tc := range []struct{ arg, want string }{
		{"2048kb", "max_value_bytes must be between 1 and 65536"},
		{"65537", "max_value_bytes must be between 1 and 65536"},
		{"lots", `want a size such as 4096, 64KiB or 1MB, got "lots"`},
		{"-1", `got "-1"`},
	} {
		if _, err := parseKeygateBlock(t, "max_value_bytes "+tc.arg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.arg, err, tc.want)
		}
	}
	for _, n := range []int{-1, 65537, 1 << 20} {
		app := &App{MaxValueBytes: n, InvocationTTL: caddy.Duration(time.Minute)}
		if err := app.Validate(); err == nil || !strings.Contains(err.Error(), "max_value_bytes must be between 1 and 65536") {
			t.Errorf("JSON max_value_bytes %d: %v", n, err)
		}
	}
}
