// Package cli adds keygate's management subcommands to the keygate binary
// (which is Caddy): keychain, secret, package, app-secret, grant, grants,
// revoke and audit. They are registered with caddycmd.RegisterCommand in
// init(), so any Caddy build that includes keygate (xcaddy build --with)
// has them, beside Caddy's own commands.
//
// The commands talk to a running keygate's management API over HTTP, and
// to nothing else: --api (else $KEYGATE_API, else http://127.0.0.1:8080),
// with the admin token from $KEYGATE_ADMIN_TOKEN, else from the file
// keygate writes on first run (<caddy data dir>/keygate/admin.token).
//
// Output is an aligned table for people, or the API's JSON with --json.
// An error is one line on stderr ("keygate: secret set: 400 invalid: ...")
// and exit code 1; a usage error exits with 2. Secret values are read from
// stdin or a no-echo prompt, never from argv or the environment, and no
// command prints a value or the admin token.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	for _, c := range commands() {
		caddycmd.RegisterCommand(c)
	}
}

// commands returns keygate's top-level commands. Each call builds them
// afresh, since cobra commands keep the flags they parsed.
func commands() []caddycmd.Command {
	return []caddycmd.Command{
		group("keychain", "Creates, lists, shows and deletes keychains, and rotates their tokens", `
A keychain holds one owner's secrets and grants in one environment. Agents
authenticate with its token, which keygate shows once: when the keychain is
created and when the token is rotated.
`, keychainCommands()),
		group("secret", "Sets, lists and deletes the secrets of a keychain", `
A secret's value is read from stdin (one trailing newline is stripped) or
from a prompt that does not echo; never from the command line or the
environment. No command prints a value.
`, secretCommands()),
		group("package", "Registers, lists, shows and deletes packages", `
A package is registered from its manifest (keygate.package.json). When its
sha256 changes, every grant on it stops working until its owner approves
the package again.
`, packageCommands()),
		group("app-secret", "Sets a package's app secrets", `
An app secret belongs to a package and is shared by all its users (an OAuth
client secret, for example). Its value is read like a secret's.
`, []leaf{appSecretSet()}),
		single("grant", grantCmd()),
		single("connect", connectCmd()),
		single("grants", grantsCmd()),
		single("revoke", revokeCmd()),
		group("pending", "Lists, approves and refuses the calls held for a keychain's owner", `
A call is held when its caller asked to wait (Prefer: wait=<s>) for a value
or grant the owner has yet to give, or when the package's manifest asks the
owner to approve that kind of call every time.
`, pendingCommands()),
		single("audit", auditCmd()),
		single("rewrap", rewrapCmd()),
		single("status", statusCmd()),
		storeGroup("preset", "Lists the provider presets built into keygate", `
A preset carries a provider's hosts, where its key goes in a request, and its
OAuth endpoints and scopes; routes, manifest keys and oauth_provider blocks
name it instead of spelling these out (docs/presets.md).
`, presetCommands()),
		storeGroup("store", "Copies, backs up and restores keygate's store", `
Works on stores directly, not through the API, while keygate is stopped:
copy between Badger and PostgreSQL, back up and restore a Badger store.
(Caddy's own "storage" command moves Caddy's certificate storage.)
`, append(storageCommands(), backupCommands()...)),
	}
}

// commonHelp ends every command's help.
const commonHelp = `
Every command takes --api <url> (default $KEYGATE_API, else
` + defaultAPI + `) and --json (print the API's JSON). The admin token is
read from $KEYGATE_ADMIN_TOKEN, else from <caddy data dir>/keygate/admin.token,
which keygate creates on its first run.`

// leaf is one runnable command.
type leaf struct {
	name  string // first word of use
	usage string // the rest of use
	short string
	long  string
	// minArgs and maxArgs bound the positional arguments (maxArgs < 0: no
	// bound); tooMany, when set, replaces the error for too many.
	minArgs, maxArgs int
	tooMany          string
	flags            func(*pflag.FlagSet)
	run              func(e *env, args []string) error
	// subs are subcommands with their own help, like "audit verify".
	subs []leaf
}

// group is a command whose subcommands do the work through the API, like
// "keygate secret".
func group(name, short, long string, leaves []leaf) caddycmd.Command {
	return groupOf(name, short, strings.TrimSpace(long)+"\n"+commonHelp, "<"+leafNames(leaves)+"> [args] [--api <url>] [--json]", leaves, setupCommon)
}

// storeGroup is a group whose subcommands work on stores, not the API: no
// --api, no --json.
func storeGroup(name, short, long string, leaves []leaf) caddycmd.Command {
	return groupOf(name, short, strings.TrimSpace(long), "<"+leafNames(leaves)+"> [flags]", leaves, setupLocal)
}

func leafNames(leaves []leaf) string {
	var names []string
	for _, l := range leaves {
		names = append(names, l.name)
	}
	return strings.Join(names, "|")
}

func groupOf(name, short, long, usage string, leaves []leaf, setup func(*cobra.Command)) caddycmd.Command {
	names := strings.Split(leafNames(leaves), "|")
	return caddycmd.Command{
		Name:  name,
		Usage: usage,
		Short: short,
		Long:  long,
		CobraFunc: func(cmd *cobra.Command) {
			setup(cmd)
			for _, l := range leaves {
				cmd.AddCommand(l.command())
			}
			// Reached only without a known subcommand; a mistyped one is not
			// echoed, as it may be a value pasted in the wrong place.
			cmd.RunE = func(c *cobra.Command, args []string) error {
				e := newEnv(c)
				if len(args) == 0 {
					return e.finish(usageErrorf("missing subcommand: want one of %s (see --help)", strings.Join(names, ", ")))
				}
				return e.finish(usageErrorf("unknown subcommand: want one of %s (see --help)", strings.Join(names, ", ")))
			}
		},
	}
}

// single is a top-level command without subcommands, like "keygate grant".
func single(name string, l leaf) caddycmd.Command {
	long := strings.TrimSpace(l.long)
	if long == "" {
		long = l.short + "."
	}
	return caddycmd.Command{
		Name:  name,
		Usage: l.usage,
		Short: l.short,
		Long:  long + "\n" + commonHelp,
		CobraFunc: func(cmd *cobra.Command) {
			setupCommon(cmd)
			l.setup(cmd)
			for _, sub := range l.subs {
				cmd.AddCommand(sub.command())
			}
		},
	}
}

// helpTemplate is cobra's own, without the footer Caddy adds to its root
// (a link to Caddy's docs, which do not describe these commands); the
// subcommands inherit it.
var helpTemplate = new(cobra.Command).HelpTemplate() + `
Reference: docs/cli.md in keygate's repository.
`

func setupCommon(cmd *cobra.Command) {
	setupLocal(cmd)
	cmd.PersistentFlags().String("api", "", "keygate API URL (default $KEYGATE_API, else "+defaultAPI+")")
	cmd.PersistentFlags().Bool("json", false, "print the API's JSON, for scripts")
}

// setupLocal is setupCommon for commands that do not talk to the API.
func setupLocal(cmd *cobra.Command) {
	// Caddy makes Use of name + " " + usage: a command without arguments
	// would show "keygate rewrap  [flags]".
	cmd.Use = strings.TrimSpace(cmd.Use)
	cmd.SetHelpTemplate(helpTemplate)
	cmd.SetFlagErrorFunc(flagError)
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
}

// command is l as a subcommand of a group or of a single command.
func (l leaf) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   strings.TrimSpace(l.name + " " + l.usage),
		Short: l.short,
		Long:  strings.TrimSpace(l.long),
	}
	l.setup(cmd)
	return cmd
}

func (l leaf) setup(cmd *cobra.Command) {
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
	// Arguments are checked here rather than by cobra, so that the error
	// is one line and exits with the usage code.
	cmd.Args = cobra.ArbitraryArgs
	if l.flags != nil {
		l.flags(cmd.Flags())
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		e := newEnv(c)
		if err := l.checkArgs(args); err != nil {
			return e.finish(err)
		}
		return e.finish(l.run(e, args))
	}
}

func (l leaf) checkArgs(args []string) error {
	switch {
	case len(args) < l.minArgs:
		return usageErrorf("missing arguments: usage: %s %s", l.name, l.usage)
	case l.maxArgs >= 0 && len(args) > l.maxArgs:
		if l.tooMany != "" {
			return usageErrorf("%s", l.tooMany)
		}
		return usageErrorf("too many arguments: usage: %s %s", l.name, l.usage)
	}
	return nil
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Exit codes.
const (
	exitFailure = 1
	exitUsage   = 2
)

// exitError ends the command with its code. It wraps the error that
// caddycmd.Main turns into an exit code, which it only makes for codes
// above 1; for 1, Main's default applies.
type exitError struct {
	code  int
	caddy error
}

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
func (e *exitError) Unwrap() error { return e.caddy }

func exitWith(code int) error {
	e := &exitError{code: code}
	if code > 1 {
		status := func(caddycmd.Flags) (int, error) { return code, nil }
		e.caddy = caddycmd.WrapCommandFuncForCobra(status)(new(cobra.Command), nil)
	}
	return e
}

// finish prints err as one line on stderr and returns the error that sets
// the exit code; nil stays nil.
func (e *env) finish(err error) error {
	if err == nil {
		return nil
	}
	fmt.Fprintf(e.stderr, "keygate: %s: %s\n", e.path, oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		return exitWith(exitUsage)
	}
	return exitWith(exitFailure)
}

// flagError reports a flag parsing error on one line, with exit code 2.
// pflag's message for an unknown shorthand repeats the whole argument
// ("-sk_live_...": a value pasted by mistake), so only its letter is kept.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if m := shorthandErr.FindStringSubmatch(msg); m != nil {
		msg = "unknown shorthand flag " + m[1]
	}
	return newEnv(cmd).finish(usageErrorf("%s (see --help)", msg))
}

var shorthandErr = regexp.MustCompile(`^unknown shorthand flag: ('.') in `)

// commandPath is the command's name without the binary's, as errors
// show it ("secret set").
func commandPath(cmd *cobra.Command) string {
	p := cmd.CommandPath()
	if cmd.HasParent() {
		p = strings.TrimPrefix(p, cmd.Root().Name()+" ")
	}
	return p
}

// env is what a running command needs: its streams, flags and API client.
type env struct {
	ctx    context.Context
	path   string
	flags  *pflag.FlagSet
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	json   bool
}

func newEnv(cmd *cobra.Command) *env {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	asJSON, _ := cmd.Flags().GetBool("json")
	return &env{
		ctx:    ctx,
		path:   commandPath(cmd),
		flags:  cmd.Flags(),
		stdin:  cmd.InOrStdin(),
		stdout: cmd.OutOrStdout(),
		stderr: cmd.ErrOrStderr(),
		json:   asJSON,
	}
}

// oneLine makes s safe to print as one line: control characters become
// spaces, and it is cut at a length no terminal line needs.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(sanitize(s)), " ")
	const maxLine = 400
	if len(s) > maxLine {
		s = s[:maxLine] + "..."
	}
	return s
}

// sanitize replaces control characters (terminal escapes included) with
// spaces: names and descriptions come from the server, and a manifest's
// author should not be able to write to an operator's terminal.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
