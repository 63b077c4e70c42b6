package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/pflag"
)

func init() {
	caddycmd.RegisterCommand(group("proxy", "Shows or rotates the proxy site's CA, and prints the environment for code behind it", `
A keygate_proxy site is an HTTPS_PROXY for code that was not written for
keygate: it terminates TLS with certificates from keygate's own CA, which
that code must trust.
`, []leaf{proxyCALeaf(), proxyEnvLeaf()}))
}

const (
	envProxy       = "KEYGATE_PROXY"
	defaultProxy   = "http://127.0.0.1:3128"
	defaultNoProxy = "localhost,127.0.0.1,::1"
	maxCAPEM       = 64 << 10
)

func proxyCALeaf() leaf {
	return leaf{
		name:  "ca",
		usage: "[rotate] [--overlap 168h]",
		short: "Prints keygate's CA certificates (PEM), or rotates the CA",
		long: `
Prints every CA certificate clients should trust now: the current CA and any
rotated away within its overlap. "rotate" makes a new CA that signs every leaf
from now on; the old one stays in the bundle for --overlap (default 168h), so
clients that fetch the bundle again in that time never see an untrusted leaf.`,
		maxArgs: 1,
		flags: func(fs *pflag.FlagSet) {
			fs.Duration("overlap", 7*24*time.Hour, "how long the old CA stays trusted after rotate")
		},
		run: proxyCARun,
	}
}

func proxyCARun(e *env, args []string) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	if len(args) == 1 {
		if args[0] != "rotate" {
			return usageErrorf("unknown argument: want rotate or nothing")
		}
		overlap, _ := e.flags.GetDuration("overlap")
		if overlap < 0 {
			return usageErrorf("--overlap must not be negative")
		}
		var out struct {
			PEM string `json:"pem"`
		}
		resp, err := c.sendJSON(e.ctx, http.MethodPost, "/v1/proxy/ca/rotate", map[string]string{"overlap": overlap.String()}, &out)
		if err != nil {
			return err
		}
		if e.json {
			e.printJSON(resp.body)
			return nil
		}
		fmt.Fprintf(e.stderr, "keygate: proxy ca: rotated; the old CA stays trusted for %s\n", overlap)
		io.WriteString(e.stdout, out.PEM)
		return nil
	}
	pem, err := fetchCAPEM(e.ctx, c)
	if err != nil {
		return err
	}
	e.stdout.Write(pem)
	return nil
}

// fetchCAPEM reads GET /v1/proxy/ca.pem, which answers PEM, not JSON.
func fetchCAPEM(ctx context.Context, c *client) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/proxy/ca.pem", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "keygate-cli")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCAPEM+1))
	if err != nil {
		return nil, fmt.Errorf("reading the CA from %s: %v", c.base, unwrapNet(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.problem(resp, data)
	}
	if len(data) > maxCAPEM || !bytes.HasPrefix(data, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("no keygate API at %s: /v1/proxy/ca.pem is not a PEM certificate (set --api or %s)", c.base, envAPI)
	}
	return data, nil
}

func proxyEnvLeaf() leaf {
	return leaf{
		name:  "env",
		usage: "[--proxy URL] [--dir DIR] [--no-proxy LIST]",
		short: "Prints the environment that puts a process behind the proxy site",
		long: `
Writes keygate's CA (keygate-ca.pem) and a bundle of the system's roots plus
keygate's CA (keygate-bundle.pem) into --dir (default <caddy data
dir>/keygate/proxy), and prints shell lines that set HTTPS_PROXY, HTTP_PROXY,
NO_PROXY, SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE,
NODE_EXTRA_CA_CERTS, NODE_USE_ENV_PROXY=1, GIT_SSL_CAINFO, AWS_CA_BUNDLE and
DENO_CERT. Variables that replace a tool's roots get the bundle; the one that
adds to them (NODE_EXTRA_CA_CERTS) gets keygate's CA alone.

  eval "$(keygate proxy env --proxy http://127.0.0.1:3128)"

--proxy defaults to $KEYGATE_PROXY, else ` + defaultProxy + `.`,
		maxArgs: 0,
		flags:   proxyEnvFlags,
		run:     proxyEnvRun,
	}
}

// proxyEnvFlags are the flags of proxy env and exec.
func proxyEnvFlags(fs *pflag.FlagSet) {
	fs.String("proxy", "", "URL of the keygate_proxy site (default $"+envProxy+", else "+defaultProxy+")")
	fs.String("dir", "", "where to write the CA files (default <caddy data dir>/keygate/proxy)")
	fs.String("no-proxy", defaultNoProxy, "NO_PROXY: hosts reached directly")
}

// proxyEnvSettings reads proxyEnvFlags, with their defaults.
func proxyEnvSettings(e *env) (proxy, dir, noProxy string, err error) {
	proxy, _ = e.flags.GetString("proxy")
	dir, _ = e.flags.GetString("dir")
	noProxy, _ = e.flags.GetString("no-proxy")
	if proxy == "" {
		proxy = os.Getenv(envProxy)
	}
	if proxy == "" {
		proxy = defaultProxy
	}
	if err := checkProxyURL(proxy); err != nil {
		return "", "", "", err
	}
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "keygate", "proxy")
	}
	return proxy, dir, noProxy, nil
}

func proxyEnvRun(e *env, _ []string) error {
	proxy, dir, noProxy, err := proxyEnvSettings(e)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	pem, err := fetchCAPEM(e.ctx, c)
	if err != nil {
		return err
	}
	vars, err := proxyEnvironment(proxy, noProxy, dir, pem)
	if err != nil {
		return err
	}
	if e.json {
		b, _ := json.Marshal(vars)
		e.printJSON(b)
		return nil
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		e.printf("export %s=%s\n", k, shellQuote(vars[k]))
	}
	return nil
}

// checkProxyURL accepts http://host:port only: the proxy site is plain
// HTTP on loopback or a private network, and a path or userinfo would be
// a mistake (or a token pasted in the wrong place, which is not echoed).
func checkProxyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return usageErrorf("--proxy must be a URL such as http://127.0.0.1:3128")
	}
	return nil
}

// systemRootFiles are where Linux distributions and macOS keep their root
// bundle (the list crypto/x509 reads).
var systemRootFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// proxyEnvironment writes the CA files into dir and returns the
// environment of a process behind the proxy site.
func proxyEnvironment(proxy, noProxy, dir string, caPEM []byte) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("proxy env: %v", pathErr(err))
	}
	var roots []byte
	if f := os.Getenv("SSL_CERT_FILE"); f != "" && !strings.HasPrefix(filepath.Base(f), "keygate-") {
		roots, _ = os.ReadFile(f)
	}
	for _, f := range systemRootFiles {
		if len(roots) > 0 {
			break
		}
		roots, _ = os.ReadFile(f)
	}
	caFile, bundle := filepath.Join(dir, "keygate-ca.pem"), filepath.Join(dir, "keygate-bundle.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("proxy env: %v", pathErr(err))
	}
	all := append(append(bytes.TrimRight(roots, "\n"), '\n'), caPEM...)
	if len(roots) == 0 {
		all = caPEM
	}
	if err := os.WriteFile(bundle, all, 0o644); err != nil {
		return nil, fmt.Errorf("proxy env: %v", pathErr(err))
	}
	return map[string]string{
		"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy,
		"NO_PROXY": noProxy, "no_proxy": noProxy,
		"SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle, "CURL_CA_BUNDLE": bundle,
		"GIT_SSL_CAINFO": bundle, "AWS_CA_BUNDLE": bundle, "DENO_CERT": bundle,
		"NODE_EXTRA_CA_CERTS": caFile, "NODE_USE_ENV_PROXY": "1",
	}, nil
}
