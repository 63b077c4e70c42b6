package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/sign"
)

// versitygwVersion is the S3 server the SigV4 tests talk to: it verifies
// every signature, chunk chains included. It is a test peer, built from
// the Go module proxy into the run's own directory, not a dependency.
const versitygwVersion = "v1.8.0"

// s3Server is a running versitygw serving a directory.
type s3Server struct {
	url, root      string
	access, secret string
	client         *http.Client // trusts its certificate when it serves TLS
}

// startVersity builds versitygw (or skips when the module proxy cannot
// be reached, unless CI=true) and serves a fresh directory with it; tls
// (a certificate and key file) makes it serve HTTPS.
func startVersity(t testing.TB, tls ...string) *s3Server {
	t.Helper()
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "install", "github.com/versity/versitygw/cmd/versitygw@"+versitygwVersion)
	cmd.Dir = bin // outside the module: go.mod is not touched
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go install versitygw: %v: %s", err, tail(string(out), 2000))
		}
		t.Skipf("versitygw could not be built (module proxy unreachable?): %v", err)
	}
	s := &s3Server{root: t.TempDir(), access: "AKIAKEYGATEREAL01", secret: RandomToken(t, "real/secret+"), client: http.DefaultClient}
	noteSensitive(s.secret)
	port := FreePorts(t, 1)[0]
	s.url = "http://127.0.0.1:" + strconv.Itoa(port)
	args := []string{"--port", "127.0.0.1:" + strconv.Itoa(port)}
	if len(tls) == 2 {
		s.url = "https://127.0.0.1:" + strconv.Itoa(port)
		args = append(args, "--cert", tls[0], "--key", tls[1])
	}
	srv := exec.Command(filepath.Join(bin, "versitygw"), append(args, "posix", s.root)...)
	srv.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.access, "ROOT_SECRET_KEY="+s.secret)
	var out syncBuffer
	srv.Stdout, srv.Stderr = &out, &out
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for !dialOK("http://127.0.0.1:" + strconv.Itoa(port)) {
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen: %s", tail(out.String(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// direct sends a request straight to the S3 server, signed with secret
// ("" leaves it unsigned).
func (s *s3Server) direct(t testing.TB, method, path, secret string, body []byte) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if secret != "" {
		sum := sha256.Sum256(body)
		v4, _ := sign.NewSigV4("s3", "us-east-1")
		if err := v4.Sign(r, sign.Credentials{AccessKeyID: s.access, SecretAccessKey: secret}, hex.EncodeToString(sum[:]), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// fileSHA is the SHA-256 of a file, as hex.
func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// readmeSigV4Site is the route of the README's "Signed APIs", to the S3
// server at addr, on the first extra port, with an access log.
func readmeSigV4Site(t *testing.T, addr string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Signed APIs")
	_, block, ok := strings.Cut(section, "```caddyfile\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok || !strings.Contains(block, "127.0.0.1:7070") || !strings.Contains(block, "http://:8083") {
		t.Fatal(`README.md's "Signed APIs" has no route to 127.0.0.1:7070 on :8083`)
	}
	return strings.NewReplacer("127.0.0.1:7070", addr, "http://:8083", "http://:{{index .Extra 0}}",
		"\tbind 127.0.0.1\n", "\tbind 127.0.0.1\n\tlog {\n\t\toutput file {{.Dir}}/access-s3.log\n\t}\n").Replace(block)
}

// plainSecretSite signs for S3 with a secret (API_KEY) that is a plain
// value.
const plainSecretSite = `
http://:{{index .Extra 1}} {
	bind 127.0.0.1
	reverse_proxy S3ADDR {
		transport keygate {
			secret API_KEY
			sigv4 {
				service s3
				region us-east-1
			}
		}
	}
}
`

// TestSigV4 drives the AWS CLI, boto3 and @aws-sdk/client-s3, unmodified
// but for their endpoint and credentials (the invocation token as access
// key id, any secret), through a sigv4 egress route to a verifying S3
// server; then a signed aws-chunked upload, a chunk stream cut mid-way,
// and the refusals.
func TestSigV4(t *testing.T) {
	t.Parallel()
	s3 := startVersity(t)

	t.Run("the server verifies signatures", func(t *testing.T) {
		if st, _ := s3.direct(t, "PUT", "/bucket", s3.secret, nil); st != 200 {
			t.Fatalf("create bucket: %d", st)
		}
		if st, body := s3.direct(t, "GET", "/bucket", "", nil); st != 403 {
			t.Fatalf("unsigned: %d %s", st, body)
		}
		if st, body := s3.direct(t, "GET", "/bucket", "wrong-secret", nil); st != 403 || !strings.Contains(body, "SignatureDoesNotMatch") {
			t.Fatalf("wrong secret: %d %s", st, body)
		}
		if st, body := s3.direct(t, "GET", "/bucket", s3.secret, nil); st != 200 {
			t.Fatalf("right secret: %d %s", st, body)
		}
	})

	addr := strings.TrimPrefix(s3.url, "http://")
	// At DEBUG, so that reverse_proxy's lines are scanned for leaks too.
	w := newWorld(t, Config{ExtraPorts: 2, GlobalOptions: "debug\n\tlog {\n\t\tlevel DEBUG\n\t}",
		ExtraSites: readmeSigV4Site(t, addr) + strings.ReplaceAll(plainSecretSite, "S3ADDR", addr)})
	m := apiKeyManifest(w.pkgName, w.host, w.pkgCode.URL)
	m.Keys = append(m.Keys, keySpec{Name: "AWS", Required: true, Description: "AWS credentials.", Hosts: []string{"127.0.0.1"}})
	w.in.putPackage(t, m)
	w.in.grant(t, w.kc, w.pkgName, "API_KEY", "AWS")

	t.Run("the aws secret is checked when set", func(t *testing.T) {
		r := w.in.CLI(`{"access_key_id":"AKIA","secret_access_key":"leaky value"}`, "secret", "set", w.kc, "AWS", "--kind", "aws", "--allow-host", "127.0.0.1")
		if r.Code == 0 || !strings.Contains(r.Stderr, "value.secret_access_key") || strings.Contains(r.Stdout+r.Stderr, "leaky") {
			t.Fatalf("bad value: %s", r)
		}
		r = w.in.CLI("x", "secret", "set", w.kc, "AWS", "--kind", "gcp")
		if r.Code == 0 || !strings.Contains(r.Stderr, "--kind") {
			t.Fatalf("bad kind: %s", r)
		}
		creds, _ := json.Marshal(map[string]string{"access_key_id": s3.access, "secret_access_key": s3.secret})
		// As README.md's "Signed APIs" says.
		w.in.MustCLI(string(creds), "secret", "set", w.kc, "AWS", "--kind", "aws", "--allow-host", "127.0.0.1")
	})

	inv := w.in.mintInvocation(t, w.pkgCode, w.host, w.token)
	endpoint := "http://127.0.0.1:" + strconv.Itoa(w.in.Ports.Extra[0])
	c := newS3Clients(t, s3, http.DefaultClient, append(os.Environ(), "AWS_ACCESS_KEY_ID="+inv, "AWS_SECRET_ACCESS_KEY=not-the-real-secret"))
	t.Run("aws cli", func(t *testing.T) { c.awsCLI(t, endpoint) })
	t.Run("boto3", func(t *testing.T) { c.boto3(t, endpoint) })
	t.Run("aws-sdk js", func(t *testing.T) {
		c.env = append(c.env, "NODE_PATH="+strings.Join(jsModules(t), ":"))
		c.awsJS(t, endpoint)
	})

	t.Run("signed aws-chunked upload", func(t *testing.T) {
		data := bytes.Repeat([]byte("keygate chunk chain "), 1<<18) // 5 MiB
		st, body := chunkedPut(t, endpoint, inv, "go-chunked", data, -1)
		if st != 200 {
			t.Fatalf("%d %s", st, redact(body))
		}
		sum := sha256.Sum256(data)
		if got := fileSHA(t, filepath.Join(s3.root, "bucket", "go-chunked")); got != hex.EncodeToString(sum[:]) {
			t.Fatal("the chunked upload arrived changed")
		}
		// A chunk whose framing breaks mid-stream makes keygate's reader
		// fail: the upstream connection is cut and the object is not made.
		chunkedPut(t, endpoint, inv, "go-broken", data, 40)
		if _, err := os.Stat(filepath.Join(s3.root, "bucket", "go-broken")); err == nil {
			t.Fatal("a broken chunk stream completed an object")
		}
	})

	t.Run("signed aws-chunked upload with a checksum trailer", func(t *testing.T) {
		data := bytes.Repeat([]byte("trailer "), 40000) // 320000 bytes
		st, body := trailerPut(t, endpoint, inv, "go-trailer", data, false)
		if st != 200 {
			t.Fatalf("%d %s", st, redact(body))
		}
		// The server checks the trailer: a wrong checksum, signed all the
		// same, is refused.
		if st, body := trailerPut(t, endpoint, inv, "go-trailer-bad", data, true); st == 200 {
			t.Fatalf("a wrong trailer checksum was accepted: %s", redact(body))
		}
		sum := sha256.Sum256(data)
		if got := fileSHA(t, filepath.Join(s3.root, "bucket", "go-trailer")); got != hex.EncodeToString(sum[:]) {
			t.Fatal("the upload with a trailer arrived changed")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		v4, _ := sign.NewSigV4("s3", "us-east-1")
		client := sign.Credentials{AccessKeyID: inv, SecretAccessKey: "whatever"}
		skewed, _ := http.NewRequest("GET", endpoint+"/bucket", nil)
		v4.Sign(skewed, client, sign.EmptyPayload, time.Now().Add(-20*time.Minute))
		wantProblem(t, "clock skew", replyOf(t, skewed), 403, "request_time_skewed")

		sigv2, _ := http.NewRequest("GET", endpoint+"/bucket/cli-small.txt?AWSAccessKeyId="+inv+"&Expires=9999999999&Signature=abc", nil)
		wantProblem(t, "a SigV2 presigned URL", replyOf(t, sigv2), 401, "unauthorized")

		plain, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(w.in.Ports.Extra[1])+"/bucket", nil)
		v4.Sign(plain, client, sign.EmptyPayload, time.Now())
		wantProblem(t, "a plain secret on a sigv4 route", replyOf(t, plain), 403, "wrong_secret_kind")

		// Bad options in the Caddyfile: the reload is refused, naming the
		// option, and the running config stays.
		for opt, want := range map[string]string{
			"sigv4 {\n\t\t\t\tservice s3\n\t\t\t}":                               "region",
			"sigv4 {\n\t\t\t\tservice S3\n\t\t\t\tregion us-east-1\n\t\t\t}":     "lowercase",
			"hmac {\n\t\t\t\tmessage \"{nope}\"\n\t\t\t\theader X-Sig\n\t\t\t}":  "placeholders",
			"hmac {\n\t\t\t\tmessage \"{body}\"\n\t\t\t\talgorithm md5\n\t\t\t}": "algorithm",
		} {
			cfg := w.in.Config
			cfg.TransportOptions = opt
			f := filepath.Join(t.TempDir(), "Caddyfile")
			os.WriteFile(f, []byte(w.in.RenderCaddyfile(cfg)), 0o600)
			r := RunBinary(t, w.in.Env, "", "reload", "--config", f, "--adapter", "caddyfile", "--address", w.in.AdminAddr)
			if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, want) {
				t.Errorf("reload with %q: %s", opt, r)
			}
		}
		w.healthy(t)
	})

	// Neither the real secret nor the token (the clients' access key id,
	// in Authorization and in presigned URLs) is in any log.
	w.in.Stop()
	outputs := map[string]string{"process output": w.in.Logs()}
	logs, _ := filepath.Glob(filepath.Join(w.in.Dir, "*.log"))
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		outputs[filepath.Base(f)] = string(b)
	}
	if !strings.Contains(outputs["access-s3.log"], "X-Amz-Credential=REDACTED") {
		t.Error("the S3 site's access log has no presigned GET with its credential redacted")
	}
	AssertNotContains(t, "real secret access key", s3.secret, outputs)
	AssertNotContains(t, "invocation token", inv, outputs)
}

// s3Clients runs the AWS CLI and boto3 against an S3 endpoint with env
// (their credentials, and for the proxy site its environment) and checks
// what arrived in the S3 server's directory.
type s3Clients struct {
	s3          *s3Server
	env         []string
	big, bigSHA string       // a 64 MiB file to upload
	fetch       *http.Client // fetches presigned URLs
}

func newS3Clients(t *testing.T, s3 *s3Server, fetch *http.Client, env []string) *s3Clients {
	t.Helper()
	c := &s3Clients{s3: s3, fetch: fetch, big: filepath.Join(t.TempDir(), "big.bin")}
	writeRandom(t, c.big, 64<<20)
	c.bigSHA = fileSHA(t, c.big)
	home := t.TempDir()
	// The CLI presigns with SigV2 unless told s3v4.
	awsConfig := filepath.Join(home, "config")
	os.WriteFile(awsConfig, []byte("[default]\ns3 =\n    signature_version = s3v4\n    addressing_style = path\n"), 0o600)
	c.env = append(env, "AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "HOME="+home,
		"AWS_CONFIG_FILE="+awsConfig, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"))
	return c
}

func (c *s3Clients) run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = c.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, redact(strings.Join(args, " ")), err, redact(tail(stderr.String(), 2000)))
	}
	return string(out)
}

func (c *s3Clients) presignedGet(t *testing.T, url, want string) {
	t.Helper()
	res, err := c.fetch.Get(strings.TrimSpace(url))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != want {
		t.Fatalf("presigned GET: %d %s", res.StatusCode, redact(string(b)))
	}
}

// intact checks that key holds the 64 MiB file as it was sent.
func (c *s3Clients) intact(t *testing.T, key string) {
	t.Helper()
	if got := fileSHA(t, filepath.Join(c.s3.root, "bucket", key)); got != c.bigSHA {
		t.Fatalf("%s arrived changed", key)
	}
}

// awsCLI: put, get, list, the 64 MiB upload, a presigned GET.
func (c *s3Clients) awsCLI(t *testing.T, endpoint string) {
	if _, err := exec.LookPath("aws"); err != nil {
		skipUnlessCI(t, "the AWS CLI (Debian awscli) is not installed")
	}
	small := filepath.Join(t.TempDir(), "small.txt")
	os.WriteFile(small, []byte("hello from the aws cli"), 0o644)
	ep := []string{"--endpoint-url", endpoint}
	c.run(t, time.Minute, "aws", append(ep, "s3", "cp", small, "s3://bucket/cli-small.txt")...)
	if got := c.run(t, time.Minute, "aws", append(ep, "s3", "cp", "s3://bucket/cli-small.txt", "-")...); got != "hello from the aws cli" {
		t.Fatalf("get: %q", got)
	}
	// README.md's command.
	if got := c.run(t, time.Minute, "aws", append(ep, "s3", "ls", "s3://bucket/")...); !strings.Contains(got, "cli-small.txt") {
		t.Fatalf("list: %s", got)
	}
	c.run(t, 5*time.Minute, "aws", append(ep, "s3", "cp", c.big, "s3://bucket/cli-big")...)
	c.intact(t, "cli-big")
	url := c.run(t, time.Minute, "aws", append(ep, "s3", "presign", "s3://bucket/cli-small.txt", "--expires-in", "300")...)
	c.presignedGet(t, url, "hello from the aws cli")
}

// boto3 runs boto3Script, which fetches its presigned URL with urllib
// (through HTTPS_PROXY where it is set).
func (c *s3Clients) boto3(t *testing.T, endpoint string) {
	if exec.Command("/usr/bin/python3", "-c", "import boto3").Run() != nil {
		skipUnlessCI(t, "boto3 (Debian python3-boto3) is not installed")
	}
	out := c.run(t, 5*time.Minute, "/usr/bin/python3", "-c", boto3Script, endpoint, c.big)
	var got struct{ Text, Presigned string }
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Text != "hello from boto3" || got.Presigned != "hello from boto3" {
		t.Fatalf("boto3: %v %s", err, redact(out))
	}
	c.intact(t, "py-big")
}

// jsSDKVersion pins @aws-sdk/client-s3 and @aws-sdk/s3-request-presigner.
const jsSDKVersion = "3.1178.0"

// jsModules installs the AWS JS SDK's S3 client and presigner (and the
// further pinned packages, pkg@version) and returns their node_modules
// directories, for NODE_PATH.
func jsModules(t *testing.T, more ...string) []string {
	t.Helper()
	pkgs := append([]string{"@aws-sdk/client-s3@" + jsSDKVersion, "@aws-sdk/s3-request-presigner@" + jsSDKVersion}, more...)
	var dirs []string
	for _, p := range pkgs {
		at := strings.LastIndex(p, "@")
		dirs = append(dirs, filepath.Join(npmInstall(t, p[:at], p[at+1:]), "node_modules"))
	}
	return dirs
}

// awsJS runs jsScript: put, get, list, the 64 MiB upload, a presigned GET.
func (c *s3Clients) awsJS(t *testing.T, endpoint string) {
	t.Helper()
	out := c.run(t, 5*time.Minute, "node", "-e", jsScript, endpoint, c.big)
	var got struct {
		Text, Presigned, BigPayload string
		Keys                        []string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Text != "hello from js" || got.Presigned != "hello from js" {
		t.Fatalf("js: %v %s", err, redact(out))
	}
	// The SDK's default: aws-chunked with a checksum trailer.
	if !strings.HasPrefix(got.BigPayload, "STREAMING-") {
		t.Fatalf("the big upload was not streamed: %q", got.BigPayload)
	}
	c.intact(t, "js-big")
}

const boto3Script = `
import boto3, json, sys, urllib.request
from botocore.config import Config
endpoint, big = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
s3.put_object(Bucket="bucket", Key="py-small.txt", Body=b"hello from boto3")
text = s3.get_object(Bucket="bucket", Key="py-small.txt")["Body"].read().decode()
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bucket").get("Contents", [])]
assert "py-small.txt" in keys, keys
with open(big, "rb") as f:
    s3.put_object(Bucket="bucket", Key="py-big", Body=f)
url = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "py-small.txt"}, ExpiresIn=300)
presigned = urllib.request.urlopen(url).read().decode()
print(json.dumps({"text": text, "presigned": presigned}))
`

const jsScript = `
const { S3Client, ListObjectsV2Command, PutObjectCommand, GetObjectCommand } = require("@aws-sdk/client-s3");
const { getSignedUrl } = require("@aws-sdk/s3-request-presigner");
const fs = require("fs");
const [endpoint, big] = process.argv.slice(1);
const s3 = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true });
// Only looks: the payload mode the SDK chose for the big upload, as sent.
let bigPayload;
s3.middlewareStack.add((next) => async (args) => {
  if (args.input.Key === "js-big") bigPayload = args.request.headers["x-amz-content-sha256"];
  return next(args);
}, { step: "deserialize" });
(async () => {
  await s3.send(new PutObjectCommand({ Bucket: "bucket", Key: "js-small.txt", Body: "hello from js" }));
  const got = await s3.send(new GetObjectCommand({ Bucket: "bucket", Key: "js-small.txt" }));
  const text = await got.Body.transformToString();
  const list = await s3.send(new ListObjectsV2Command({ Bucket: "bucket" }));
  const keys = list.Contents.map((o) => o.Key);
  if (!keys.includes("js-small.txt")) throw new Error("not listed");
  await s3.send(new PutObjectCommand({ Bucket: "bucket", Key: "js-big", Body: fs.createReadStream(big), ContentLength: fs.statSync(big).size }));
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: "bucket", Key: "js-small.txt" }), { expiresIn: 300 });
  // With http(s).get, not fetch: global-agent puts the former behind a proxy.
  const presigned = await new Promise((resolve, reject) => {
    require(url.startsWith("https:") ? "https" : "http").get(url, (res) => {
      let b = "";
      res.on("data", (d) => (b += d));
      res.on("end", () => (res.statusCode === 200 ? resolve(b) : reject(new Error("presigned GET: " + res.statusCode + " " + b))));
    }).on("error", reject);
  });
  console.log(JSON.stringify({ text, keys, presigned, bigPayload }));
})().catch((e) => { console.error(e.name + ": " + e.message); process.exit(1); });
`

// chunkedPut uploads data as a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body in
// 64 KiB chunks, signed as an SDK signs it (the token as key id, a secret
// keygate does not know). breakAt > 0 garbles that chunk's header.
func chunkedPut(t *testing.T, endpoint, inv, key string, data []byte, breakAt int) (int, string) {
	t.Helper()
	const chunk = 64 << 10
	r, _ := http.NewRequest("PUT", endpoint+"/bucket/"+key, nil)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	r.ContentLength = sign.ChunkedLength(int64(len(data)), chunk)
	now := time.Now()
	v4, _ := sign.NewSigV4("s3", "us-east-1")
	client := sign.Credentials{AccessKeyID: inv, SecretAccessKey: "client-side-secret"}
	if err := v4.Sign(r, client, sign.StreamingPayload, now); err != nil {
		t.Fatal(err)
	}
	sg, _ := sign.ParseSigned(r)
	framed, _ := io.ReadAll(sign.FrameChunked(bytes.NewReader(data), chunk))
	body, err := io.ReadAll(sign.NewChunkResigner(io.NopCloser(bytes.NewReader(framed)), nil,
		sign.NewChain(client.SecretAccessKey, now, "us-east-1", "s3", sg.Signature), false, int64(len(data))))
	if err != nil {
		t.Fatal(err)
	}
	if breakAt > 0 {
		at := breakAt * (chunk + 90) // each full chunk's frame is 90 bytes more than its data
		copy(body[at:], "zz")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// A refused upload leaves the rest of its body unread on the
	// connection: it must not be reused.
	r.Close = breakAt > 0
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		if breakAt > 0 {
			return 0, err.Error()
		}
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if breakAt > 0 && res.StatusCode == 200 {
		t.Fatalf("a broken chunk stream was answered 200: %s", redact(string(b)))
	}
	return res.StatusCode, string(b)
}

// trailerPut uploads data as STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
// in 64 KiB chunks with a CRC32 checksum trailer (wrong with badCRC),
// signed as an SDK signs it with the token as key id.
func trailerPut(t *testing.T, endpoint, inv, key string, data []byte, badCRC bool) (int, string) {
	t.Helper()
	const chunk = 64 << 10
	framed := bytes.NewBuffer(trailerFramed(data, chunk, badCRC))
	r, _ := http.NewRequest("PUT", endpoint+"/bucket/"+key, nil)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	r.ContentLength = int64(framed.Len())
	now := time.Now()
	v4, _ := sign.NewSigV4("s3", "us-east-1")
	client := sign.Credentials{AccessKeyID: inv, SecretAccessKey: "client-side-secret"}
	if err := v4.Sign(r, client, sign.StreamingPayloadTrailer, now); err != nil {
		t.Fatal(err)
	}
	sg, _ := sign.ParseSigned(r)
	body, err := io.ReadAll(sign.NewChunkResigner(io.NopCloser(framed), nil,
		sign.NewChain(client.SecretAccessKey, now, "us-east-1", "s3", sg.Signature), true, int64(len(data))))
	if err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// trailerFramed frames data in chunks with a CRC32 checksum trailer
// (wrong with badCRC), every signature zeros for a ChunkResigner to fill.
func trailerFramed(data []byte, chunk int, badCRC bool) []byte {
	zero := strings.Repeat("0", 64)
	var framed bytes.Buffer
	for off := 0; off < len(data); off += chunk {
		part := data[off:min(off+chunk, len(data))]
		fmt.Fprintf(&framed, "%x;chunk-signature=%s\r\n%s\r\n", len(part), zero, part)
	}
	crc := make([]byte, 4)
	binary.BigEndian.PutUint32(crc, crc32.ChecksumIEEE(data))
	if badCRC {
		crc[0] ^= 0xff
	}
	fmt.Fprintf(&framed, "0;chunk-signature=%s\r\nx-amz-checksum-crc32:%s\r\nx-amz-trailer-signature:%s\r\n\r\n", zero, base64.StdEncoding.EncodeToString(crc), zero)
	return framed.Bytes()
}

// replyOf sends r and reads the answer.
func replyOf(t *testing.T, r *http.Request) reply {
	t.Helper()
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{Status: res.StatusCode, Header: res.Header, Body: b}
}

// writeRandom writes n pseudo-random bytes to path.
func writeRandom(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{'k', 'e', 'y', 'g', 'a', 't', 'e'})
	if _, err := io.CopyN(f, rng, int64(n)); err != nil {
		t.Fatal(err)
	}
}
