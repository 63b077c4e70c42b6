// Package pgtest starts a throwaway PostgreSQL cluster for tests: a temp
// directory, a free loopback port, password authentication over TCP, and
// a fresh database per test. When PostgreSQL is not installed, Start
// returns ErrNotInstalled; tests then skip, or fail when CI=true (see
// Skip).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled means no initdb/pg_ctl was found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL (initdb, pg_ctl) is not installed")

// superuser is the cluster's only role; its password is random per cluster.
const superuser = "keygate"

// Cluster is one running (or stopped) PostgreSQL server.
type Cluster struct {
	bin      string // directory of initdb, pg_ctl, postgres
	dir      string // temp dir: data/, log, socket
	runAs    string // unprivileged user when running as root, else ""
	port     int
	password string

	mu  sync.Mutex
	dbs int
}

// Skip ends tb when Start failed with ErrNotInstalled: a skip normally, a
// failure under CI=true, where PostgreSQL must be there.
func Skip(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true" {
		tb.Skip(err)
	}
	tb.Fatal(err)
}

// findBin returns the directory holding initdb and pg_ctl.
func findBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			return filepath.Dir(p), nil
		}
	}
	candidates := []string{"/usr/local/bin", "/usr/local/pgsql/bin"}
	vers, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(vers))) // newest first
	candidates = append(candidates, vers...)
	for _, d := range candidates {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			if real, err := filepath.EvalSymlinks(filepath.Join(d, "pg_ctl")); err == nil {
				return filepath.Dir(real), nil
			}
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// Start initialises and starts a cluster. PostgreSQL refuses to run as
// root, so as root the cluster belongs to, and runs as, user nobody.
func Start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, password: randomHex(16)}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("nobody"); err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs user nobody: %w", err)
		}
		c.runAs = "nobody"
	}
	if c.dir, err = os.MkdirTemp("", "keygate-pgtest-"); err != nil {
		return nil, err
	}
	if err := c.init(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	if err := c.StartServer(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) init() error {
	if c.runAs != "" {
		if err := chownTo(c.dir, c.runAs); err != nil {
			return err
		}
	}
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return err
	}
	if c.runAs != "" {
		if err := chownTo(pwfile, c.runAs); err != nil {
			return err
		}
	}
	defer os.Remove(pwfile)
	return c.run("initdb", "-D", c.dataDir(), "-U", superuser, "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale", "-E", "UTF8", "--no-instructions")
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// run runs one of the cluster's binaries, as the unprivileged user when
// there is one.
func (c *Cluster) run(name string, args ...string) error {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: %s: %v\n%s", name, err, out)
	}
	return nil
}

func chownTo(path, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

// StartServer starts the server (again) on its port, picking a free one
// the first time.
func (c *Cluster) StartServer() error {
	for attempt := 0; ; attempt++ {
		if c.port == 0 || attempt > 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			c.port = p
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", c.port, c.dir)
		err := c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", filepath.Join(c.dir, "log"), "-o", opts)
		if err == nil {
			return nil
		}
		// A port taken since it was picked: try another, a few times.
		if attempt >= 3 || !c.portTaken() {
			log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			return fmt.Errorf("%w\nserver log:\n%s", err, log)
		}
	}
}

func (c *Cluster) portTaken() bool {
	log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
	return strings.Contains(string(log), "Address already in use")
}

// StopServer stops the server, keeping its data, for outage tests.
func (c *Cluster) StopServer() error {
	return c.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", c.dataDir())
}

// Restart stops and starts the server on the same port.
func (c *Cluster) Restart() error {
	if err := c.StopServer(); err != nil {
		return err
	}
	return c.StartServer()
}

// Stop stops the server and removes every file of the cluster.
func (c *Cluster) Stop() error {
	c.run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", c.dataDir())
	return os.RemoveAll(c.dir)
}

// Password is the superuser's password, for tests that check it leaks
// nowhere.
func (c *Cluster) Password() string { return c.password }

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DSN returns a URL for database db (the cluster's "postgres" when "").
func (c *Cluster) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates an empty database named after name (made unique)
// and returns its DSN.
func (c *Cluster) NewDatabase(name string) (string, error) {
	c.mu.Lock()
	c.dbs++
	n := c.dbs
	c.mu.Unlock()
	db := fmt.Sprintf("t%d_%s", n, sanitize(name))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(""))
	if err != nil {
		return "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.DSN(db), nil
}

// Exec runs sql in database dsn, for tests that reach behind the store
// (terminating a backend, reading raw rows).
func Exec(dsn, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func sanitize(name string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('_')
		}
		if sb.Len() >= 40 {
			break
		}
	}
	return sb.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Tool is the path of one of the cluster's PostgreSQL programs, such as
// pg_dump, from the same install as its server.
func (c *Cluster) Tool(name string) string { return filepath.Join(c.bin, name) }
