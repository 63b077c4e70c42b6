package integration

import (
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// tlsUpstream is a stand-in third-party API on 127.0.0.1 with its own CA
// (keygate trusts it through upstream_ca): it records what it received
// and answers per path.
type tlsUpstream struct {
	*Upstream
	CAFile string // PEM of its CA
	Port   string
}

// newTLSUpstream starts it; its certificate names 127.0.0.1 and localhost.
func newTLSUpstream(t testing.TB, h http.HandlerFunc) *tlsUpstream {
	t.Helper()
	caDER, der, key := upstreamCert(t)
	u := &Upstream{handler: h}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	u.URL = u.srv.URL
	u.Addr = strings.TrimPrefix(u.srv.URL, "https://")
	caFile := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(u.Addr)
	return &tlsUpstream{Upstream: u, CAFile: caFile, Port: port}
}

// upstreamCert makes a test CA and a server certificate it signs, for
// 127.0.0.1 and localhost.
func upstreamCert(t testing.TB) (caDER, der []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "upstream test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, SubjectKeyId: []byte{1, 2, 3, 4}}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, SubjectKeyId: []byte{5, 6, 7, 8}}
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey); err != nil {
		t.Fatal(err)
	}
	return caDER, der, key
}

// echoAPI answers what it was sent, as an API that echoes a key back in
// an error would: in a header and in a JSON body.
func echoAPI(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	switch r.URL.Path {
	case "/v1/gzip":
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprintf(zw, "your key: %s", auth)
		zw.Close()
		return
	case "/v1/ws":
		// Frames are echoed; the key never goes into one.
		websocket.Handler(func(ws *websocket.Conn) {
			for {
				var msg string
				if websocket.Message.Receive(ws, &msg) != nil || websocket.Message.Send(ws, msg) != nil {
					return
				}
			}
		}).ServeHTTP(w, r)
		return
	case "/v1/sse":
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: {\"n\":%d,\"key\":%q}\n\n", i, auth)
			w.(http.Flusher).Flush()
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	got := map[string]string{
		"authorization": r.Header.Get("Authorization"),
		"x_api_key":     r.Header.Get("X-Api-Key"),
		"query":         r.URL.RawQuery,
		"body":          string(body),
		"host":          r.Host,
		"path":          r.URL.Path,
	}
	w.Header().Set("X-Echo-Authorization", r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(got)
}

// proxyWorld is a world with a proxy site in front of a TLS upstream.
type proxyWorld struct {
	*world
	up       *tlsUpstream
	proxyURL string // the proxy site that may dial 127.0.0.1
	strict   string // a proxy site that dials public addresses only
	authed   string // a proxy site with proxy_auth required, 4 tunnels per client
	passing  string // a proxy site whose pass host is the upstream at 127.0.0.1
	caFile   string // keygate's CA, as GET /v1/proxy/ca.pem gives it
}

// proxySitePorts is how many extra ports proxySites names (Extra 0 to 3).
const proxySitePorts = 4

const proxySites = `
http://:{{index .Extra 0}} {
	bind 127.0.0.1
	keygate_proxy {
		upstream_ca %[1]s
		allow_private_upstreams
		pass_hosts localhost:%[2]s
		max_body 64KiB
	}
}

http://:{{index .Extra 1}} {
	bind 127.0.0.1
	keygate_proxy {
		pass_hosts example.com
	}
}

http://:{{index .Extra 2}} {
	bind 127.0.0.1
	keygate_proxy {
		upstream_ca %[1]s
		allow_private_upstreams
		proxy_auth required
		max_tunnels_per_client 4
	}
}

http://:{{index .Extra 3}} {
	bind 127.0.0.1
	keygate_proxy {
		upstream_ca %[1]s
		allow_private_upstreams
		pass_hosts 127.0.0.1:%[2]s
	}
}
`

func newProxyWorld(t testing.TB, h http.HandlerFunc, cfg Config) *proxyWorld {
	t.Helper()
	if h == nil {
		h = echoAPI
	}
	up := newTLSUpstream(t, h)
	cfg.ExtraPorts += proxySitePorts
	cfg.ExtraSites += fmt.Sprintf(proxySites, up.CAFile, up.Port)
	w := newWorld(t, cfg)
	pw := &proxyWorld{world: w, up: up,
		proxyURL: fmt.Sprintf("http://127.0.0.1:%d", w.in.Ports.Extra[0]),
		strict:   fmt.Sprintf("http://127.0.0.1:%d", w.in.Ports.Extra[1]),
		authed:   fmt.Sprintf("http://127.0.0.1:%d", w.in.Ports.Extra[2]),
		passing:  fmt.Sprintf("http://127.0.0.1:%d", w.in.Ports.Extra[3])}
	r := sendT(t, "GET", w.in.APIURL+"/v1/proxy/ca.pem", "", nil, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "BEGIN CERTIFICATE") {
		t.Fatalf("GET /v1/proxy/ca.pem: %s", r)
	}
	pw.caFile = filepath.Join(w.in.Dir, "keygate-ca.pem")
	if err := os.WriteFile(pw.caFile, r.Body, 0o644); err != nil {
		t.Fatal(err)
	}
	return pw
}

// call makes an agent's call into the package and returns what its code
// received: the invocation token and the placeholder of API_KEY.
func (pw *proxyWorld) call(t testing.TB) (token, placeholder string) {
	t.Helper()
	path := "/call/" + RandomToken(t, "")
	r := pw.in.callIngress(t, pw.host, pw.token, "GET", path, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("ingress: %s", r)
	}
	for _, req := range pw.pkgCode.Requests() {
		if req.Path == path {
			token = strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
			placeholder = req.Header.Get("Keygate-Placeholder-API-KEY")
		}
	}
	if token == "" || !strings.HasPrefix(placeholder, "kgph_") {
		t.Fatalf("the package's code got no placeholder (token %v)", token != "")
	}
	noteSensitive(token)
	return token, placeholder
}

// upstreamURL is the TLS upstream's URL for path.
func (pw *proxyWorld) upstreamURL(path string) string { return pw.up.URL + path }

// goClient is Go's net/http behind the proxy site, trusting keygate's CA.
func (pw *proxyWorld) goClient(t testing.TB, proxy string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(pw.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	pu, _ := url.Parse(proxy)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
}

// clientEnv is the environment a process behind the proxy site gets.
func (pw *proxyWorld) clientEnv(proxy string) []string {
	return []string{
		"HTTPS_PROXY=" + proxy, "https_proxy=" + proxy, "HTTP_PROXY=" + proxy, "http_proxy=" + proxy,
		"NO_PROXY=", "no_proxy=",
		"SSL_CERT_FILE=" + pw.caFile, "REQUESTS_CA_BUNDLE=" + pw.caFile, "CURL_CA_BUNDLE=" + pw.caFile,
		"NODE_EXTRA_CA_CERTS=" + pw.caFile, "NODE_USE_ENV_PROXY=1",
	}
}

// auditEvents returns the proxy events of the audit, newest first.
func (pw *proxyWorld) auditEvents(t testing.TB) []map[string]any {
	t.Helper()
	r := pw.in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil)
	var all []map[string]any
	if err := json.Unmarshal(r.Body, &all); err != nil {
		t.Fatalf("audit: %v", err)
	}
	var evs []map[string]any
	for _, e := range all {
		if a, _ := e["action"].(string); strings.HasPrefix(a, "proxy") {
			evs = append(evs, e)
		}
	}
	return evs
}
