package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestHeldAcrossNodes: a call held on node 1 is released by a decision
// made on node 2 (PostgreSQL NOTIFY), within 1 s of the decision's answer;
// and an agent call held on node 1 for a grant goes on when node 2 makes
// the grant. The real binary, two nodes, one database.
func TestHeldAcrossNodes(t *testing.T) {
	hn := startHeldNodes(t, "")
	n1, n2, up, code, m, kc, kcTok := hn.n1, hn.n2, hn.up, hn.code, hn.m, hn.kc, hn.kcTok

	type answer struct {
		r  reply
		at time.Time
	}
	waitListed := func(on *Instance) string {
		t.Helper()
		var id string
		if !eventually(10*time.Second, 20*time.Millisecond, func() bool {
			var out struct {
				Pending []struct{ ID string } `json:"pending"`
			}
			json.Unmarshal(on.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc+"/pending", nil).Body, &out)
			if len(out.Pending) == 1 {
				id = out.Pending[0].ID
			}
			return id != ""
		}) {
			t.Fatal("node 2 never listed the call held on node 1")
		}
		return id
	}

	t.Run("grant on node 2 releases an agent call held on node 1", func(t *testing.T) {
		ch := make(chan answer, 1)
		go func() {
			r := n1.callIngress(t, m.Host, kcTok, "GET", "/mint/held", http.Header{"Prefer": {"wait=20"}})
			ch <- answer{r, time.Now()}
		}()
		waitListed(n2)
		n2.grant(t, kc, m.Name, "API_KEY")
		decided := time.Now()
		a := <-ch
		if a.r.Status != http.StatusOK || a.r.Header.Get("Preference-Applied") != "wait" {
			t.Fatalf("released call: %s", a.r)
		}
		if d := a.at.Sub(decided); d > time.Second {
			t.Fatalf("the grant on node 2 released the call on node 1 after %s", d)
		} else {
			t.Logf("grant on node 2 released the call on node 1 %s after its answer", d)
		}
	})

	t.Run("approve on node 2 releases an egress call held on node 1", func(t *testing.T) {
		inv := n1.mintInvocation(t, code, m.Host, kcTok)
		before := up.Count()
		ch := make(chan answer, 1)
		go func() {
			r := n1.callEgress(t, inv, "POST", "/api/charges", nil)
			ch <- answer{r, time.Now()}
		}()
		id := waitListed(n2)
		if up.Count() != before {
			t.Fatal("the held call reached the upstream before a decision")
		}
		n2.mustAPI(t, http.StatusOK, "POST", "/v1/keychains/"+kc+"/pending/"+id+"/approve", map[string]string{"scope": "once"})
		decided := time.Now()
		a := <-ch
		if a.r.Status != http.StatusOK {
			t.Fatalf("approved call: %s", a.r)
		}
		if d := a.at.Sub(decided); d > time.Second {
			t.Fatalf("the approval on node 2 released the call on node 1 after %s", d)
		} else {
			t.Logf("approval on node 2 released the call on node 1 %s after its answer", d)
		}
		// Replayed on node 1: the decision was taken once.
		if r := n1.callAPI(t, "POST", "/v1/keychains/"+kc+"/pending/"+id+"/approve", map[string]string{"scope": "once"}); r.Status != http.StatusNotFound {
			t.Fatalf("decision replayed on node 1: %s", r)
		}
	})

	t.Run("a node's death ends its held calls without forwarding them", func(t *testing.T) {
		inv := n1.mintInvocation(t, code, m.Host, kcTok)
		before := up.Count()
		ch := make(chan error, 1)
		go func() {
			_, err := tryHTTP(httpClient, "POST", n1.EgressURL+"/api/charges", "", bearer(inv), nil)
			ch <- err
		}()
		id := waitListed(n2)
		n1.Kill()
		if err := <-ch; err == nil {
			t.Fatal("the caller of a call held on a killed node got an answer")
		}
		// The decision finds the record (its node is gone) but releases
		// nothing: nothing was forwarded.
		n2.callAPI(t, "POST", "/v1/keychains/"+kc+"/pending/"+id+"/approve", map[string]string{"scope": "once"})
		time.Sleep(200 * time.Millisecond)
		if up.Count() != before {
			t.Fatal("a call held on a dead node was forwarded")
		}
	})
}

// TestHeldLimitAcrossNodes: approval_max_pending bounds a keychain's held
// calls on all nodes together (counted in the database when a call is
// held): with a limit of 3, calls held on node 1 and node 2 leave room for
// one more, on either node; past it each node answers 429 too_many_held,
// and a decision frees a place for the next call, on the other node.
func TestHeldLimitAcrossNodes(t *testing.T) {
	hn := startHeldNodes(t, "approval_max_pending 3")
	n1, n2, kc := hn.n1, hn.n2, hn.kc
	n1.grant(t, kc, hn.m.Name, "API_KEY")
	inv := n1.mintInvocation(t, hn.code, hn.m.Host, hn.kcTok)

	held := make(chan reply, 8)
	hold := func(on *Instance, want int) {
		t.Helper()
		go func() { held <- on.callEgress(t, inv, "POST", "/api/charges", http.Header{"Prefer": {"wait=30"}}) }()
		if !eventually(10*time.Second, 20*time.Millisecond, func() bool { return len(pendingOf(t, n2, kc)) == want }) {
			t.Fatalf("%d calls listed, want %d", len(pendingOf(t, n2, kc)), want)
		}
	}
	hold(n1, 1)
	hold(n1, 2)
	hold(n2, 3)
	for i, on := range []*Instance{n1, n2} {
		r := on.callEgress(t, inv, "POST", "/api/charges", http.Header{"Prefer": {"wait=30"}})
		wantProblem(t, fmt.Sprintf("a fourth held call on node %d", i+1), r, http.StatusTooManyRequests, "too_many_held")
	}
	// A decision on node 1 frees a place, for a call held on node 2.
	first := pendingOf(t, n1, kc)[0]
	n1.mustAPI(t, http.StatusOK, "POST", "/v1/keychains/"+kc+"/pending/"+first.ID+"/approve", map[string]string{"scope": "once"})
	if r := <-held; r.Status != http.StatusOK {
		t.Fatalf("the approved call: %s", r)
	}
	hold(n2, 3)
	for _, c := range pendingOf(t, n2, kc) {
		n2.mustAPI(t, http.StatusOK, "POST", "/v1/keychains/"+kc+"/pending/"+c.ID+"/refuse", nil)
	}
	for range 3 {
		wantProblem(t, "a refused call", <-held, http.StatusForbidden, "refused")
	}
}

// heldNodes are two nodes on one PostgreSQL database with a package whose
// API_KEY is held for its owner on POST /charges*, and a keychain that
// has its value (and no grant yet).
type heldNodes struct {
	n1, n2    *Instance
	up, code  *Upstream // the third-party API, the package's code
	m         testManifest
	kc, kcTok string
}

func startHeldNodes(t *testing.T, keygateOptions string) *heldNodes {
	t.Helper()
	dsn := pgDatabase(t, t.Name())
	hn := &heldNodes{up: NewUpstream(t, nil), code: NewUpstream(t, nil)}
	cfg := Config{
		Template:       pgCaddyfile,
		MasterKey:      base64.StdEncoding.EncodeToString(randomBytes(t, 32)),
		AdminToken:     RandomToken(t, "kgadm_test_"),
		Upstream:       hn.up.Addr,
		Env:            []string{"KEYGATE_TEST_DSN=" + dsn},
		KeygateOptions: keygateOptions,
	}
	nodes := startNodes(t, dsn, cfg, 2, false)
	hn.n1, hn.n2 = nodes[0], nodes[1]
	m := apiKeyManifest("@it/held", "held", hn.code.URL)
	manifest := map[string]any{"name": m.Name, "version": m.Version, "sha256": m.SHA256, "host": m.Host, "upstream": m.Upstream,
		"keys": []map[string]any{{"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"},
			"approve": []map[string]any{{"method": "POST", "path": "/charges*"}}}}}
	hn.n1.mustAPI(t, http.StatusCreated, "PUT", "/v1/packages/"+m.Name, manifest)
	hn.m = m
	hn.kc, hn.kcTok = hn.n1.newKeychain(t, "held")
	hn.n1.setSecret(t, hn.kc, "API_KEY", RandomToken(t, "sk_held_"))
	return hn
}
