package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate/preset"
)

func TestPresetList(t *testing.T) {
	r := runCLI(t, "", "preset", "list")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(preset.Names())+1 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("%d lines:\n%s", len(lines), r.stdout)
	}
	for _, want := range []string{"openai        api.openai.com", "Authorization: Bearer {secret}", "X-Api-Key: {secret}", "sigv4, service s3", "query ?key={secret}", "+4 more"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	r = runCLI(t, "", "preset", "list", "--json")
	var all []preset.Preset
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil || len(all) != len(preset.Names()) {
		t.Fatalf("--json: %v %s", err, r.stdout)
	}
	if r := runCLI(t, "", "preset", "list", "extra"); r.code != 2 {
		t.Errorf("list extra: %+v", r)
	}
}

func TestPresetShow(t *testing.T) {
	r := runCLI(t, "", "preset", "show", "github")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token", "pkce           on", "scopes         repo", "docs.github.com"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, "", "preset", "show", "google", "--json")
	var p preset.Preset
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.OAuth == nil || p.OAuth.ExtraAuthorizeParams["access_type"] != "offline" {
		t.Fatalf("--json: %v %s", err, r.stdout)
	}
	// Unknown or hostile names: one line, the known names listed, no
	// escape reaches the terminal.
	for _, name := range []string{"nope", "\x1b[2Jopenai", strings.Repeat("a", 5000)} {
		r = runCLI(t, "", "preset", "show", name)
		if r.code != 2 {
			t.Errorf("show %q: exit %d", name, r.code)
		}
		oneErrorLine(t, r, "keygate: preset show: unknown preset")
		if !strings.Contains(r.stderr, "known presets are airtable") || strings.Contains(r.stderr, "\x1b") {
			t.Errorf("show %q: %q", name, r.stderr)
		}
	}
	if r := runCLI(t, "", "preset", "show"); r.code != 2 {
		t.Errorf("show without a name: %+v", r)
	}
}
