package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/sign"
)

// BenchmarkSigV4Upload sends a 64 MiB aws-chunked upload (64 KiB chunks,
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD) through a plain Caddy reverse_proxy
// and through keygate's sigv4 route, both in one keygate process, to the
// same upstream: a sink that discards the body (keygate's cost laid bare),
// or versitygw, which verifies the chain as S3 does (the plain route's
// client then signs with the real key). It reports keygate's peak RSS
// (VmHWM) after the runs: memory stays flat in the upload's size.
//
//	go test ./integration -run '^$' -bench SigV4Upload -benchtime 6x
func BenchmarkSigV4Upload(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(sink.Close)
	b.Run("sink", func(b *testing.B) {
		benchUpload(b, strings.TrimPrefix(sink.URL, "http://"), "AKIDBENCH", "bench-secret")
	})
	b.Run("versitygw", func(b *testing.B) {
		s3 := startVersity(b)
		if st, _ := s3.direct(b, "PUT", "/bucket", s3.secret, nil); st != 200 {
			b.Fatalf("create bucket: %d", st)
		}
		benchUpload(b, strings.TrimPrefix(s3.url, "http://"), s3.access, s3.secret)
	})
}

func benchUpload(b *testing.B, addr, accessKey, secret string) {
	sites := `
http://:{{index .Extra 0}} {
	bind 127.0.0.1
	reverse_proxy SINK
}

http://:{{index .Extra 1}} {
	bind 127.0.0.1
	reverse_proxy SINK {
		transport keygate {
			secret AWS
			sigv4 {
				service s3
				region us-east-1
			}
		}
	}
}
`
	w := newWorld(b, Config{ExtraPorts: 2, ExtraSites: strings.ReplaceAll(sites, "SINK", addr)})
	m := apiKeyManifest(w.pkgName, w.host, w.pkgCode.URL)
	m.Keys = append(m.Keys, keySpec{Name: "AWS", Required: true, Hosts: []string{"127.0.0.1"}})
	w.in.putPackage(b, m)
	w.in.grant(b, w.kc, w.pkgName, "API_KEY", "AWS")
	creds, _ := json.Marshal(map[string]string{"access_key_id": accessKey, "secret_access_key": secret})
	w.in.mustAPI(b, http.StatusNoContent, "PUT", "/v1/keychains/"+w.kc+"/secrets/AWS", map[string]any{"value": string(creds), "kind": "aws", "allowed_hosts": []string{"127.0.0.1"}})
	inv := w.in.mintInvocation(b, w.pkgCode, w.host, w.token)

	const size, chunk = 64 << 20, 64 << 10
	data := bytes.Repeat([]byte("keygate upload. "), size/16)
	// upload is the body and headers an SDK sends, signed with c for the
	// host it is sent to.
	upload := func(c sign.Credentials, port int) (*http.Request, []byte) {
		return chunkedUpload(b, c, "http://127.0.0.1:"+strconv.Itoa(port)+"/bucket/big", data, chunk)
	}
	put := func(b *testing.B, proto *http.Request, body []byte) {
		r, _ := http.NewRequest("PUT", proto.URL.String(), bytes.NewReader(body))
		r.Header = proto.Header.Clone()
		r.ContentLength = proto.ContentLength
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	plainReq, plainBody := upload(sign.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret}, w.in.Ports.Extra[0])
	kgReq, kgBody := upload(sign.Credentials{AccessKeyID: inv, SecretAccessKey: "client-secret"}, w.in.Ports.Extra[1])
	b.Run("plain-caddy", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			put(b, plainReq, plainBody)
		}
	})
	b.Run("keygate-sigv4", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			put(b, kgReq, kgBody)
		}
		b.ReportMetric(float64(peakRSS(b, w.in)), "peak-RSS-KiB")
	})
}

// chunkedUpload is the request and aws-chunked body an SDK sends to put
// data to u in chunks of chunk bytes, signed with c.
func chunkedUpload(b testing.TB, c sign.Credentials, u string, data []byte, chunk int) (*http.Request, []byte) {
	v4, _ := sign.NewSigV4("s3", "us-east-1")
	now := time.Now()
	r, _ := http.NewRequest("PUT", u, nil)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	r.ContentLength = sign.ChunkedLength(int64(len(data)), chunk)
	v4.Sign(r, c, sign.StreamingPayload, now)
	sg, _ := sign.ParseSigned(r)
	body, err := io.ReadAll(sign.NewChunkResigner(io.NopCloser(sign.FrameChunked(bytes.NewReader(data), chunk)), nil,
		sign.NewChain(c.SecretAccessKey, now, "us-east-1", "s3", sg.Signature), false, int64(len(data))))
	if err != nil {
		b.Fatal(err)
	}
	return r, body
}

// peakRSS is the keygate process's VmHWM in KiB.
func peakRSS(b *testing.B, in *Instance) int {
	in.mu.Lock()
	pid := in.cmd.Process.Pid
	in.mu.Unlock()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
