package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"
)

func TestRewrapReportsByKind(t *testing.T) {
	f := newFakeAPI(t)
	f.on("POST", "/v1/rewrap", 200, `{"rewrapped":23,"by_kind":{"secrets":9,"app_secrets":1,"signing_keys":1,"proxy_ca":0,"audit_records":12},`+
		`"master_key_id":"k2","master_key_ids":["k2","k1"],"sealed_by_key":{"k2":23}}`)
	r := runCLI(t, "", "rewrap")
	if r.code != 0 {
		t.Fatalf("rewrap: %+v", r)
	}
	for _, want := range []string{
		"Re-wrapped 23 records. Active master key (seals new values): k2.\n",
		"  re-wrapped: 9 secrets, 1 app secret, 1 signing key, 0 proxy CAs, 12 audit chain records\n",
		"  k1: seals nothing: it may leave master_key\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rewrap output lacks %q:\n%s", want, r.stdout)
		}
	}
	// Not on a terminal: no progress, so the API is not polled.
	for _, req := range f.requests() {
		if req.Method == "GET" {
			t.Errorf("rewrap off a terminal asked %s %s", req.Method, req.Path)
		}
	}
}

// syncWriter lets the bar's goroutine and the test share a buffer.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// On a terminal the bar shows what the server says of the work so far.
func TestProgressPoll(t *testing.T) {
	out := &syncWriter{}
	p := &progress{bar: progressbar.NewOptions64(-1, progressbar.OptionSetWriter(out), progressbar.OptionShowCount(), progressbar.OptionThrottle(0))}
	var mu sync.Mutex
	asked := 0
	stop := p.poll(context.Background(), 5*time.Millisecond, func(context.Context) (string, int, bool) {
		mu.Lock()
		defer mu.Unlock()
		asked++
		return "rewrapping: 4 secrets", 4, true
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "rewrapping: 4 secrets") {
		if time.Now().After(deadline) {
			t.Fatalf("the bar never showed the progress: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	mu.Lock()
	n := asked
	mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if asked != n {
		t.Fatal("polling went on after stop")
	}
	// Off a terminal there is no bar, and nothing is asked.
	(&progress{}).poll(context.Background(), time.Millisecond, func(context.Context) (string, int, bool) {
		t.Error("asked without a bar")
		return "", 0, false
	})()
}
