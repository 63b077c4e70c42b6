package integration

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

// pgProxy forwards TCP connections to PostgreSQL on 127.0.0.1 and, while
// dropping is set, drops every NotificationResponse ('A') the server
// sends: LISTEN connections stay up and quiet, as with a lossy proxy.
type pgProxy struct {
	ln       net.Listener
	target   string
	dropping atomic.Bool
	dropped  atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startPgProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *pgProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *pgProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c)
		p.track(s)
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(s, c); s.Close() }()
		go func() { defer p.wg.Done(); p.fromServer(c, s); c.Close() }()
	}
}

// fromServer copies the server's messages (type byte, int32 length that
// counts itself, body) to the client, dropping notifications when asked.
func (p *pgProxy) fromServer(c, s net.Conn) {
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(s, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:]))
		if n < 4 || n > 64<<20 {
			return
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(s, body); err != nil {
			return
		}
		if hdr[0] == 'A' && p.dropping.Load() {
			p.dropped.Add(1)
			continue
		}
		if _, err := c.Write(append(hdr[:], body...)); err != nil {
			return
		}
	}
}

// viaProxy is dsn with its host and port replaced by the proxy's.
func viaProxy(t *testing.T, dsn string, p *pgProxy) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

func pgTarget(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestPgNotificationLossBounded: node 2 reaches PostgreSQL through a
// proxy that starts dropping every notification. A grant revoked on node
// 1 must still be refused on node 2 within about a second (a bounded
// poll, not a timing), since every node also reads the change sequence.
func TestPgNotificationLossBounded(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t, t.Name())
	proxy := startPgProxy(t, pgTarget(t, dsn))
	cfg := pgNodeConfig(t, dsn)
	up, code := NewUpstream(t, nil), NewUpstream(t, nil)
	cfg.Upstream = up.Addr
	n1 := Start(t, cfg)
	cfg2 := cfg
	cfg2.Env = []string{"KEYGATE_TEST_DSN=" + viaProxy(t, dsn, proxy)}
	n2 := Start(t, cfg2)

	value := RandomToken(t, "sk_lossy_")
	noteSensitive(value)
	m := apiKeyManifest("@it/lossy", "lossy", code.URL)
	n1.putPackage(t, m)
	for round := range 3 {
		kc, tok := n1.newKeychain(t, "lossy")
		n1.setSecret(t, kc, "API_KEY", value)
		n1.grant(t, kc, m.Name, "API_KEY")
		inv := n2.mintInvocation(t, code, m.Host, tok)
		if r := n2.callEgress(t, inv, "GET", "/api/before", nil); r.Status != http.StatusOK {
			t.Fatalf("round %d: egress on node 2 before: %s", round, r)
		}
		proxy.dropping.Store(true)
		n1.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+kc+"/grants/"+m.Name, nil)
		var last reply
		refused := eventually(3*time.Second, 20*time.Millisecond, func() bool {
			last = n2.callEgress(t, inv, "GET", "/api/after", nil)
			return last.Status == http.StatusForbidden
		})
		if !refused {
			t.Fatalf("round %d: node 2 still serves a grant revoked on node 1 with notifications lost: %s", round, last)
		}
		proxy.dropping.Store(false)
	}
	if proxy.dropped.Load() == 0 {
		t.Error("the proxy dropped no notification: the test did not test")
	}
	if !strings.Contains(n2.Logs(), "did not arrive") {
		t.Error("node 2 did not log the lost notification")
	}
}

// TestPgPoolerWithoutNotificationsRefused: where notifications never
// reach a LISTEN connection (a pooler in transaction mode does this),
// keygate refuses to start, saying so.
func TestPgPoolerWithoutNotificationsRefused(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t, t.Name())
	proxy := startPgProxy(t, pgTarget(t, dsn))
	proxy.dropping.Store(true)
	in := Start(t, Config{}) // for its directories and environment
	in.Stop()
	cfg := in.Config
	cfg.Template = pgCaddyfile
	cfg.Env = []string{"KEYGATE_TEST_DSN=" + viaProxy(t, dsn, proxy)}
	p := filepath.Join(in.Dir, "Caddyfile.pg")
	if err := os.WriteFile(p, []byte(in.RenderCaddyfile(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	in.Env = mergeEnv(in.Env, cfg.Env)
	r := in.runUntilExit(t, 60*time.Second, "run", "--config", p, "--adapter", "caddyfile")
	if r.Code == 0 {
		t.Fatal("keygate started though no notification arrives")
	}
	if !strings.Contains(r.Stderr, "pooler in transaction mode") {
		t.Errorf("the refusal does not name the pooler:\n%s", tail(redactResult(r).Stderr, 5))
	}
}

// TestPgSigningKeyPropagates: a signing key added on one node (here
// written to the database as a node would) is used at once by the others:
// node 1 signs with it, node 2 verifies what node 1 signed.
func TestPgSigningKeyPropagates(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t, t.Name())
	cfg := pgNodeConfig(t, dsn)
	code := NewUpstream(t, nil)
	nodes := startNodes(t, dsn, cfg, 2, false)
	n1, n2 := nodes[0], nodes[1]
	m := apiKeyManifest("@it/signing", "signing", code.URL)
	n1.putPackage(t, m)

	kr, err := store.ParseMasterKeys(cfg.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Postgres: dsn, Keyring: kr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newKey := store.SigningKey{ID: "sk_added", Secret: randomBytes(t, 32), CreatedAt: time.Now().UTC().Add(time.Minute)}
	if err := st.PutSigningKey(newKey); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var kc, tok string
	signed := eventually(5*time.Second, 50*time.Millisecond, func() bool {
		kc, tok = n1.newKeychain(t, "signing")
		return tokenKID(t, tok) == newKey.ID
	})
	if !signed {
		t.Fatalf("node 1 does not sign with the added key (kid %q)", tokenKID(t, tok))
	}
	n1.grant(t, kc, m.Name, "API_KEY")
	n1.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"))
	if r := n2.callIngress(t, m.Host, tok, "GET", "/hello", nil); r.Status != http.StatusOK {
		t.Fatalf("node 2 refuses a token signed with the added key: %s", r)
	}
}

// tokenKID is the kid of a JWT's header.
func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(b, &hdr)
	return hdr.KID
}
