package integration

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/sign"
)

// proxyUploadSites are a plain Caddy site that terminates TLS and
// reverse_proxies to the TLS sink, and the proxy site, both trusting the
// sink's CA.
const proxyUploadSites = `
https://127.0.0.1:{{index .Extra 0}} {
	bind 127.0.0.1
	tls CERT KEY
	reverse_proxy https://SINK {
		transport http {
			tls_trust_pool file CA
		}
	}
}

http://:{{index .Extra 1}} {
	bind 127.0.0.1
	keygate_proxy {
		upstream_ca CA
		allow_private_upstreams
		pass_hosts SINK
	}
}
`

// BenchmarkProxySigV4Upload sends a 64 MiB aws-chunked upload (64 KiB
// chunks, STREAMING-AWS4-HMAC-SHA256-PAYLOAD) to a TLS upstream (a sink
// that discards it, or versitygw, which verifies the chain as S3 does), through a plain Caddy site that terminates TLS and reverse_proxies
// (the client signing with the real key), and through the proxy site (the
// client signing with the placeholder pair: keygate verifies every chunk
// against the client's chain and signs it anew). The same bytes through
// the proxy site unsigned (a pass_hosts request: the tunnel's own cost,
// to the sink only) tell the signing's share. All in one keygate process; keygate's peak
// RSS is reported after the runs.
//
//	go test ./integration -run '^$' -bench ProxySigV4Upload -benchtime 6x
func BenchmarkProxySigV4Upload(b *testing.B) {
	dir := b.TempDir()
	caFile, certFile, keyFile, der, key := writeUpstreamCert(b, dir)
	b.Run("sink", func(b *testing.B) {
		sink := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
		}))
		sink.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
		sink.StartTLS()
		b.Cleanup(sink.Close)
		benchProxyUpload(b, dir, caFile, certFile, keyFile, strings.TrimPrefix(sink.URL, "https://"), "AKIDBENCH", "bench-secret", nil)
	})
	// versitygw over TLS verifies every chunk's signature as S3 does; the
	// object is read back once, outside the timed runs, so a refused or
	// garbled upload fails the benchmark.
	b.Run("versitygw", func(b *testing.B) {
		s3 := startVersity(b, certFile, keyFile)
		s3.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(b, caFile)}}}
		if st, _ := s3.direct(b, "PUT", "/bucket", s3.secret, nil); st != 200 {
			b.Fatalf("create bucket: %d", st)
		}
		check := func(b *testing.B, data []byte) {
			st, got := s3.direct(b, "GET", "/bucket/big", s3.secret, nil)
			if st != 200 || got != string(data) {
				b.Fatalf("the object on versitygw: status %d, %d bytes, want %d intact", st, len(got), len(data))
			}
			if st, _ := s3.direct(b, "DELETE", "/bucket/big", s3.secret, nil); st != 204 {
				b.Fatalf("delete: %d", st)
			}
		}
		benchProxyUpload(b, dir, caFile, certFile, keyFile, strings.TrimPrefix(s3.url, "https://"), s3.access, s3.secret, check)
	})
}

// benchProxyUpload runs the uploads against the TLS upstream at addr,
// whose real key is accessKey and secret; check, when set, is called
// after the first upload of each run to see the object arrived.
func benchProxyUpload(b *testing.B, dir, caFile, certFile, keyFile, addr, accessKey, secret string, check func(*testing.B, []byte)) {
	sites := strings.NewReplacer("CERT", certFile, "KEY", keyFile, "CA", caFile, "SINK", addr).Replace(proxyUploadSites)
	w := newWorld(b, Config{ExtraPorts: 2, ExtraSites: sites})
	addAWSKey(b, w, accessKey, secret)
	ph, phSecret := sigv4Pair(b, w)
	r := sendT(b, "GET", w.in.APIURL+"/v1/proxy/ca.pem", "", nil, nil)
	kgCA := filepath.Join(dir, "keygate-ca.pem")
	os.WriteFile(kgCA, r.Body, 0o644)

	const size, chunk = 64 << 20, 64 << 10
	data := bytes.Repeat([]byte("keygate upload. "), size/16)
	upload := func(c sign.Credentials, target string) (*http.Request, []byte) {
		return chunkedUpload(b, c, target+"/bucket/big", data, chunk)
	}
	put := func(b *testing.B, c *http.Client, proto *http.Request, body []byte) {
		r, _ := http.NewRequest("PUT", proto.URL.String(), bytes.NewReader(body))
		r.Header = proto.Header.Clone()
		r.ContentLength = proto.ContentLength
		res, err := c.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d: %s", res.StatusCode, redact(string(msg)))
		}
	}
	plainURL := fmt.Sprintf("https://127.0.0.1:%d", w.in.Ports.Extra[0])
	plainClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(b, caFile)}}}
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", w.in.Ports.Extra[1]))
	proxyClient := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: poolOf(b, kgCA)}}}
	plainReq, plainBody := upload(sign.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret}, plainURL)
	kgReq, kgBody := upload(sign.Credentials{AccessKeyID: ph, SecretAccessKey: phSecret}, "https://"+addr)
	// On a shared machine the wall time counts the waits for a core:
	// keygate's own CPU time per upload is reported beside it.
	run := func(b *testing.B, c *http.Client, r *http.Request, body []byte) {
		b.SetBytes(size)
		before := processCPU(b, w.in)
		n := 0
		for b.Loop() {
			put(b, c, r, body)
			if n == 0 && check != nil {
				b.StopTimer()
				check(b, data)
				b.StartTimer()
			}
			n++
		}
		b.ReportMetric(float64((processCPU(b, w.in)-before).Milliseconds())/float64(n), "keygate-cpu-ms/op")
	}
	b.Run("plain-caddy", func(b *testing.B) { run(b, plainClient, plainReq, plainBody) })
	if check == nil { // an S3 server refuses the unsigned upload
		b.Run("keygate-proxy-unsigned", func(b *testing.B) {
			r := kgReq.Clone(kgReq.Context())
			r.Header.Del("Authorization")
			run(b, proxyClient, r, kgBody)
		})
	}
	b.Run("keygate-proxy", func(b *testing.B) {
		run(b, proxyClient, kgReq, kgBody)
		b.ReportMetric(float64(peakRSS(b, w.in)), "peak-RSS-KiB")
	})
}

// processCPU is the keygate process's user and system CPU time so far
// (/proc/<pid>/stat, in clock ticks of 10 ms).
func processCPU(b *testing.B, in *Instance) time.Duration {
	in.mu.Lock()
	pid := in.cmd.Process.Pid
	in.mu.Unlock()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
