package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	caddycmd.RegisterCommand(execCommand())
}

// envInvocationToken is where keygate exec reads the call's invocation
// token; the command it runs does not inherit it.
const envInvocationToken = "KEYGATE_TOKEN"

const execLong = `
Runs a package's code behind the proxy site, in production: keygate exec
asks the keygate API for the placeholders of the call whose invocation token
it is given, and runs the command with each key's placeholder under the
key's own name (OPENAI_API_KEY=kgph_...) and the environment of "keygate
proxy env", so an unmodified SDK sends the placeholder and the proxy site
puts the value in, for the key's hosts only.

  KEYGATE_TOKEN=<invocation token> keygate exec --proxy http://127.0.0.1:3128 -- python main.py

The invocation token is the one the package site sent the package's code in
Authorization. It is read from $KEYGATE_TOKEN, or from the file
--token-file names (never from the command line, which other users of the
machine can read), and is never printed; the command does not inherit
KEYGATE_TOKEN. The placeholders are worth as long as the token.

For a proxy site with "proxy_auth required", --proxy-auth puts the token in
the proxy URL the command gets (http://keygate:<token>@host:port), so its
CONNECTs carry Proxy-Authorization: the command then holds the token, as
the package's code that was sent it does.

keygate exec ends with the command's exit status.`

func execCommand() caddycmd.Command {
	l := leaf{
		name:    "exec",
		usage:   "[--proxy URL] [--api URL] [--token-file F] [--proxy-auth] [--dir DIR] [--no-proxy LIST] -- command args...",
		short:   "Runs a command behind the proxy site with a call's placeholders in its environment",
		long:    execLong,
		maxArgs: -1,
		flags: func(fs *pflag.FlagSet) {
			proxyEnvFlags(fs)
			fs.String("api", "", "keygate API URL (default $KEYGATE_API, else "+defaultAPI+")")
			fs.String("token-file", "", "file holding the invocation token (default: $"+envInvocationToken+")")
			fs.Bool("proxy-auth", false, "put the token in the command's proxy URL, for a proxy site with proxy_auth required")
		},
		run: runExec,
	}
	return caddycmd.Command{
		Name:  l.name,
		Usage: l.usage,
		Short: l.short,
		Long:  strings.TrimSpace(execLong),
		CobraFunc: func(cmd *cobra.Command) {
			setupLocal(cmd)
			l.setup(cmd)
			cmd.RunE = func(c *cobra.Command, args []string) error {
				e := newEnv(c)
				if len(args) == 0 || c.ArgsLenAtDash() != 0 {
					// A word before "--" may be a token pasted in the wrong place: not echoed.
					return e.finish(usageErrorf("exec takes its flags, then -- and the command to run (see --help)"))
				}
				// The command's own failure is its exit status, as it would
				// be without keygate exec: its stderr has said why.
				err := runExec(e, args)
				var ce *commandExit
				if errors.As(err, &ce) {
					return exitWith(ce.code)
				}
				return e.finish(err)
			}
		},
	}
}

func runExec(e *env, args []string) error {
	proxy, dir, noProxy, err := proxyEnvSettings(e)
	if err != nil {
		return err
	}
	tok, source, err := invocationToken(e)
	if err != nil {
		return err
	}
	base, err := apiBaseFor(e, "the invocation token")
	if err != nil {
		return err
	}
	c := &client{base: base, token: tok, tokenSource: source, tokenName: "invocation token", http: &http.Client{
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if err := checkProxyListens(e.ctx, proxy); err != nil {
		return err
	}
	var got struct {
		Placeholders map[string]string `json:"placeholders"`
		SigV4Secrets map[string]string `json:"sigv4_secrets"`
	}
	if _, err := c.getJSON(e.ctx, "/v1/proxy/placeholders", nil, &got); err != nil {
		return fmt.Errorf("asking for the call's placeholders: %w", err)
	}
	pem, err := fetchCAPEM(e.ctx, c)
	if err != nil {
		return err
	}
	vars, err := proxyEnvironment(proxy, noProxy, dir, pem)
	if err != nil {
		return err
	}
	if auth, _ := e.flags.GetBool("proxy-auth"); auth {
		withProxyAuth(vars, tok)
	}
	env, err := behindProxyEnv(vars, got.Placeholders, envInvocationToken)
	if err != nil {
		return err
	}
	// Later entries win: the caller's own AWS credentials are replaced.
	return runBehindProxy(e.ctx, args, append(env, awsEnvironment(got.Placeholders, got.SigV4Secrets)...), e.stdout, e.stderr)
}

// invocationToken reads the token from --token-file or $KEYGATE_TOKEN. It
// is never printed.
func invocationToken(e *env) (tok, source string, err error) {
	if path, _ := e.flags.GetString("token-file"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", "", fmt.Errorf("reading --token-file %s: %v", sanitize(path), pathErr(err))
		}
		tok, source = strings.TrimSpace(string(b)), path
	} else {
		tok, source = strings.TrimSpace(os.Getenv(envInvocationToken)), envInvocationToken
	}
	if tok == "" {
		return "", "", usageErrorf("no invocation token: set %s, or --token-file", envInvocationToken)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x21 || c == 0x7f {
			return "", "", usageErrorf("the invocation token from %s contains a space or control character", sanitize(source))
		}
	}
	return tok, source, nil
}

// checkProxyListens fails early, in one line, where nothing listens at the
// proxy site's address: the command would otherwise fail on its first
// request with its own, longer story.
func checkProxyListens(ctx context.Context, proxy string) error {
	u, _ := url.Parse(proxy) // checkProxyURL parsed it
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("no proxy site at %s: %v (start a site with keygate_proxy, or set --proxy or %s)", proxy, unwrapNet(err), envProxy)
	}
	return conn.Close()
}

// placeholderName is what an environment variable of a placeholder may be
// called: a manifest key name.
var placeholderName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// behindProxyEnv is this process's environment for a command behind the
// proxy site: without drop, with the proxy variables, and with each
// placeholder under its key's name. A key named like a proxy variable is
// refused rather than let it undo the proxy.
func behindProxyEnv(proxyVars, placeholders map[string]string, drop ...string) ([]string, error) {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !containsFold(drop, name) {
			env = append(env, kv)
		}
	}
	for k, v := range proxyVars {
		env = append(env, k+"="+v)
	}
	for k, ph := range placeholders {
		if !placeholderName.MatchString(k) {
			return nil, fmt.Errorf("key %q cannot be an environment variable's name", sanitize(k))
		}
		if _, ok := proxyVars[k]; ok || containsFold(drop, k) {
			return nil, fmt.Errorf("key %s has the name of a variable that puts the command behind the proxy site; rename the key", k)
		}
		env = append(env, k+"="+ph)
	}
	return env, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// commandExit is the exit status of a command that ran and failed.
type commandExit struct{ code int }

func (e *commandExit) Error() string { return fmt.Sprintf("the command exited with status %d", e.code) }

// runBehindProxy runs args with env, this process's stdin and the streams
// given; an interrupt reaches it as an interrupt.
func runBehindProxy(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if code < 1 {
			code = exitFailure // killed by a signal
		}
		return &commandExit{code: code}
	case err != nil:
		// exec's errors name the program, never its arguments.
		return fmt.Errorf("running the command: %v", err)
	}
	return nil
}

// awsEnvironment makes the first key (by name) signed with sigv4 the AWS
// SDKs' credentials: its placeholder the access key id, its placeholder
// secret the secret access key, and no session token of the caller's own
// environment (an SDK would send it along).
func awsEnvironment(placeholders, sigv4Secrets map[string]string) []string {
	for _, k := range slices.Sorted(maps.Keys(sigv4Secrets)) {
		if ph, ok := placeholders[k]; ok {
			return []string{"AWS_ACCESS_KEY_ID=" + ph, "AWS_SECRET_ACCESS_KEY=" + sigv4Secrets[k], "AWS_SESSION_TOKEN=", "AWS_SECURITY_TOKEN="}
		}
	}
	return nil
}

// withProxyAuth puts the invocation token in the proxy variables' URLs as
// Basic userinfo (keygate:<token>), what proxy_auth required asks of a
// CONNECT; clients send it as Proxy-Authorization.
func withProxyAuth(vars map[string]string, tok string) {
	for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"} {
		u, err := url.Parse(vars[k])
		if err != nil || u.Host == "" {
			continue
		}
		u.User = url.UserPassword("keygate", tok)
		vars[k] = u.String()
	}
}
