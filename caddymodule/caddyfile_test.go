package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var update = flag.Bool("update", false, "rewrite golden adapt outputs")

// TestAdaptGolden adapts every testdata/adapt/*.caddyfile and compares the
// JSON with its .json twin (go test -run TestAdaptGolden -update rewrites).
func TestAdaptGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": in})
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			if len(warnings) > 0 {
				t.Fatalf("adapt warnings: %v", warnings)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(in, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("adapted JSON differs from %s:\n%s", golden, pretty.String())
			}
		})
	}
}

// TestAdaptBadCaddyfiles checks that each mistake gives an error naming
// the file and line.
func TestAdaptBadCaddyfiles(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown global option", "{\n\tkeygate {\n\t\tmaster_kee x\n\t}\n}\n", `Caddyfile:3`},
		{"storage without dir", "{\n\tkeygate {\n\t\tstorage badger\n\t}\n}\n", `Caddyfile:3`},
		{"bad ttl", "{\n\tkeygate {\n\t\tinvocation_ttl soon\n\t}\n}\n", `Caddyfile:3`},
		{"bad max bytes", "{\n\tkeygate {\n\t\tmax_value_bytes -1\n\t}\n}\n", `Caddyfile:3`},
		{"package without suffix", ":80 {\n\tkeygate_package\n}\n", `Caddyfile:2`},
		{"package bad mode", ":80 {\n\tkeygate_package {\n\t\tsuffix a.b\n\t\tmode open\n\t}\n}\n", `Caddyfile:4`},
		{"package bad rate", ":80 {\n\tkeygate_package {\n\t\tsuffix a.b\n\t\trate fast\n\t}\n}\n", `Caddyfile:4`},
		{"package bad burst", ":80 {\n\tkeygate_package {\n\t\tsuffix a.b\n\t\trate 2/s burst lots\n\t}\n}\n", `Caddyfile:4`},
		{"package bad response_timeout", ":80 {\n\tkeygate_package {\n\t\tsuffix a.b\n\t\tresponse_timeout forever\n\t}\n}\n", `Caddyfile:4`},
		{"package negative dial_timeout", ":80 {\n\tkeygate_package {\n\t\tsuffix a.b\n\t\tdial_timeout -1s\n\t}\n}\n", `Caddyfile:4`},
		{"package unknown option", ":80 {\n\tkeygate_package {\n\t\tsuffix a.b\n\t\tcolour red\n\t}\n}\n", `Caddyfile:4`},
		{"transport without secret", ":80 {\n\treverse_proxy 127.0.0.1:1 {\n\t\ttransport keygate {\n\t\t\theader X-Key \"{secret}\"\n\t\t}\n\t}\n}\n", `Caddyfile:5`},
		{"transport secret scope", ":80 {\n\treverse_proxy 127.0.0.1:1 {\n\t\ttransport keygate {\n\t\t\tsecret K user\n\t\t}\n\t}\n}\n", `Caddyfile:4`},
		{"transport bad http option", ":80 {\n\treverse_proxy 127.0.0.1:1 {\n\t\ttransport keygate {\n\t\t\tsecret K\n\t\t\tdial_timeout never\n\t\t}\n\t}\n}\n", `Caddyfile:5`},
		{"api bad body cap", ":80 {\n\tkeygate_api {\n\t\tmax_body_bytes 10\n\t}\n}\n", `Caddyfile:3`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tc.src), map[string]any{"filename": "Caddyfile"})
			if err == nil {
				t.Fatal("adapted without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

// TestCaddyfileExampleAdapts keeps the README's first command working.
func TestCaddyfileExampleAdapts(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile.example"})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Caddyfile.example: %v %v", err, warnings)
	}
	// It ships rate limits: per keychain across sites, and per package.
	var cfg struct {
		Apps struct {
			Keygate struct {
				KeychainRate json.RawMessage `json:"keychain_rate"`
			} `json:"keygate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil || len(cfg.Apps.Keygate.KeychainRate) == 0 {
		t.Errorf("Caddyfile.example sets no keychain_rate (%v)", err)
	}
	if !strings.Contains(string(out), `"rate":`) {
		t.Error("Caddyfile.example's package site sets no rate")
	}
}
