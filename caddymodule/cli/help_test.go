package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// helpTree builds keygate's commands, dev and exec included, under one root.
func helpTree() *cobra.Command {
	root := &cobra.Command{Use: "keygate"}
	for _, c := range append(commands(), devCommand(), execCommand()) {
		cc := &cobra.Command{Use: c.Name + " " + c.Usage, Short: c.Short, Long: c.Long}
		c.CobraFunc(cc)
		root.AddCommand(cc)
	}
	return root
}

func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	root := helpTree()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--help"))
	if err := root.Execute(); err != nil {
		t.Fatalf("%v --help: %v", args, err)
	}
	return out.String()
}

// TestHelpTexts: every command says what it does, in keygate's words and
// with keygate's reference, and only names flags it takes.
func TestHelpTexts(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			p := append(append([]string{}, path...), sub.Name())
			help := helpOf(t, p...)
			text, _, _ := strings.Cut(help, "Usage:")
			if strings.TrimSpace(strings.Replace(text, strings.TrimSpace(commonHelp), "", 1)) == "" {
				t.Errorf("keygate %s --help has no description:\n%s", strings.Join(p, " "), help)
			}
			if strings.Contains(help, "caddyserver.com") {
				t.Errorf("keygate %s --help links Caddy's docs:\n%s", strings.Join(p, " "), help)
			}
			if strings.Contains(help, "  [flags]") {
				t.Errorf("keygate %s --help has a doubled space in its usage line:\n%s", strings.Join(p, " "), help)
			}
			if !strings.Contains(help, "Reference: docs/cli.md") {
				t.Errorf("keygate %s --help lacks keygate's reference", strings.Join(p, " "))
			}
			walk(sub, p)
		}
	}
	walk(helpTree(), nil)

	store := helpOf(t, "store", "copy")
	for _, flag := range []string{"--api", "--json", "$KEYGATE_API"} {
		if strings.Contains(store, flag) {
			t.Errorf("store copy --help describes %s, which it does not use:\n%s", flag, store)
		}
	}
	verify := helpOf(t, "audit", "verify")
	if !strings.Contains(verify, "HMAC chain") || strings.Contains(verify, "--follow") {
		t.Errorf("audit verify --help is not verify's:\n%s", verify)
	}
}

func TestAuditVerifyTakesNoArguments(t *testing.T) {
	newFakeAPI(t)
	r := runCLI(t, "", "audit", "verify", "extra")
	if r.code != 2 {
		t.Errorf("audit verify extra: exit %d, want 2 (%q)", r.code, r.stderr)
	}
	r = runCLI(t, "", "audit", "bogus")
	if r.code != 2 || !strings.Contains(r.stderr, "keygate audit verify") {
		t.Errorf("audit bogus: exit %d, %q", r.code, r.stderr)
	}
}
