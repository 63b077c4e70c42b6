package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// TestHelpListsEveryCommand: each registered command is in one of help's
// groups or refused, so a new command cannot go missing from help.
func TestHelpListsEveryCommand(t *testing.T) {
	for name := range caddycmd.Commands() {
		if !contains(keygateCommands, name) && !contains(caddyCommands, name) && refused[name] == "" {
			t.Errorf("command %q is in no group of keygate's help", name)
		}
	}
	for _, name := range keygateCommands {
		if _, ok := caddycmd.Commands()[name]; !ok {
			t.Errorf("help lists %q, which is not registered", name)
		}
	}
	var help bytes.Buffer
	printHelp(&help)
	for _, name := range caddyCommands {
		if !strings.Contains(help.String(), "\n  "+name+" ") {
			t.Errorf("help does not show %q", name)
		}
	}
}

func TestIntercept(t *testing.T) {
	tests := []struct {
		args           []string
		handled        bool
		code           int
		stdout, stderr string
	}{
		{args: nil, handled: true, stdout: "keygate's commands:"},
		{args: []string{"help"}, handled: true, stdout: "  grant "},
		{args: []string{"--help"}, handled: true, stdout: "keygate run --config Caddyfile"},
		{args: []string{"-h"}, handled: true, stdout: "Not available: add-package, remove-package, upgrade"},
		{args: []string{"help", "grant"}, handled: false},
		{args: []string{"version"}, handled: true, stdout: "\nCaddy v2."},
		{args: []string{"upgrade"}, handled: true, code: 2, stderr: "keygate: upgrade: not available"},
		{args: []string{"add-package", "github.com/x/y"}, handled: true, code: 2, stderr: "without keygate's modules"},
		{args: []string{"remove-package", "x"}, handled: true, code: 2, stderr: "keygate: remove-package: not available"},
		{args: []string{"run", "--config", "x"}, handled: false},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code, handled := intercept(tc.args, &out, &errOut)
			if handled != tc.handled || code != tc.code {
				t.Fatalf("intercept = %d, %v; want %d, %v", code, handled, tc.code, tc.handled)
			}
			if !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) {
				t.Fatalf("stdout %q stderr %q; want %q and %q", out.String(), errOut.String(), tc.stdout, tc.stderr)
			}
			if strings.Contains(out.String(), "caddy run") {
				t.Fatal("help tells the user to run caddy")
			}
		})
	}
}

func TestKeygateVersion(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "(unknown: no build info)"},
		{"tagged main", &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v1.2.3"}}, "v1.2.3"},
		{"devel main with vcs", &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
			"(devel) 0123456789ab+dirty"},
		{"xcaddy dependency", &debug.BuildInfo{Main: debug.Module{Path: "caddy"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.4.0"}}}, "v0.4.0"},
		{"xcaddy --replace", &debug.BuildInfo{Main: debug.Module{Path: "caddy"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.0.0", Replace: &debug.Module{Path: "/src/keygate"}}}}, "(devel, from /src/keygate)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := keygateVersion(tc.bi); got != tc.want {
				t.Fatalf("keygateVersion = %q, want %q", got, tc.want)
			}
		})
	}
	if v := versionText(nil); !strings.HasPrefix(v, "keygate ") || !strings.Contains(v, "\nCaddy v2") {
		t.Fatalf("versionText = %q", v)
	}
}
