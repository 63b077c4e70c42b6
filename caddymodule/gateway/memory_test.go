package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"go.uber.org/zap"
)

func TestStorageOption(t *testing.T) {
	tests := []struct {
		src, wantDir string
		wantMemory   bool
		wantErr      string
	}{
		{src: "keygate {\n storage memory\n}", wantMemory: true},
		{src: "keygate {\n storage badger /var/lib/kg\n}", wantDir: "/var/lib/kg"},
		{src: "keygate {\n storage badger memory\n}", wantDir: "memory"},
		{src: "keygate {\n storage /srv/kg\n}", wantDir: "/srv/kg"},
		{src: "keygate {\n storage memory extra\n}", wantErr: "storage memory"},
		{src: "keygate {\n storage\n}", wantErr: "storage memory"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			v, err := parseGlobalOption(caddyfile.NewTestDispenser(tt.src), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var app App
			if err := json.Unmarshal(v.(httpcaddyfile.App).Value, &app); err != nil {
				t.Fatal(err)
			}
			if app.Storage != tt.wantDir || app.StorageMemory != tt.wantMemory {
				t.Fatalf("storage = %q, memory = %v; want %q, %v", app.Storage, app.StorageMemory, tt.wantDir, tt.wantMemory)
			}
		})
	}
}

func TestStorageMemoryExcludesDir(t *testing.T) {
	a := &App{StorageMemory: true, Storage: "/tmp/x", MaxValueBytes: 1, InvocationTTL: 60e9}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "exclusive") {
		t.Fatalf("Validate = %v, want the exclusive error", err)
	}
}

// TestMemoryDefaults checks that generated keys are stable within the
// process (so a reload finds the store sealed with its key), and that
// configured ones win.
func TestMemoryDefaults(t *testing.T) {
	m1, a1, err := memoryDefaults("", "", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	m2, a2, err := memoryDefaults("", "", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if m1 == "" || a1 == "" || m1 != m2 || a1 != a2 {
		t.Fatal("generated keys must be non-empty and the same on every call")
	}
	m3, a3, _ := memoryDefaults("given-key", "given-token", zap.NewNop())
	if m3 != "given-key" || a3 != "given-token" {
		t.Fatal("configured keys must be kept")
	}
}
