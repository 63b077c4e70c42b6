package integration

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/sign"
)

// proxySigV4Site is a proxy site that trusts the S3 server's CA.
const proxySigV4Site = `
http://:{{index .Extra 0}} {
	bind 127.0.0.1
	keygate_proxy {
		upstream_ca %s
		allow_private_upstreams
	}
}
`

// TestProxySigV4 drives the AWS CLI, boto3 and the AWS JS SDK (with
// global-agent preloaded), unmodified, behind the proxy site with nothing
// but their environment (keygate proxy env, and the key's placeholder
// pair as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) against a
// verifying S3 server over TLS: keygate checks each client signature
// with the placeholder secret and signs anew with the real key. Then an
// aws-chunked upload with its chunk chain, one whose chain breaks
// mid-way, and the refusals.
func TestProxySigV4(t *testing.T) {
	t.Parallel()
	caFile, certFile, keyFile, _, _ := writeUpstreamCert(t, t.TempDir())
	s3 := startVersity(t, certFile, keyFile)
	s3.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(t, caFile)}}}

	t.Run("the server verifies signatures", func(t *testing.T) {
		if st, body := s3.direct(t, "PUT", "/bucket", s3.secret, nil); st != 200 {
			t.Fatalf("create bucket: %d %s", st, body)
		}
		if st, body := s3.direct(t, "GET", "/bucket", "", nil); st != 403 {
			t.Fatalf("unsigned: %d %s", st, body)
		}
		if st, body := s3.direct(t, "GET", "/bucket", "wrong-secret", nil); st != 403 || !strings.Contains(body, "SignatureDoesNotMatch") {
			t.Fatalf("wrong secret: %d %s", st, body)
		}
	})

	w := newWorld(t, Config{ExtraPorts: 1, GlobalOptions: "debug\n\tlog {\n\t\tlevel DEBUG\n\t}", ExtraSites: fmt.Sprintf(proxySigV4Site, caFile)})
	proxy := "http://127.0.0.1:" + strconv.Itoa(w.in.Ports.Extra[0])
	addAWSKey(t, w, s3.access, s3.secret)

	ph, phSecret := sigv4Pair(t, w)
	_, otherSecret := sigv4Pair(t, w)
	env := append(proxyEnvVars(t, w, proxy), "PATH="+os.Getenv("PATH"), "AWS_ACCESS_KEY_ID="+ph, "AWS_SECRET_ACCESS_KEY="+phSecret)
	client := proxiedClient(t, proxy, env)
	c := newS3Clients(t, s3, client, env)
	t.Run("aws cli", func(t *testing.T) { c.awsCLI(t, s3.url) })
	t.Run("boto3", func(t *testing.T) { c.boto3(t, s3.url) })
	t.Run("aws-sdk js", func(t *testing.T) {
		// The SDK makes its own https.Agent and so ignores HTTPS_PROXY;
		// global-agent, preloaded, replaces it with one that tunnels
		// through the proxy with CONNECT.
		js := *c
		js.env = append(append([]string(nil), c.env...), "NODE_PATH="+strings.Join(jsModules(t, "global-agent@"+globalAgentVersion), ":"),
			"NODE_OPTIONS=-r global-agent/bootstrap", "GLOBAL_AGENT_HTTP_PROXY="+proxy)
		js.awsJS(t, s3.url)

		js.env = append(js.env, "AWS_SECRET_ACCESS_KEY="+phSecret+"x")
		out := js.run(t, time.Minute, "node", "-e", jsRefusedScript, s3.url)
		if strings.TrimSpace(out) != "403 bad_signature" {
			t.Fatalf("a wrong placeholder secret: %s", redact(out))
		}
		if _, err := os.Stat(filepath.Join(s3.root, "bucket", "js-wrong")); err == nil {
			t.Fatal("a put signed with a wrong placeholder secret reached the server")
		}
	})

	pair := sign.Credentials{AccessKeyID: ph, SecretAccessKey: phSecret}
	t.Run("aws-chunked uploads, the chain verified and signed anew", func(t *testing.T) {
		data := bytes.Repeat([]byte("keygate chunk chain "), 1<<18) // 5 MiB
		sum := sha256.Sum256(data)
		for _, trailer := range []bool{false, true} {
			name := fmt.Sprintf("go-chunked-%v", trailer)
			if st, body := signedChunkedPut(t, client, s3.url+"/bucket/"+name, pair, data, trailer, -1); st != 200 {
				t.Fatalf("trailer %v: %d %s", trailer, st, redact(body))
			}
			if got := fileSHA(t, filepath.Join(s3.root, "bucket", name)); got != hex.EncodeToString(sum[:]) {
				t.Fatalf("trailer %v: the upload arrived changed", trailer)
			}
		}
		// A chunk whose data no longer matches its signature: keygate
		// stops the body there, the upstream connection is cut, and the
		// object is not made.
		st, body := signedChunkedPut(t, client, s3.url+"/bucket/go-broken", pair, data, false, 40)
		if st != 0 && (st != 403 || !strings.Contains(body, "bad_signature")) {
			t.Fatalf("a broken chain: %d %s", st, redact(body))
		}
		if _, err := os.Stat(filepath.Join(s3.root, "bucket", "go-broken")); err == nil {
			t.Fatal("a broken chunk chain completed an object")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		v4, _ := sign.NewSigV4("s3", "us-east-1")
		put := func(key string, c sign.Credentials, at time.Time, host string) reply {
			r, _ := http.NewRequest("PUT", "https://"+host+"/bucket/"+key, strings.NewReader("x"))
			v4.Sign(r, c, sign.UnsignedPayload, at)
			return replyWith(t, client, r)
		}
		absent := func(key string) {
			t.Helper()
			if _, err := os.Stat(filepath.Join(s3.root, "bucket", key)); err == nil {
				t.Fatalf("%s reached the server", key)
			}
		}
		addr := strings.TrimPrefix(s3.url, "https://")
		wantProblem(t, "a wrong placeholder secret", put("wrong", sign.Credentials{AccessKeyID: ph, SecretAccessKey: phSecret + "x"}, time.Now(), addr), 403, "bad_signature")
		absent("wrong")
		wantProblem(t, "the secret of another call's placeholder", put("mixed", sign.Credentials{AccessKeyID: ph, SecretAccessKey: otherSecret}, time.Now(), addr), 403, "bad_signature")
		absent("mixed")
		wantProblem(t, "clock skew", put("skewed", pair, time.Now().Add(-20*time.Minute), addr), 403, "request_time_skewed")
		absent("skewed")
		_, port, _ := strings.Cut(addr, ":")
		wantProblem(t, "a host not allowed for the key", put("elsewhere", pair, time.Now(), "localhost:"+port), 403, "host_not_allowed")
		absent("elsewhere")
		forged := sign.Credentials{AccessKeyID: "kgph_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", SecretAccessKey: "x"}
		wantProblem(t, "a placeholder keygate did not mint", put("forged", forged, time.Now(), addr), 403, "placeholder_invalid")
		bad, _ := http.NewRequest("GET", s3.url+"/bucket", nil)
		bad.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+ph+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=nothex")
		bad.Header.Set("X-Amz-Date", "20260101T000000Z")
		wantProblem(t, "a malformed signature", replyWith(t, client, bad), 400, "malformed_signature")
		// The placeholder as a bearer value: never replaced by the pair.
		r, _ := http.NewRequest("GET", s3.url+"/bucket", nil)
		r.Header.Set("X-Api-Key", ph)
		wantProblem(t, "the access key id placeholder outside a signature", replyWith(t, client, r), 403, "placement_not_allowed")

		// The audit is written in batches: asked until it shows, for 10 s.
		found := false
		for i := 0; i < 100 && !found; i++ {
			for _, e := range auditOf(t, w) {
				found = found || e["action"] == "proxy" && e["reason"] == "bad_signature"
			}
			if !found {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !found {
			t.Error("no proxy audit event with reason bad_signature")
		}
	})

	// Neither the real secret, nor the placeholder pair, nor the token is
	// in any log.
	w.in.Stop()
	outputs := map[string]string{"process output": w.in.Logs()}
	AssertNotContains(t, "real secret access key", s3.secret, outputs)
	AssertNotContains(t, "placeholder secret", phSecret, outputs)
	AssertNotContains(t, "placeholder access key id", ph, outputs)
}

// globalAgentVersion pins global-agent, which puts Node's http and https
// behind the proxy from NODE_OPTIONS.
const globalAgentVersion = "4.1.6"

// jsRefusedScript puts one object with the SDK and prints the status the
// SDK was answered with (0 if none) and keygate's problem reason.
const jsRefusedScript = `
const { S3Client, PutObjectCommand } = require("@aws-sdk/client-s3");
const s3 = new S3Client({ endpoint: process.argv[1], region: "us-east-1", forcePathStyle: true, maxAttempts: 1 });
s3.send(new PutObjectCommand({ Bucket: "bucket", Key: "js-wrong", Body: "refused" }))
  .then(() => console.log("200"), (e) => {
    // keygate's problem+json is no S3 XML: the SDK keeps the raw body.
    let reason = "";
    try { reason = JSON.parse(e.$response.body).reason; } catch (_) {}
    console.log(((e.$metadata && e.$metadata.httpStatusCode) || 0) + " " + reason);
  });
`

// writeUpstreamCert writes upstreamCert's CA, certificate and key as PEM
// files into dir.
func writeUpstreamCert(t testing.TB, dir string) (caFile, certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	caDER, der, key := upstreamCert(t)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return caFile, certFile, keyFile, der, key
}

// addAWSKey makes the world's package request AWS, a key signed with
// sigv4 for S3, and sets it (kind aws, for 127.0.0.1).
func addAWSKey(t testing.TB, w *world, access, secret string) {
	t.Helper()
	m := apiKeyManifest(w.pkgName, w.host, w.pkgCode.URL)
	m.Keys = append(m.Keys, keySpec{Name: "AWS", Required: true, Description: "AWS credentials.", Hosts: []string{"127.0.0.1"},
		Placement: map[string]any{"sigv4": map[string]string{"service": "s3", "region": "us-east-1"}}})
	w.in.putPackage(t, m)
	w.in.grant(t, w.kc, w.pkgName, "API_KEY", "AWS")
	creds, _ := json.Marshal(map[string]string{"access_key_id": access, "secret_access_key": secret})
	w.in.MustCLI(string(creds), "secret", "set", w.kc, "AWS", "--kind", "aws", "--allow-host", "127.0.0.1")
}

// sigv4Pair makes an agent's call into the world's package and returns
// the AWS key's placeholder pair the package's code was handed.
func sigv4Pair(t testing.TB, w *world) (id, secret string) {
	t.Helper()
	path := "/call/" + RandomToken(t, "")
	if r := w.in.callIngress(t, w.host, w.token, "GET", path, nil); r.Status != http.StatusOK {
		t.Fatalf("ingress: %s", r)
	}
	for _, req := range w.pkgCode.Requests() {
		if req.Path == path {
			id, secret = req.Header.Get("Keygate-Placeholder-AWS"), req.Header.Get("Keygate-Sigv4-Secret-AWS")
		}
	}
	if !strings.HasPrefix(id, "kgph_") || !strings.HasPrefix(secret, "kgsk_") {
		t.Fatalf("the package's code got no placeholder pair (%v %v)", id != "", secret != "")
	}
	noteSensitive(secret)
	return id, secret
}

// proxyEnvVars is what keygate proxy env prints for proxy, but NO_PROXY
// (the S3 server is on 127.0.0.1).
func proxyEnvVars(t *testing.T, w *world, proxy string) []string {
	t.Helper()
	r := w.in.MustCLI("", "proxy", "env", "--proxy", proxy, "--dir", t.TempDir())
	var env []string
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	for sc.Scan() {
		line, _ := strings.CutPrefix(sc.Text(), "export ")
		k, v, _ := strings.Cut(line, "=")
		if k != "NO_PROXY" && k != "no_proxy" {
			env = append(env, k+"="+strings.Trim(v, "'"))
		}
	}
	return env
}

// proxiedClient is Go's net/http behind the proxy, trusting what
// AWS_CA_BUNDLE of env names.
func proxiedClient(t *testing.T, proxy string, env []string) *http.Client {
	t.Helper()
	var bundle string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "AWS_CA_BUNDLE="); ok {
			bundle = v
		}
	}
	pu, _ := url.Parse(proxy)
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{Proxy: http.ProxyURL(pu),
		TLSClientConfig: &tls.Config{RootCAs: poolOf(t, bundle)}, ForceAttemptHTTP2: true}}
}

func poolOf(t testing.TB, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", filepath.Base(file))
	}
	return pool
}

func replyWith(t *testing.T, c *http.Client, r *http.Request) reply {
	t.Helper()
	res, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{Status: res.StatusCode, Header: res.Header, Body: b}
}

// signedChunkedPut uploads data as an SDK signs an aws-chunked body, with
// the pair c: STREAMING-AWS4-HMAC-SHA256-PAYLOAD in 64 KiB chunks (with a
// CRC32 trailer and its signature when trailer is set). breakAt > 0
// changes a byte of that chunk's data after signing. A cut connection
// gives status 0.
func signedChunkedPut(t *testing.T, c *http.Client, u string, creds sign.Credentials, data []byte, trailer bool, breakAt int) (int, string) {
	t.Helper()
	const chunk = 64 << 10
	r, _ := http.NewRequest("PUT", u, nil)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	payload := sign.StreamingPayload
	var framed []byte
	if trailer {
		payload = sign.StreamingPayloadTrailer
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		framed = trailerFramed(data, chunk, false)
	} else {
		framed, _ = io.ReadAll(sign.FrameChunked(bytes.NewReader(data), chunk))
	}
	r.ContentLength = int64(len(framed))
	now := time.Now()
	v4, _ := sign.NewSigV4("s3", "us-east-1")
	if err := v4.Sign(r, creds, payload, now); err != nil {
		t.Fatal(err)
	}
	sg, _ := sign.ParseSigned(r)
	body, err := io.ReadAll(sign.NewChunkResigner(io.NopCloser(bytes.NewReader(framed)), nil,
		sign.NewChain(creds.SecretAccessKey, now, "us-east-1", "s3", sg.Signature), trailer, int64(len(data))))
	if err != nil {
		t.Fatal(err)
	}
	if breakAt > 0 {
		body[breakAt*(chunk+90)+200] ^= 1 // inside that chunk's data
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.Close = breakAt > 0
	res, err := c.Do(r)
	if err != nil {
		if breakAt > 0 {
			return 0, err.Error()
		}
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// auditOf is the world's audit, newest first.
func auditOf(t *testing.T, w *world) []map[string]any {
	t.Helper()
	r := w.in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil)
	var all []map[string]any
	if err := json.Unmarshal(r.Body, &all); err != nil {
		t.Fatalf("audit: %v", err)
	}
	return all
}

// TestProxySigV4Dev runs README.md's proxy-site example as written, but
// for the S3 server's address and credentials: keygate dev -- aws s3 ls,
// the AWS CLI signing with the placeholder pair keygate dev put in
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, over HTTP_PROXY to a
// plain-HTTP S3 server that verifies signatures.
func TestProxySigV4Dev(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("aws"); err != nil {
		skipUnlessCI(t, "the AWS CLI (Debian awscli) is not installed")
	}
	s3 := startVersity(t)
	if st, body := s3.direct(t, "PUT", "/bucket", s3.secret, nil); st != 200 {
		t.Fatalf("create bucket: %d %s", st, body)
	}
	if st, body := s3.direct(t, "PUT", "/bucket/from-readme.txt", s3.secret, []byte("hi")); st != 200 {
		t.Fatalf("put: %d %s", st, body)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, _ := os.ReadFile(filepath.Join(root, "README.md"))
	_, section, _ := strings.Cut(string(readme), "**AWS behind the proxy site.**")
	_, manifest, _ := strings.Cut(section, "cat > /tmp/s3-demo.json <<'EOF'\n")
	manifest, _, _ = strings.Cut(manifest, "EOF\n")
	_, cmdline, _ := strings.Cut(section, "  aws ")
	cmdline, _, _ = strings.Cut(cmdline, "\n")
	if !strings.Contains(manifest, "127.0.0.1:7070") || !strings.Contains(cmdline, "http://127.0.0.1:7070") {
		t.Fatal(`README.md's "AWS behind the proxy site" has no manifest or aws command for 127.0.0.1:7070`)
	}
	addr := strings.TrimPrefix(s3.url, "http://")
	m := filepath.Join(t.TempDir(), "s3-demo.json")
	os.WriteFile(m, []byte(strings.ReplaceAll(manifest, "127.0.0.1:7070", addr)), 0o600)
	creds, _ := json.Marshal(map[string]string{"access_key_id": s3.access, "secret_access_key": s3.secret})
	home := t.TempDir()
	args := append([]string{"--manifest", m, "--", "aws"}, strings.Fields(strings.ReplaceAll(cmdline, "127.0.0.1:7070", addr))...)
	dev := startDev(t, []string{"KEYGATE_SECRET_AWS=" + string(creds), "AWS_CONFIG_FILE=" + filepath.Join(home, "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"), "AWS_EC2_METADATA_DISABLED=true"}, args...)
	if code := dev.wait(); code != 0 {
		t.Fatalf("keygate dev -- aws exited %d: %s %s", code, redact(dev.out.String()), redact(dev.errs.String()))
	}
	if !strings.Contains(dev.out.String(), "from-readme.txt") {
		t.Fatalf("aws s3 ls: %s", redact(dev.out.String()))
	}
	AssertNotContains(t, "real secret access key", s3.secret, map[string]string{"stdout": dev.out.String(), "stderr": dev.errs.String()})
}
