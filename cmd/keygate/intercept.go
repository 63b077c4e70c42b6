package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// keygateCommands and caddyCommands group the commands that help lists;
// a test checks that together with refused they are every registered
// command, so a new one is never missing from help.
var (
	keygateCommands = []string{"keychain", "secret", "package", "app-secret", "grant", "grants", "revoke", "connect", "pending", "audit", "rewrap", "status", "dev", "exec", "proxy", "preset", "store"}
	caddyCommands   = []string{"run", "start", "stop", "reload", "validate", "adapt", "fmt", "environ",
		"list-modules", "build-info", "version", "hash-password", "trust", "untrust",
		"file-server", "reverse-proxy", "respond", "storage", "manpage", "completion"}
)

// cobraOnly are Caddy's commands that Caddy adds to its cobra root
// directly, not through RegisterCommand, so Commands() does not list them.
var cobraOnly = map[string]string{
	"manpage":    "Generates the manual pages of every command",
	"completion": "Generates a shell completion script (bash, zsh, fish or powershell)",
}

// refused are Caddy's commands that fetch a stock Caddy build from
// caddyserver.com and replace the running binary with it: the result would
// have none of keygate's modules.
var refused = map[string]string{
	"upgrade":        "it would replace this binary with a stock Caddy, without keygate's modules",
	"add-package":    "it would replace this binary with a Caddy build from caddyserver.com, without keygate's modules",
	"remove-package": "it would replace this binary with a Caddy build from caddyserver.com, without keygate's modules",
}

const longDescription = `keygate is a credential-injecting reverse proxy built on Caddy. Users keep
their third-party API keys in an encrypted keychain; agents and package
code reach third-party APIs through keygate, which adds the key to the
outbound request, so the code never holds it.

To run keygate, use:

	keygate run --config Caddyfile

The management commands (keychain, secret, package, grant, ...) talk to
a running keygate's API. Documentation: docs/ in keygate's repository
(docs/cli.md, docs/caddyfile.md, docs/api.md, docs/problems.md).`

// intercept handles what keygate answers itself: top-level help, version
// and the refused commands. handled is false for everything else, which
// goes to caddycmd.Main.
func intercept(args []string, stdout, stderr io.Writer) (code int, handled bool) {
	if len(args) == 0 {
		printHelp(stdout)
		return 0, true
	}
	switch args[0] {
	case "help", "--help", "-h":
		if len(args) > 1 && args[0] == "help" {
			return 0, false // help for one command: cobra's, with keygate's texts
		}
		printHelp(stdout)
		return 0, true
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionText(readBuildInfo()))
		return 0, true
	}
	if why, ok := refused[args[0]]; ok {
		fmt.Fprintf(stderr, "keygate: %s: not available: %s. Build a new keygate instead (README: \"Building with xcaddy\").\n", args[0], why)
		return 2, true
	}
	return 0, false
}

func printHelp(w io.Writer) {
	cmds := caddycmd.Commands()
	section := func(title string, names []string) {
		fmt.Fprintf(w, "\n%s:\n", title)
		width := 0
		for _, n := range names {
			width = max(width, len(n))
		}
		for _, n := range names {
			if c, ok := cmds[n]; ok {
				fmt.Fprintf(w, "  %-*s  %s\n", width, n, c.Short)
			} else if short, ok := cobraOnly[n]; ok {
				fmt.Fprintf(w, "  %-*s  %s\n", width, n, short)
			}
		}
	}
	fmt.Fprintf(w, "%s\n\nUsage:\n  keygate <command> [args]\n", longDescription)
	section("keygate's commands", keygateCommands)
	section("Caddy's commands (keygate is Caddy with keygate's modules)", caddyCommands)
	var others []string
	for n := range cmds {
		if !contains(keygateCommands, n) && !contains(caddyCommands, n) && refused[n] == "" {
			others = append(others, n)
		}
	}
	if len(others) > 0 {
		sort.Strings(others)
		section("Other commands", others)
	}
	fmt.Fprintf(w, "\nNot available: %s (they would replace keygate with a stock Caddy).\n",
		strings.Join(sortedKeys(refused), ", "))
	fmt.Fprint(w, "\nUse \"keygate help <command>\" or \"keygate <command> --help\" for a command's flags.\n")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
