package sign

import (
	"bytes"
	"io"
	"syscall"
	"testing"
	"time"
)

// cpuPerOp reports the process's CPU time per iteration beside the wall
// time: on a shared machine the wall time counts the waits for a core.
func cpuPerOp(b *testing.B, loop func()) {
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	n := 0
	for b.Loop() {
		loop()
		n++
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
}

// BenchmarkResignHeader is the proxy mode's work on a header-signed S3
// PUT: parse the client's signature, verify it with the placeholder
// secret, re-sign with the real key (verify+resign); egress mode's, which
// re-signs without verifying (resign); and the SDK's signing of a whole
// request, for comparison (sign).
//
//	go test ./sign -run '^$' -bench ResignHeader -benchtime 2s
func BenchmarkResignHeader(b *testing.B) {
	s := mustSigV4(b, "s3", "us-east-1")
	placeholder := Credentials{AccessKeyID: "AKIDPLACEHOLDER", SecretAccessKey: "placeholder"}
	now := time.Now()
	base := newReq(b, "PUT", "http://127.0.0.1:9000/bucket/key.txt?x-id=PutObject")
	base.Header.Set("Content-Type", "application/octet-stream")
	base.Header.Set("User-Agent", "aws-sdk-go-v2/1.0")
	base.ContentLength = 1024
	if err := s.Sign(base, placeholder, UnsignedPayload, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.Run("verify+resign", func(b *testing.B) {
		cpuPerOp(b, func() {
			r := *base
			r.Header = base.Header.Clone()
			sg, err := ParseSigned(&r)
			if err != nil {
				b.Fatal(err)
			}
			if err := sg.Verify(&r, placeholder.SecretAccessKey, now); err != nil {
				b.Fatal(err)
			}
			if err := s.Resign(&r, sg, exampleCreds, ""); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("resign", func(b *testing.B) {
		cpuPerOp(b, func() {
			r := *base
			r.Header = base.Header.Clone()
			sg, err := ParseSigned(&r)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Resign(&r, sg, exampleCreds, ""); err != nil {
				b.Fatal(err)
			}
		})
	})
	// What every case above pays before signing: the copy of the
	// request a proxy makes anyway.
	b.Run("copy", func(b *testing.B) {
		cpuPerOp(b, func() {
			r := *base
			r.Header = base.Header.Clone()
		})
	})
	b.Run("sign", func(b *testing.B) {
		cpuPerOp(b, func() {
			r := *base
			r.Header = base.Header.Clone()
			if err := s.Sign(&r, exampleCreds, UnsignedPayload, now); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkChunkResigner streams a 64 MiB aws-chunked upload (64 KiB
// chunks) through the re-signer, against a plain copy of the same bytes.
// Its allocations are one chunk's buffer, whatever the upload's size.
func BenchmarkChunkResigner(b *testing.B) {
	const size, chunk = 64 << 20, 64 << 10
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	framed, _ := io.ReadAll(FrameChunked(bytes.NewReader(data), chunk))
	body, err := io.ReadAll(NewChunkResigner(io.NopCloser(bytes.NewReader(framed)), nil, exampleChain(exampleSeed), false, size))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			io.CopyBuffer(io.Discard, onlyReader{bytes.NewReader(body)}, buf)
		}
	})
	b.Run("resign", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r := NewChunkResigner(io.NopCloser(bytes.NewReader(body)), nil, exampleChain(exampleSeed), false, size)
			if _, err := io.CopyBuffer(io.Discard, onlyReader{r}, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify+resign", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r := NewChunkResigner(io.NopCloser(bytes.NewReader(body)), exampleChain(exampleSeed), exampleChain(exampleSeed), false, size)
			if _, err := io.CopyBuffer(io.Discard, onlyReader{r}, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// onlyReader hides WriterTo, so that every copy reads through a buffer as
// an HTTP transport does.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
