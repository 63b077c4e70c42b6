package scrub

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// BenchmarkScrubAlnum scrubs 64 KiB of random letters and digits, where every byte of the value
// is common: the worst body for a search by the value's rarest byte short of an attack.
func BenchmarkScrubAlnum(b *testing.B) {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rng := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, 64<<10)
	for i := range body {
		body[i] = alnum[rng.IntN(len(alnum))]
	}
	s := redact([]byte("sk_live_0123456789abcdefghijklmnop"), []byte("Bearer sk_live_0123456789abcdefghijklmnop"))
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{s.Body(io.NopCloser(bytes.NewReader(body)))}, buf); err != nil {
			b.Fatal(err)
		}
	}
}
