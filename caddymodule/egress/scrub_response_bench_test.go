package egress

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

// BenchmarkScrubResponse is the cost of scrubbing one answer of each size
// as the transport does (cached scrubber, headers, streamed body), against
// reading it unscrubbed.
func BenchmarkScrubResponse(b *testing.B) {
	value := []byte("sk_live_0123456789abcdefghijklmnop")
	sent := "Bearer " + string(value)
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		body := bytes.Repeat([]byte(`{"id":"msg_1","text":"lorem ipsum dolor sit amet"},`), size/50+1)[:size]
		for _, on := range []bool{false, true} {
			name := strconv.Itoa(size>>10) + "KiB/scrub=" + strconv.FormatBool(on)
			b.Run(name, func(b *testing.B) {
				t := &Transport{scrubbers: new(scrub.Cache)}
				if !on {
					off := false
					t.Scrub = &off
				}
				buf := make([]byte, 32<<10)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					res := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
						Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(size)}
					// As the transport does; the body holds no needle, so
					// nothing is audited and no request is needed.
					res, _ = t.scrubResponse(nil, res, t.scrubberFor(value, sent), store.AuditEvent{})
					if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{res.Body}, buf); err != nil {
						b.Fatal(err)
					}
					res.Body.Close()
				}
			})
		}
	}
}
