package integration

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestProxyNodesShareOneCA: two nodes starting together on one empty
// PostgreSQL database, both asked for the CA at once, serve the same one;
// a placeholder handed out by one node's ingress works through the other
// node's proxy site.
func TestProxyNodesShareOneCA(t *testing.T) {
	up := newTLSUpstream(t, echoAPI)
	code := NewUpstream(t, nil)
	dsn := pgDatabase(t, t.Name())
	cfg := Config{
		Template:   pgCaddyfile,
		MasterKey:  base64.StdEncoding.EncodeToString(randomBytes(t, 32)),
		AdminToken: RandomToken(t, "kgadm_test_"),
		Env:        []string{"KEYGATE_TEST_DSN=" + dsn},
		ExtraPorts: proxySitePorts,
		ExtraSites: fmt.Sprintf(proxySites, up.CAFile, up.Port),
	}
	nodes := startNodes(t, dsn, cfg, 2, true)

	pems := make([]string, len(nodes))
	var wg sync.WaitGroup
	for i, in := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := tryHTTP(http.DefaultClient, "GET", in.APIURL+"/v1/proxy/ca.pem", "", nil, nil)
			if err == nil && r.Status == http.StatusOK {
				pems[i] = string(r.Body)
			}
		}()
	}
	wg.Wait()
	if pems[0] == "" || pems[0] != pems[1] || strings.Count(pems[0], "BEGIN CERTIFICATE") != 1 {
		t.Fatalf("the nodes serve different CAs (or none): %d and %d bytes", len(pems[0]), len(pems[1]))
	}

	a, b := nodes[0], nodes[1]
	kc, tok := a.newKeychain(t, "shared")
	value := RandomToken(t, "sk_shared_")
	a.setSecret(t, kc, "API_KEY", value)
	a.putPackage(t, apiKeyManifest("@it/shared", "shared", code.URL))
	a.grant(t, kc, "@it/shared", "API_KEY")
	path := "/call/" + RandomToken(t, "")
	if r := a.callIngress(t, "shared", tok, "GET", path, nil); r.Status != http.StatusOK {
		t.Fatalf("ingress on node 1: %s", r)
	}
	var ph string
	for _, req := range code.Requests() {
		if req.Path == path {
			ph = req.Header.Get("Keygate-Placeholder-API-KEY")
		}
	}
	if ph == "" {
		t.Fatal("no placeholder from node 1")
	}
	pw := &proxyWorld{world: &world{in: b}, up: up, caFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(pw.caFile, []byte(pems[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	c := pw.goClient(t, fmt.Sprintf("http://127.0.0.1:%d", b.Ports.Extra[0]))
	req, _ := http.NewRequest("GET", up.URL+"/v1/echo", nil)
	req.Header.Set("Authorization", "Bearer "+ph)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("node 2's proxy site: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || up.Last(t).Header.Get("Authorization") != "Bearer "+value {
		t.Fatalf("node 2's proxy site answered %d; the upstream got the value: %v", resp.StatusCode, up.Last(t).Header.Get("Authorization") == "Bearer "+value)
	}
}
