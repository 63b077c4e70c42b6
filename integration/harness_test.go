package integration

// The harness runs the real keygate binary: built once per test binary
// (TestMain), started per test from a Caddyfile template on ports picked
// free at run time, stopped, killed, restarted and reloaded. Its other
// parts: harness_cli_test.go (the CLI), harness_http_test.go (requests,
// answers and stand-in servers), harness_world_test.go (the common
// setup), harness_tree_test.go (data-directory scans),
// postgres_harness_test.go and proxy_harness_test.go.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Bounds on every wait in the harness.
const (
	buildTimeout  = 10 * time.Minute
	readyTimeout  = 30 * time.Second
	readyPoll     = 50 * time.Millisecond
	stopTimeout   = 15 * time.Second
	killTimeout   = 10 * time.Second
	cliTimeout    = 60 * time.Second
	startAttempts = 3 // new ports each time, when a port was taken meanwhile
)

var (
	binPath  string // the keygate binary under test
	buildErr error
)

// TestMain builds the keygate binary once for every test of the run.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		buildErr = errors.New("integration tests skipped in -short mode")
		os.Exit(m.Run())
	}
	if p := os.Getenv("KEYGATE_TEST_BINARY"); p != "" {
		binPath = p
		code := m.Run()
		stopPG()
		removeRunDirs()
		removeImageAtEnd()
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "keygate-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "keygate")
	if runtime.GOOS == "windows" {
		binPath += ".exe"
	}
	if err := buildBinary(binPath); err != nil {
		fmt.Fprintln(os.Stderr, "integration: building keygate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	stopPG()
	removeRunDirs()
	removeImageAtEnd()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	runDirsMu sync.Mutex
	runDirs   []string
)

// runDir makes a temporary directory that lasts the whole test binary
// (for what is built once per run); TestMain removes it.
func runDir(prefix string) (string, error) {
	d, err := os.MkdirTemp("", prefix)
	if err == nil {
		runDirsMu.Lock()
		runDirs = append(runDirs, d)
		runDirsMu.Unlock()
	}
	return d, err
}

func removeRunDirs() {
	runDirsMu.Lock()
	defer runDirsMu.Unlock()
	for _, d := range runDirs {
		os.RemoveAll(d)
	}
	runDirs = nil
}

func buildBinary(out string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, "./cmd/keygate")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, b)
	}
	return nil
}

// repoRoot is the directory of go.mod: from this file's path, else from
// `go env GOMOD`.
func repoRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Dir(filepath.Dir(file))
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	b, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the keygate module")
	}
	return filepath.Dir(mod), nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Binary returns the path of the keygate binary under test, or skips t.
func Binary(t testing.TB) string {
	t.Helper()
	if binPath == "" {
		t.Skip(buildErr)
	}
	return binPath
}

// DefaultCaddyfile is the Caddyfile Start renders when Config.Template is
// empty. Its fields are those of Vars. Copy it to write your own.
const DefaultCaddyfile = `{
	admin {{.AdminAddr}}
	persist_config off
	{{.GlobalOptions}}
	keygate {
{{- if not .FirstRun}}
		storage badger {{.Store}}
		master_key {{.MasterKey}}
		admin_token {{.AdminToken}}
{{- end}}
		{{.KeygateOptions}}
	}
}

http://:{{.APIPort}} {
	bind keygate/127.0.0.1
	keygate_api
}

http://*.{{.Suffix}}:{{.IngressPort}} {
	bind keygate/127.0.0.1
	keygate_package {
		suffix {{.Suffix}}
		{{.PackageOptions}}
	}
}

http://:{{.EgressPort}} {
	bind keygate/127.0.0.1
	route /api/* {
		uri strip_prefix /api
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret {{.Secret}}
				{{.TransportOptions}}
			}
		}
	}
}
{{.ExtraSites}}
`

// Config describes a keygate instance. Zero values get defaults.
type Config struct {
	// Template is a text/template of the Caddyfile over Vars.
	// Default: DefaultCaddyfile.
	Template string

	// Suffix of the package site. Default: pkg.test.
	Suffix string
	// Upstream (host:port) that the egress route /api/* dials. Default:
	// the instance's own recording Upstream.
	Upstream string
	// Secret the egress route injects. Default: API_KEY.
	Secret string

	// MasterKey is the master_key setting ("BASE64" or "id:BASE64,...").
	// Default: a new random key, kept for restarts.
	MasterKey string
	// AdminToken is the admin_token setting. Default: a new random token.
	AdminToken string
	// FirstRun leaves storage, master_key and admin_token unset, as on a
	// first run: keygate creates the key and token files in its default
	// data directory (under the instance's XDG_DATA_HOME), and the CLI
	// finds the token file there.
	FirstRun bool

	// Extra Caddyfile lines: in the global options, in the keygate global
	// option, in keygate_package, in the egress route's keygate transport,
	// and whole sites after the others. Each is itself a template over
	// Vars, so ExtraSites can say "http://:{{index .Extra 0}}".
	GlobalOptions, KeygateOptions, PackageOptions, TransportOptions, ExtraSites string

	// ExtraPorts reserves this many more free ports (Vars.Extra).
	ExtraPorts int

	// Env adds KEY=VALUE settings to the process's environment (and the
	// CLI's).
	Env []string
}

// Vars are the fields of a Caddyfile template.
type Vars struct {
	Config
	AdminAddr                        string // 127.0.0.1:<port> of Caddy's admin endpoint
	APIPort, IngressPort, EgressPort int
	Extra                            []int  // Config.ExtraPorts more free ports
	Store                            string // Badger directory
	Dir                              string // the instance's temporary directory
}

// Instance is one keygate process and everything around it.
type Instance struct {
	t      testing.TB
	Config Config // as rendered last; change it and Restart, or Reload

	Dir        string   // temporary root: Caddyfile, data, logs, HOME
	Env        []string // environment of the process and of CLI runs
	Caddyfile  string   // path of the rendered Caddyfile
	StoreDir   string   // Badger directory (the default one on FirstRun)
	StdoutPath string
	StderrPath string

	AdminAddr  string // Caddy's admin endpoint, for keygate reload --address
	APIURL     string // http://127.0.0.1:<port>, the management API
	IngressURL string // http://127.0.0.1:<port>, the package site
	EgressURL  string // http://127.0.0.1:<port>, the egress site
	Ports      struct {
		Admin, API, Ingress, Egress int
		Extra                       []int
	}
	// AdminToken is the token for the API and the CLI (on FirstRun, read
	// from the file keygate created).
	AdminToken string
	// Upstream is the default stand-in third-party API behind /api/*.
	Upstream *Upstream

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
	cliOut  bytes.Buffer // every CLI run's output, for leak scans
}

// Start runs keygate from cfg and waits until it serves; the test's
// cleanup stops it.
func Start(t testing.TB, cfg Config) *Instance {
	t.Helper()
	Binary(t) // skips without a binary
	dir := t.TempDir()
	in := &Instance{t: t, Dir: dir, Caddyfile: filepath.Join(dir, "Caddyfile"),
		StdoutPath: filepath.Join(dir, "keygate.stdout.log"), StderrPath: filepath.Join(dir, "keygate.stderr.log")}
	for _, sub := range []string{"home", "xdg-data", "xdg-config", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	in.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(dir, "home"),
		"XDG_DATA_HOME=" + filepath.Join(dir, "xdg-data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg-config"),
		"TMPDIR=" + os.TempDir(),
	}, cfg.Env...)
	if cfg.Suffix == "" {
		cfg.Suffix = "pkg.test"
	}
	if cfg.Secret == "" {
		cfg.Secret = "API_KEY"
	}
	if cfg.Upstream == "" {
		in.Upstream = NewUpstream(t, nil)
		cfg.Upstream = in.Upstream.Addr
	}
	if cfg.MasterKey == "" {
		cfg.MasterKey = base64.StdEncoding.EncodeToString(randomBytes(t, 32))
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = RandomToken(t, "kgadm_test_")
	}
	in.StoreDir = filepath.Join(dir, "data", "store")
	if cfg.FirstRun {
		in.StoreDir = filepath.Join(dir, "xdg-data", "caddy", "keygate")
	}
	in.Config = cfg
	t.Cleanup(in.Stop)

	for attempt := 1; ; attempt++ {
		in.pickPorts(cfg.ExtraPorts)
		in.render(in.Config)
		before := len(in.Logs())
		err := in.start()
		if err == nil {
			break
		}
		if attempt < startAttempts && strings.Contains(in.Logs()[before:], "address already in use") {
			t.Logf("keygate start, attempt %d: a port was taken; retrying with others", attempt)
			continue
		}
		t.Fatalf("starting keygate: %v\n%s", err, tail(in.Logs(), 40))
	}
	if cfg.FirstRun {
		b, err := os.ReadFile(filepath.Join(in.StoreDir, "admin.token"))
		if err != nil {
			t.Fatalf("first run: no admin token file: %v", err)
		}
		in.AdminToken = strings.TrimSpace(string(b))
	} else {
		in.AdminToken = cfg.AdminToken
	}
	return in
}

func (in *Instance) pickPorts(extra int) {
	ports := FreePorts(in.t, 4+extra)
	in.Ports.Admin, in.Ports.API, in.Ports.Ingress, in.Ports.Egress = ports[0], ports[1], ports[2], ports[3]
	in.Ports.Extra = ports[4:]
	in.AdminAddr = "127.0.0.1:" + strconv.Itoa(in.Ports.Admin)
	in.APIURL = "http://127.0.0.1:" + strconv.Itoa(in.Ports.API)
	in.IngressURL = "http://127.0.0.1:" + strconv.Itoa(in.Ports.Ingress)
	in.EgressURL = "http://127.0.0.1:" + strconv.Itoa(in.Ports.Egress)
}

// RenderCaddyfile returns the Caddyfile for cfg with this instance's
// ports and directories.
func (in *Instance) RenderCaddyfile(cfg Config) string {
	in.t.Helper()
	src := cfg.Template
	if src == "" {
		src = DefaultCaddyfile
	}
	tmpl, err := template.New("Caddyfile").Parse(src)
	if err != nil {
		in.t.Fatalf("Caddyfile template: %v", err)
	}
	vars := Vars{
		Config: cfg, AdminAddr: in.AdminAddr,
		APIPort: in.Ports.API, IngressPort: in.Ports.Ingress, EgressPort: in.Ports.Egress,
		Extra: in.Ports.Extra, Store: filepath.Join(in.Dir, "data", "store"), Dir: in.Dir,
	}
	for _, snippet := range []*string{&vars.GlobalOptions, &vars.KeygateOptions, &vars.PackageOptions,
		&vars.TransportOptions, &vars.ExtraSites} {
		*snippet = in.execTemplate(*snippet, vars)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, vars); err != nil {
		in.t.Fatalf("Caddyfile template: %v", err)
	}
	return b.String()
}

func (in *Instance) execTemplate(src string, vars Vars) string {
	in.t.Helper()
	if !strings.Contains(src, "{{") {
		return src
	}
	tmpl, err := template.New("snippet").Parse(src)
	if err != nil {
		in.t.Fatalf("Caddyfile snippet template: %v", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, vars); err != nil {
		in.t.Fatalf("Caddyfile snippet template: %v", err)
	}
	return b.String()
}

func (in *Instance) render(cfg Config) {
	in.t.Helper()
	if err := os.WriteFile(in.Caddyfile, []byte(in.RenderCaddyfile(cfg)), 0o600); err != nil {
		in.t.Fatal(err)
	}
}

// Start starts the process again (after Stop or Kill) with the current
// Caddyfile and data, and waits until it serves.
func (in *Instance) Start() {
	in.t.Helper()
	if err := in.start(); err != nil {
		in.t.Fatalf("starting keygate: %v\n%s", err, tail(in.Logs(), 40))
	}
}

func (in *Instance) start() error {
	in.mu.Lock()
	if in.cmd != nil {
		in.mu.Unlock()
		return errors.New("already running")
	}
	stdout, err := os.OpenFile(in.StdoutPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		in.mu.Unlock()
		return err
	}
	stderr, err := os.OpenFile(in.StderrPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		stdout.Close()
		in.mu.Unlock()
		return err
	}
	cmd := exec.Command(Binary(in.t), "run", "--config", in.Caddyfile, "--adapter", "caddyfile")
	cmd.Dir = in.Dir
	cmd.Env = in.Env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		in.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	in.cmd, in.done = cmd, done
	in.mu.Unlock()
	go func() {
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		in.mu.Lock()
		in.waitErr = err
		in.mu.Unlock()
		close(done)
	}()
	if err := in.waitReady(done); err != nil {
		in.Kill()
		return err
	}
	return nil
}

// waitReady polls until the API answers and the other sites accept
// connections, the process exits, or readyTimeout passes.
func (in *Instance) waitReady(done chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for i := 0; i < int(readyTimeout/readyPoll)+1 && time.Now().Before(deadline); i++ {
		select {
		case <-done:
			in.mu.Lock()
			err := in.waitErr
			in.mu.Unlock()
			return fmt.Errorf("keygate exited during start-up: %v", err)
		case <-time.After(readyPoll):
		}
		resp, err := client.Get(in.APIURL + "/v1/keychains")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if dialOK(in.IngressURL) && dialOK(in.EgressURL) {
			return nil
		}
	}
	return fmt.Errorf("keygate did not serve within %s", readyTimeout)
}

func dialOK(u string) bool {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(u, "http://"), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Running reports whether the process is running.
func (in *Instance) Running() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cmd != nil
}

// Stop ends the process gracefully: SIGTERM, then SIGKILL after
// stopTimeout. It does nothing if the process is not running.
func (in *Instance) Stop() {
	in.halt(syscall.SIGTERM, stopTimeout)
}

// Kill ends the process with SIGKILL, as a crash would (kill -9).
func (in *Instance) Kill() {
	in.halt(syscall.SIGKILL, killTimeout)
}

func (in *Instance) halt(sig syscall.Signal, wait time.Duration) {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		in.t.Errorf("keygate (pid %d) did not exit within %s of %v; killing it", cmd.Process.Pid, wait, sig)
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(killTimeout):
			in.t.Errorf("keygate (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	}
	in.mu.Lock()
	in.cmd, in.done = nil, nil
	in.mu.Unlock()
}

// Restart stops the process gracefully and starts it again.
func (in *Instance) Restart() {
	in.t.Helper()
	in.Stop()
	in.render(in.Config)
	in.Start()
}

// Reload renders cfg (with this instance's ports and directories) and
// applies it to the running process with `keygate reload`, failing the
// test if the reload fails. in.Config becomes cfg.
func (in *Instance) Reload(cfg Config) Result {
	in.t.Helper()
	if n := cfg.ExtraPorts - len(in.Ports.Extra); n > 0 {
		in.Ports.Extra = append(in.Ports.Extra, FreePorts(in.t, n)...)
	}
	in.render(cfg)
	r := RunBinary(in.t, in.Env, "", "reload", "--config", in.Caddyfile, "--adapter", "caddyfile", "--address", in.AdminAddr)
	if r.Code != 0 {
		in.t.Fatalf("keygate reload: %s", r)
	}
	in.Config = cfg
	return r
}

// Logs returns everything the process wrote to stdout and stderr, over
// all its runs.
func (in *Instance) Logs() string {
	var b strings.Builder
	for _, p := range []string{in.StdoutPath, in.StderrPath} {
		data, _ := os.ReadFile(p)
		b.Write(data)
	}
	return b.String()
}

// CLIOutput returns the stdout and stderr of every CLI run so far.
func (in *Instance) CLIOutput() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cliOut.String()
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. Another
// process may take one before keygate binds it; Start retries then.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// RandomToken returns prefix and 32 random hex characters.
func RandomToken(t testing.TB, prefix string) string {
	return prefix + hex.EncodeToString(randomBytes(t, 16))
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// randomHex returns n random bytes in hex; safe in any goroutine.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// AssertNotContains fails t for each named output that contains needle.
// The needle is named by what, not printed.
func AssertNotContains(t testing.TB, what, needle string, outputs map[string]string) {
	t.Helper()
	if needle == "" {
		t.Fatal("AssertNotContains: empty needle")
	}
	for name, out := range outputs {
		if i := strings.Index(out, needle); i >= 0 {
			t.Errorf("%s appears in %s at byte %d", what, name, i)
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eventually polls cond every poll until it holds or timeout passes; it
// reports whether it held. Bounded in time and in iterations.
func eventually(timeout, poll time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for i := 0; i <= int(timeout/poll)+1; i++ {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(poll)
	}
	return cond()
}

// errList collects errors from goroutines, keeping the first few.
type errList struct {
	mu   sync.Mutex
	n    int
	errs []string
}

func (e *errList) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.errs) < 10 {
		e.errs = append(e.errs, fmt.Sprintf(format, args...))
	}
}

func (e *errList) report(t testing.TB, what string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n > 0 {
		t.Errorf("%s: %d failures; first ones:\n%s", what, e.n, strings.Join(e.errs, "\n"))
	}
}
