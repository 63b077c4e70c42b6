package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// balancerCaddyfile is a plain Caddy (the keygate binary, no keygate app)
// spreading the API, package and egress sites over the nodes.
const balancerCaddyfile = `{
	admin {{.AdminAddr}}
	persist_config off
}
http://:{{.APIPort}} {
	bind 127.0.0.1
	reverse_proxy {{index .Extra 0}} { {{index .Extra 3}} }
}
http://:{{.IngressPort}} {
	bind 127.0.0.1
	reverse_proxy {{index .Extra 1}} { {{index .Extra 3}} }
}
http://:{{.EgressPort}} {
	bind 127.0.0.1
	reverse_proxy {{index .Extra 2}} { {{index .Extra 3}} }
}
`

// cluster is N keygate nodes on one database behind a balancer.
type cluster struct {
	dsn   string
	nodes []*Instance
	lb    *Instance
	up    *Upstream // the third-party API behind every node's egress
	code  *Upstream // the package's code behind every node's ingress
}

func startNodes(t *testing.T, dsn string, cfg Config, n int, concurrently bool) []*Instance {
	t.Helper()
	nodes := make([]*Instance, n)
	var wg sync.WaitGroup
	for i := range nodes {
		start := func() { nodes[i] = Start(t, cfg) }
		if !concurrently {
			start()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); start() }()
	}
	wg.Wait()
	for i, in := range nodes {
		if in == nil {
			t.Fatalf("node %d did not start", i+1)
		}
	}
	return nodes
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{dsn: pgDatabase(t, t.Name()), up: NewUpstream(t, nil), code: NewUpstream(t, nil)}
	cfg := pgNodeConfig(t, c.dsn)
	cfg.Upstream = c.up.Addr
	// Two nodes start at once on the empty database: one schema, one
	// first signing key, both serve.
	c.nodes = startNodes(t, c.dsn, cfg, 2, true)
	c.nodes = append(c.nodes, startNodes(t, c.dsn, cfg, 1, false)...)
	var api, ing, eg []string
	for _, in := range c.nodes {
		api = append(api, hostPort(in.APIURL))
		ing = append(ing, hostPort(in.IngressURL))
		eg = append(eg, hostPort(in.EgressURL))
	}
	c.lb = startBalancer(t, cfg, api, ing, eg)
	return c
}

// startBalancer runs the balancer; its passive health checks take a node
// that fails out of the rotation, and lb_try_duration retries a request
// that found a node gone on another.
func startBalancer(t *testing.T, cfg Config, api, ing, eg []string) *Instance {
	t.Helper()
	opts := "lb_policy round_robin\n\t\tlb_try_duration 5s\n\t\tlb_try_interval 50ms\n\t\tfail_duration 5s\n\t\tmax_fails 1"
	tmpl := strings.NewReplacer(
		"{{index .Extra 0}}", strings.Join(api, " "),
		"{{index .Extra 1}}", strings.Join(ing, " "),
		"{{index .Extra 2}}", strings.Join(eg, " "),
		"{{index .Extra 3}}", "\n\t\t"+opts+"\n\t",
	).Replace(balancerCaddyfile)
	return Start(t, Config{Template: tmpl, AdminToken: cfg.AdminToken, MasterKey: cfg.MasterKey, Upstream: cfg.Upstream})
}

// TestMultiNode runs three nodes on one PostgreSQL database behind Caddy's
// reverse_proxy: writes on node 1, reads and agent calls on nodes 2 and 3,
// revocation seen on node 3, an owner session across nodes, kill -9 and a
// database outage under load, and a leak scan of logs and a pg_dump.
func TestMultiNode(t *testing.T) {
	c := newCluster(t)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	value := RandomToken(t, "sk_multi_")
	noteSensitive(value)
	needles := map[string]string{"secret value": value, "admin token": n1.AdminToken, "master key": n1.Config.MasterKey,
		"database password": pgCluster(t).Password()}

	m := apiKeyManifest("@it/multi", "multi", c.code.URL)
	n1.putPackage(t, m)
	kc, kcTok := n1.newKeychain(t, "multi")
	needles["keychain token"] = kcTok
	n1.setSecret(t, kc, "API_KEY", value)
	n1.grant(t, kc, m.Name, "API_KEY")

	t.Run("written on node 1, served by nodes 2 and 3 and the balancer", func(t *testing.T) {
		for _, in := range []*Instance{n2, n3, c.lb} {
			in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc, nil)
			inv := in.mintInvocation(t, c.code, m.Host, kcTok)
			if r := in.callEgress(t, inv, "GET", "/api/x", nil); r.Status != http.StatusOK {
				t.Fatalf("egress: %s", r)
			}
			if got := c.up.Last(t).Header.Get("Authorization"); got != "Bearer "+value {
				t.Fatal("the upstream did not get the secret")
			}
		}
	})

	t.Run("owner signed in on node 1 is served by node 2", func(t *testing.T) {
		r := n1.mustAPI(t, http.StatusOK, "POST", "/v1/keychains/"+kc+"/login-link", nil)
		link := jsonField(t, r.Body, "url")
		noteSensitive(link)
		// The link's page asks; its form posts the token back.
		lu, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", n1.APIURL+"/ui/login", strings.NewReader(url.Values{"t": {lu.Query().Get("t")}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", n1.APIURL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var cookie *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "keygate_owner" {
				cookie = ck
			}
		}
		if resp.StatusCode != http.StatusOK || cookie == nil {
			t.Fatalf("sign-in on node 1: %d, cookie %v", resp.StatusCode, cookie != nil)
		}
		noteSensitive(cookie.Value)
		needles["owner session"] = cookie.Value
		for _, in := range []*Instance{n2, n3} {
			req, _ = http.NewRequest("GET", in.APIURL+"/ui/keychains/"+kc, nil)
			req.AddCookie(cookie)
			resp, err = noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("the owner's page on another node: %d", resp.StatusCode)
			}
		}
		// The link was spent on node 1: node 2 refuses it.
		if r := sendT(t, "GET", strings.Replace(link, n1.APIURL, n2.APIURL, 1), "", nil, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("a spent link on node 2: %d", r.Status)
		}
	})

	t.Run("revocation on node 1 holds on node 3", func(t *testing.T) {
		rkc, rtok := n1.newKeychain(t, "revoke")
		n1.setSecret(t, rkc, "API_KEY", value)
		n1.grant(t, rkc, m.Name, "API_KEY")
		inv := n3.mintInvocation(t, c.code, m.Host, rtok)
		if r := n3.callEgress(t, inv, "GET", "/api/before", nil); r.Status != http.StatusOK {
			t.Fatalf("egress before: %s", r)
		}
		start := time.Now()
		n1.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+rkc+"/grants/"+m.Name, nil)
		acked := time.Since(start)
		polls := 0
		ok := eventually(2*time.Second, time.Millisecond, func() bool {
			polls++
			return n3.callEgress(t, inv, "GET", "/api/after", nil).Status == http.StatusForbidden
		})
		took := time.Since(start)
		if !ok {
			t.Fatalf("node 3 still serves a grant revoked on node 1 after %s", took)
		}
		t.Logf("revocation on node 1 refused on node 3 after %s (%d polls; the DELETE itself took %s)", took, polls, acked)
	})

	t.Run("kill -9 of a node under load", func(t *testing.T) {
		acked, failed := writeUnderLoad(t, c.lb, kc, "KILL", func() { n2.Kill() })
		t.Logf("kill -9: %d writes acknowledged, %d refused or cut", len(acked), failed)
		checkAcked(t, n1, kc, acked)
		c.lb.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc, nil)
		n2.Start()
	})

	t.Run("database stopped and started under load", func(t *testing.T) {
		cl := pgCluster(t)
		var saw503 atomic.Int32
		acked, failed := writeUnderLoad(t, n1, kc, "DOWN", func() {
			if err := cl.StopServer(); err != nil {
				t.Error(err)
			}
			if !eventually(10*time.Second, 50*time.Millisecond, func() bool {
				r := n3.callAPI(t, "PUT", "/v1/keychains/"+kc+"/secrets/PROBE", map[string]any{"value": "probe-value", "allowed_hosts": []string{"127.0.0.1"}})
				if r.Status == http.StatusServiceUnavailable {
					if p := wantProblem(t, "during the outage", r, http.StatusServiceUnavailable, "storage_unavailable"); p.RetryAfter > 0 {
						saw503.Add(1)
					}
					return true
				}
				return false
			}) {
				t.Error("no 503 storage_unavailable while the database is down")
			}
			if err := cl.StartServer(); err != nil {
				t.Error(err)
			}
		})
		t.Logf("outage: %d writes acknowledged, %d refused", len(acked), failed)
		if saw503.Load() == 0 {
			t.Error("no 503 with Retry-After during the outage")
		}
		// Service resumes by itself, on every node.
		for i, in := range c.nodes {
			if !eventually(20*time.Second, 100*time.Millisecond, func() bool {
				return in.callAPI(t, "GET", "/v1/keychains/"+kc, nil).Status == http.StatusOK
			}) {
				t.Fatalf("node %d did not recover", i+1)
			}
		}
		checkAcked(t, n3, kc, acked)
		if !eventually(20*time.Second, 100*time.Millisecond, func() bool {
			inv := n2.mintInvocationOK(c.code, m.Host, kcTok)
			return inv != "" && n2.callEgress(t, inv, "GET", "/api/after", nil).Status == http.StatusOK
		}) {
			t.Fatal("egress on node 2 did not recover")
		}
	})

	t.Run("leak scan of every node's log and a pg_dump", func(t *testing.T) {
		dump, err := exec.Command(pgCluster(t).Tool("pg_dump"), "--data-only", "-d", c.dsn).CombinedOutput()
		if err != nil {
			t.Fatalf("pg_dump: %v\n%s", err, tail(string(dump), 10))
		}
		if !strings.Contains(string(dump), "keygate_kv") {
			t.Fatal("pg_dump holds no keygate_kv")
		}
		outs := map[string]string{"pg_dump": string(dump)}
		for i, in := range append(append([]*Instance(nil), c.nodes...), c.lb) {
			outs[fmt.Sprintf("node %d log", i+1)] = in.Logs()
		}
		for what, needle := range needles {
			AssertNotContains(t, what, needle, outs)
		}
	})
}

// noRedirect is a client that shows redirects rather than follows them.
var noRedirect = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// writeUnderLoad sets secrets on in from 4 writers while during runs,
// and returns the names whose write was acknowledged.
func writeUnderLoad(t *testing.T, in *Instance, kc, prefix string, during func()) (acked []string, failed int) {
	t.Helper()
	var (
		mu   sync.Mutex
		stop atomic.Bool
		wg   sync.WaitGroup
		seq  atomic.Int64
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				name := fmt.Sprintf("%s_%d", prefix, seq.Add(1))
				r, err := tryHTTP(httpClient, "PUT", in.APIURL+"/v1/keychains/"+kc+"/secrets/"+name, "", bearer(in.AdminToken),
					map[string]any{"value": "v-" + name, "allowed_hosts": []string{"127.0.0.1"}})
				mu.Lock()
				if err == nil && r.Status == http.StatusNoContent {
					acked = append(acked, name)
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	during()
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	return acked, failed
}

// checkAcked fails t unless every acknowledged write is stored.
func checkAcked(t *testing.T, in *Instance, kc string, acked []string) {
	t.Helper()
	r := in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc+"/secrets", nil)
	for _, name := range acked {
		if !strings.Contains(string(r.Body), `"`+name+`"`) {
			t.Errorf("acknowledged write %s is not stored", name)
		}
	}
}

// jsonField is one string field of a JSON object.
func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	v, _ := m[name].(string)
	if v == "" {
		t.Fatalf("no %q in the answer", name)
	}
	return v
}
