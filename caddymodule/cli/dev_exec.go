package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/store"
)

// devExec is keygate dev -- <command>: the command is the package's code,
// run behind a proxy site with its keys' placeholders in its environment
// under the keys' own names (OPENAI_API_KEY=kgph_...), so an unmodified
// SDK sends them and the proxy site puts the values in.
type devExec struct {
	args      []string
	ln        net.Listener
	srv       *http.Server
	proxyPort int

	mu           sync.Mutex
	placeholders map[string]string // header name -> placeholder
}

// devExecPath is where the dev gateway's package site is called once, as
// an agent would, so that keygate hands the command its placeholders.
const devExecPath = "/_keygate_dev_exec"

// devExecTTL is the invocation lifetime under keygate dev --, the longest
// keygate allows: the placeholders are worth nothing after it.
const devExecTTL = "1h"

func startDevExec(args []string) (*devExec, error) {
	x := &devExec{args: args, placeholders: map[string]string{}}
	var err error
	if x.proxyPort, err = freeLoopbackPort(); err != nil {
		return nil, err
	}
	if x.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("dev: listening for the package's call: %w", err)
	}
	x.srv = &http.Server{Handler: http.HandlerFunc(x.capture), ReadHeaderTimeout: 10 * time.Second}
	go x.srv.Serve(x.ln)
	return x, nil
}

// upstream is the package's upstream under keygate dev --: this process.
func (x *devExec) upstream() string { return "http://" + x.ln.Addr().String() }

func (x *devExec) capture(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != devExecPath {
		http.Error(w, "keygate dev: the package's code is the command keygate dev runs", http.StatusNotFound)
		return
	}
	x.mu.Lock()
	for k, v := range r.Header {
		if (strings.HasPrefix(k, "Keygate-Placeholder-") || strings.HasPrefix(k, "Keygate-Sigv4-Secret-")) && len(v) == 1 {
			x.placeholders[k] = v[0]
		}
	}
	x.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (x *devExec) close() { x.srv.Close() }

// caddyfile adds the proxy site and the invocation lifetime to dev mode's
// configuration.
func (x *devExec) caddyfile(src string) string {
	src = strings.Replace(src, "\tkeygate {\n", "\tkeygate {\n\t\tinvocation_ttl "+devExecTTL+"\n", 1)
	return src + fmt.Sprintf(`
http://:%d {
	bind 127.0.0.1
	keygate_proxy {
		allow_private_upstreams
	}
}
`, x.proxyPort)
}

// run makes the agent's call, then runs the command with the proxy
// environment and the placeholders, and returns its exit status.
func (x *devExec) run(ctx context.Context, r *devRun, kcToken string) error {
	site := "http://127.0.0.1:" + strconv.Itoa(r.ports.site) + devExecPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, site, nil)
	if err != nil {
		return err
	}
	req.Host = r.dm.m.Host + "." + devSuffix + ":" + strconv.Itoa(r.ports.site)
	req.Header.Set("Authorization", "Bearer "+kcToken)
	resp, err := (&http.Client{Timeout: requestTimeout}).Do(req)
	if err != nil {
		return fmt.Errorf("calling the package as an agent: %v", unwrapNet(err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("calling the package as an agent: keygate answered %d (are its required keys set? see KEYGATE_SECRET_<NAME>)", resp.StatusCode)
	}
	pem, err := fetchCAPEM(ctx, r.api)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keygate-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	vars, err := proxyEnvironment("http://127.0.0.1:"+strconv.Itoa(x.proxyPort), "."+devSuffix, dir, pem)
	if err != nil {
		return err
	}
	x.mu.Lock()
	placeholders, aws := x.keyEnvironment(append(append([]store.KeySpec(nil), r.dm.m.Keys...), r.dm.m.AppKeys...))
	x.mu.Unlock()
	env, err := behindProxyEnv(vars, placeholders)
	if err != nil {
		return err
	}
	// Later entries win: the caller's own AWS credentials are replaced.
	return runBehindProxy(ctx, x.args, append(env, aws...), r.e.stdout, r.e.stderr)
}

// keyEnvironment gives each key's placeholder under the key's name, and
// the AWS SDKs' credentials of the keys signed with sigv4 (awsEnvironment).
func (x *devExec) keyEnvironment(keys []store.KeySpec) (placeholders map[string]string, aws []string) {
	placeholders, secrets := map[string]string{}, map[string]string{}
	for _, k := range keys {
		name := strings.ReplaceAll(k.Name, "_", "-")
		ph, ok := x.placeholders[http.CanonicalHeaderKey("Keygate-Placeholder-"+name)]
		if !ok {
			continue
		}
		placeholders[k.Name] = ph
		if secret, ok := x.placeholders[http.CanonicalHeaderKey("Keygate-Sigv4-Secret-"+name)]; ok && k.SignsWithSigV4() {
			secrets[k.Name] = secret
		}
	}
	return placeholders, awsEnvironment(placeholders, secrets)
}

// devCommandAfterDash lets keygate dev take a command only after "--": a
// word before it is refused (it may be a value pasted in the wrong place,
// and is not echoed).
func devCommandAfterDash(cmd *cobra.Command) {
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 && c.ArgsLenAtDash() != 0 {
			return newEnv(c).finish(usageErrorf("dev takes no arguments but its flags, a command after --, and the subcommand sign-webhook (see --help)"))
		}
		return run(c, args)
	}
}
