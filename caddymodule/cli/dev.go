package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the caddyfile adapter
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate/store"
)

func init() {
	caddycmd.RegisterCommand(devCommand())
}

const devLong = `
Starts a keygate gateway for trying a package on this machine: in memory
(nothing is written, everything is gone on exit), on 127.0.0.1 only. It
registers the manifest, creates a dev keychain, sets each key from the
environment variable KEYGATE_SECRET_<NAME> (approved at once), and prints
the keychain token, the package site's URL and one egress URL per key with
hosts. A KEYGATE_SECRET_* variable for a name the manifest does not declare
stops it; a required key without one answers 428, as in production.

--upstream replaces the manifest's upstream (your code, e.g.
http://127.0.0.1:3000). --port fixes the package site's port,
--egress-port the egress site's and --api-port the management API's (the
owners' page and the API, which keygate dev itself sets up through); all
default to free ports.

Egress routes dial the key's first host (not a wildcard) over https, or
plain http for a loopback host, and inject "Authorization: Bearer <value>".
For another header, run keygate with your own Caddyfile (see
Caddyfile.example) and "storage memory".

Ctrl-C stops it.

  keygate dev [flags] -- <command> [args...]
runs the command as the package's code instead: behind a proxy site of the
dev gateway, with the environment of "keygate proxy env" and each key's
placeholder under the key's own name (OPENAI_API_KEY=kgph_...), so an
unmodified SDK works; they are worth an hour. The first key signed with
sigv4 (its KEYGATE_SECRET_<NAME> is AWS credentials as JSON) also gives
its placeholder pair as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
keygate stops when the command ends (exit status 1 if it failed).

  keygate dev sign-webhook <name> <body-file>
prints a curl command that posts body-file to the running dev gateway as
the manifest's webhook <name>, signed with KEYGATE_SECRET_<its secret>.`

func devCommand() caddycmd.Command {
	start := leaf{
		name:    "dev",
		usage:   "[--manifest keygate.package.json] [--upstream URL] [--port N] [--egress-port N] [--api-port N] [-- command args...]",
		short:   "Runs a package on a local, in-memory gateway for its author",
		long:    devLong,
		maxArgs: -1,
		flags: func(fs *pflag.FlagSet) {
			fs.String("manifest", "keygate.package.json", "the package's manifest")
			fs.String("upstream", "", "the package's code, replacing the manifest's upstream")
			fs.Int("port", 0, "port of the package site (default: a free one)")
			fs.Int("egress-port", 0, "port of the egress site (default: a free one)")
			fs.Int("api-port", 0, "port of the management API and owners' page (default: a free one)")
		},
		run: runDev,
	}
	return caddycmd.Command{
		Name:  start.name,
		Usage: start.usage,
		Short: start.short,
		Long:  strings.TrimSpace(devLong),
		CobraFunc: func(cmd *cobra.Command) {
			cmd.SetFlagErrorFunc(flagError)
			cmd.SetHelpTemplate(helpTemplate)
			start.setup(cmd)
			devCommandAfterDash(cmd)
			sign := &cobra.Command{
				Use:   "sign-webhook <name> <body-file> [--manifest F]",
				Short: "Prints a signed curl delivery of a webhook to the running dev gateway",
			}
			signWebhookLeaf().setup(sign)
			sign.SetFlagErrorFunc(flagError)
			cmd.AddCommand(sign)
		},
	}
}

// devRun is one dev gateway being set up.
type devRun struct {
	e      *env
	dm     *devManifest
	values devValues
	ports  devPorts
	routes []egressRoute
	api    *client
	// keychain is the dev keychain's id, once provisioned.
	keychain string
}

func runDev(e *env, args []string) error {
	manifestPath, _ := e.flags.GetString("manifest")
	upstream, _ := e.flags.GetString("upstream")
	var ex *devExec
	if len(args) > 0 {
		var err error
		if ex, err = startDevExec(args); err != nil {
			return err
		}
		defer ex.close()
		upstream = ex.upstream()
	}
	site, _ := e.flags.GetInt("port")
	egress, _ := e.flags.GetInt("egress-port")
	api, _ := e.flags.GetInt("api-port")
	seen := map[int]string{}
	for _, p := range []struct {
		flag string
		n    int
	}{{"--port", site}, {"--egress-port", egress}, {"--api-port", api}} {
		if p.n < 0 || p.n > 65535 {
			return usageErrorf("%s must be a port number", p.flag)
		}
		if other, ok := seen[p.n]; ok && p.n != 0 {
			return usageErrorf("%s and %s must differ", other, p.flag)
		}
		seen[p.n] = p.flag
	}
	dm, err := readDevManifest(manifestPath, upstream)
	if err != nil {
		return err
	}
	environ := os.Environ()
	values, err := readDevValues(&dm.m, environ)
	if err != nil {
		return err
	}
	unsetDevValues(environ)

	r := &devRun{e: e, dm: dm, values: values, routes: devEgressRoutes(&dm.m)}
	if r.ports, err = pickPorts(devPorts{api: api, site: site, egress: egress}); err != nil {
		return err
	}
	master, err := store.GenerateMasterKey("dev")
	if err != nil {
		return err
	}
	adminTok := "kgadm_dev_" + randomToken()
	src := devCaddyfile(master.Encode(), adminTok, r.ports, r.routes)
	if ex != nil {
		src = ex.caddyfile(src)
	}
	cfg, err := adaptCaddyfile(src)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := caddy.Load(cfg, true); err != nil {
		return fmt.Errorf("starting the dev gateway: %v", err)
	}
	defer caddy.Stop()

	r.api = &client{base: "http://127.0.0.1:" + strconv.Itoa(r.ports.api), token: adminTok,
		tokenSource: "keygate dev", http: &http.Client{Timeout: requestTimeout}}
	kc, token, err := r.provision(ctx)
	if err != nil {
		return err
	}
	r.keychain = kc
	if ex != nil {
		return ex.run(ctx, r, token)
	}
	statePath := devStatePath()
	abs, _ := filepath.Abs(manifestPath)
	if err := writeDevState(statePath, devState{PID: os.Getpid(), Manifest: abs, Package: dm.m.Name,
		Keychain: kc, SiteURL: r.siteURL()}); err != nil {
		fmt.Fprintf(e.stderr, "keygate: dev: %s (sign-webhook will not find this gateway)\n", oneLine(err.Error()))
	}
	defer removeDevState(statePath)
	r.print(token)

	<-ctx.Done()
	fmt.Fprintln(e.stdout, "keygate dev: stopping")
	return nil
}

// provision registers the manifest, creates the dev keychain, sets every
// value and approves the package with every key that has one. It returns
// the keychain's id and token.
func (r *devRun) provision(ctx context.Context) (id, token string, err error) {
	m := &r.dm.m
	pkgPath := "/v1/packages/" + segment(m.Name)
	if _, err := r.api.do(ctx, http.MethodPut, pkgPath, nil, r.dm.raw); err != nil {
		return "", "", fmt.Errorf("registering the manifest: %w", err)
	}
	var kc struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if _, err := r.api.sendJSON(ctx, http.MethodPost, "/v1/keychains",
		map[string]string{"owner": "dev", "environment": "dev", "name": "keygate dev"}, &kc); err != nil {
		return "", "", fmt.Errorf("creating the dev keychain: %w", err)
	}
	granted := []string{}
	for _, k := range m.Keys {
		v, ok := r.values.user[k.Name]
		if !ok {
			continue
		}
		body := map[string]any{"value": v, "allowed_hosts": k.Hosts}
		if k.SignsWithSigV4() {
			body["kind"] = store.SecretKindAWS // its value is AWS credentials, checked as such
		}
		if _, err := r.api.sendJSON(ctx, http.MethodPut, "/v1/keychains/"+segment(kc.ID)+"/secrets/"+segment(k.Name), body, nil); err != nil {
			return "", "", fmt.Errorf("setting %s%s: %w", devEnvPrefix, k.Name, err)
		}
		granted = append(granted, k.Name)
	}
	for _, k := range m.AppKeys {
		v, ok := r.values.app[k.Name]
		if !ok {
			continue
		}
		if _, err := r.api.sendJSON(ctx, http.MethodPut, pkgPath+"/app-secrets/"+segment(k.Name), map[string]any{"value": v}, nil); err != nil {
			return "", "", fmt.Errorf("setting %s%s: %w", devEnvPrefix, k.Name, err)
		}
	}
	if _, err := r.api.sendJSON(ctx, http.MethodPut, "/v1/keychains/"+segment(kc.ID)+"/grants/"+segment(m.Name),
		map[string]any{"keys": granted}, nil); err != nil {
		return "", "", fmt.Errorf("approving the package: %w", err)
	}
	return kc.ID, kc.Token, nil
}

func (r *devRun) siteURL() string {
	return "http://" + r.dm.m.Host + "." + devSuffix + ":" + strconv.Itoa(r.ports.site)
}

// print shows what to paste. The keychain token is printed because this
// is what dev mode is for; no value is.
func (r *devRun) print(token string) {
	w, m := r.e.stdout, &r.dm.m
	fmt.Fprintf(w, "keygate dev: %s %s, in memory, on 127.0.0.1 (Ctrl-C stops it)\n\n", sanitize(m.Name), sanitize(m.Version))
	fmt.Fprintf(w, "  keychain token  %s\n", token)
	fmt.Fprintf(w, "  package site    %s/\n", r.siteURL())
	fmt.Fprintf(w, "  upstream        %s\n", sanitize(m.Upstream))
	fmt.Fprintf(w, "  management API  http://127.0.0.1:%d (the owners' page and the API)\n\n", r.ports.api)
	fmt.Fprintf(w, "  try it:\n    curl -H 'Authorization: Bearer %s' %s/\n\n", token, r.siteURL())
	if len(r.routes) > 0 {
		fmt.Fprintln(w, "  egress (your code sends its invocation token as the key; keygate puts in the value):")
		for _, rt := range r.routes {
			fmt.Fprintf(w, "    %-20s http://127.0.0.1:%d%s  -> %s\n", rt.name, r.ports.egress, rt.path(), sanitize(rt.target))
		}
		fmt.Fprintln(w)
	}
	if len(m.Webhooks) > 0 {
		fmt.Fprintln(w, "  webhooks (the provider posts here; keygate checks the signature and forwards to your path):")
		for _, h := range m.Webhooks {
			fmt.Fprintf(w, "    %-20s %s/_keygate/webhooks/%s/%s  -> %s (%s)\n", sanitize(h.Name), r.siteURL(), r.keychain, sanitize(h.Name), sanitize(h.Path), sanitize(h.Scheme))
		}
		fmt.Fprintln(w, "    sign one: keygate dev sign-webhook <name> <body-file> (prints a curl line)")
		fmt.Fprintln(w)
	}
	if missing := r.missing(); len(missing) > 0 {
		fmt.Fprintf(w, "  no value for: %s (set %s<NAME> to give one)\n\n", strings.Join(missing, ", "), devEnvPrefix)
	}
}

// missing lists the declared keys without a value, required ones marked.
func (r *devRun) missing() []string {
	var out []string
	for _, k := range r.dm.m.Keys {
		if _, ok := r.values.user[k.Name]; !ok {
			out = append(out, describeMissing(k))
		}
	}
	for _, k := range r.dm.m.AppKeys {
		if _, ok := r.values.app[k.Name]; !ok {
			out = append(out, describeMissing(k)+" (app)")
		}
	}
	sort.Strings(out)
	return out
}

func describeMissing(k store.KeySpec) string {
	if k.Required {
		return k.Name + " (required: agent calls answer 428)"
	}
	return k.Name
}
