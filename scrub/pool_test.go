package scrub

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestScrubPooledBuffers runs bodies through pooled and unpooled buffers with a needle across the
// point where the body moves to the larger chunk, one body after another, so that a recycled
// buffer's old bytes would show in the next answer.
func TestScrubPooledBuffers(t *testing.T) {
	long := strings.Repeat("L", poolSlack+7) // longer than the slack: unpooled buffers
	for _, secret := range []string{scrubTestSecret, long} {
		s := redact([]byte(secret))
		for _, at := range []int{0, firstChunk - 3, firstChunk + poolSlack - len(secret)/2, firstChunk + poolSlack, 3 * maxChunk} {
			pad := strings.Repeat("p", at)
			body := pad + secret + " tail " + strings.Repeat("q", maxChunk) + secret
			want := pad + rd + " tail " + strings.Repeat("q", maxChunk) + rd
			got, n := scrubReadAll(t, s, strings.NewReader(body))
			if got != want || n != 2 {
				t.Fatalf("secret %d bytes at %d: %d replacements, output equal %v", len(secret), at, n, got == want)
			}
			// A short answer next reuses the buffers and shows nothing of the last one.
			if got, n := scrubReadAll(t, s, strings.NewReader("ok")); got != "ok" || n != 0 {
				t.Fatalf("after a body: got %q (%d)", got, n)
			}
		}
	}
}

// TestScrubPoolHoldsNoValue checks that buffers go back to the pool cleared.
func TestScrubPoolHoldsNoValue(t *testing.T) {
	s := redact([]byte(scrubTestSecret))
	body := "echo " + scrubTestSecret + " and sk-live" // ends in a held-back prefix
	if _, err := io.ReadAll(s.Body(io.NopCloser(strings.NewReader(body)))); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		p := s.buffers(false)
		for _, buf := range [][]byte{p.win, p.out} {
			if full := buf[:cap(buf)]; bytes.Contains(full, []byte("sk-")) || bytes.Count(full, []byte{0}) != len(full) {
				t.Fatal("a pooled buffer holds bytes of an earlier answer")
			}
		}
	}
}

// TestScrubIndex checks the rare-byte search against bytes.Index, including bodies made of the
// needle's rarest byte, which send it to bytes.Index after its false starts.
func TestScrubIndex(t *testing.T) {
	needle := "sk_live_jjjjQ"
	s := redact([]byte(needle))
	for _, body := range []string{
		"", "sk_live_jjjj", needle, "x" + needle, strings.Repeat("Q", 500), strings.Repeat("jQ", 300) + needle,
		strings.Repeat("sk_live_jjjjX", 100) + needle + "tail", strings.Repeat("Q", 4000) + needle,
	} {
		for i := range s.needles {
			if got, want := s.index([]byte(body), i), bytes.Index([]byte(body), s.needles[i]); got != want {
				t.Fatalf("needle %d in %.20q…: %d, want %d", i, body, got, want)
			}
		}
	}
}

// TestScrubCloseClearsBuffers: a body closed before its end (a caller that
// hung up) clears the buffers that held the upstream's bytes, the value
// among them, pooled or not.
func TestScrubCloseClearsBuffers(t *testing.T) {
	long := "L" + strings.Repeat("x", poolSlack+7) // longer than the slack: unpooled buffers
	for _, secret := range []string{scrubTestSecret, long} {
		b := redact([]byte(secret)).Body(scrubChunked("echo "+secret+" and more", " never read"))
		if _, err := b.Read(make([]byte, 3)); err != nil {
			t.Fatal(err)
		}
		win, out := b.bufs.win[:cap(b.bufs.win)], b.bufs.out[:cap(b.bufs.out)]
		if !bytes.Contains(win, []byte(secret)) {
			t.Fatal("the window does not hold the value: the test proves nothing")
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		for _, buf := range [][]byte{win, out} {
			if bytes.Count(buf, []byte{0}) != len(buf) {
				t.Errorf("%d-byte value: a buffer holds bytes of the answer after Close", len(secret))
			}
		}
		if _, err := b.Read(make([]byte, 3)); err == nil {
			t.Error("a Read after Close succeeded")
		}
	}
}
