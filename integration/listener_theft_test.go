//go:build linux && (amd64 || arm64)

package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// soReusePort is SO_REUSEPORT on Linux (amd64, arm64), which the frozen
// syscall package does not name.
const soReusePort = 0xf

// listenReusePort binds addr with SO_REUSEPORT, as a process next door
// that wants a share of keygate's connections would.
func listenReusePort(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

// TestListenerTheftRefused: a process of the same user binds keygate's
// ports with SO_REUSEPORT after keygate started. Each bind must fail
// with EADDRINUSE, and none of 20 agent calls (each with its keychain
// token) may reach it.
func TestListenerTheftRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Config{})
	in := w.in
	var stolen atomic.Int64
	for _, port := range []int{in.Ports.Ingress, in.Ports.Egress, in.Ports.API} {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		l, err := listenReusePort(addr)
		if err == nil {
			t.Errorf("a SO_REUSEPORT listener bound %s beside keygate", addr)
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					stolen.Add(1)
					c.Close()
				}
			}()
			defer l.Close()
			continue
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("binding %s beside keygate: %v, want EADDRINUSE", addr, err)
		}
	}
	for i := range 20 {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		r, err := tryHTTP(client, "GET", in.IngressURL+"/call/"+strconv.Itoa(i), in.ingressHost(w.host), bearer(w.token), nil)
		if err != nil || r.Status != http.StatusOK {
			t.Errorf("agent call %d: %v %v", i, r, err)
		}
	}
	if n := stolen.Load(); n > 0 {
		t.Errorf("%d of 20 agent calls reached the listener next door", n)
	}
}

// TestSecondKeygateOnBusyPortRefuses: a second keygate (its own data
// directory and admin address) on the ports of a running one must refuse
// to start, with an error naming the port, instead of splitting the
// traffic with the first.
func TestSecondKeygateOnBusyPortRefuses(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{ExtraPorts: 1})
	src := in.RenderCaddyfile(in.Config)
	src = strings.Replace(src, in.AdminAddr, "127.0.0.1:"+strconv.Itoa(in.Ports.Extra[0]), 1)
	src = strings.Replace(src, filepath.Join(in.Dir, "data", "store"), filepath.Join(t.TempDir(), "store"), 1)
	p := filepath.Join(in.Dir, "Caddyfile.second")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), "run", "--config", p, "--adapter", "caddyfile")
	cmd.Env = in.Env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the second keygate on busy ports kept running:\n%s", tail(redact(string(out)), 10))
	}
	if err == nil {
		t.Fatalf("the second keygate exited 0:\n%s", tail(redact(string(out)), 10))
	}
	named := false
	for _, port := range []int{in.Ports.API, in.Ports.Ingress, in.Ports.Egress} {
		named = named || strings.Contains(string(out), fmt.Sprintf("127.0.0.1:%d is in use by another process", port))
	}
	if !named {
		t.Errorf("the refusal does not name the busy port:\n%s", tail(redact(string(out)), 5))
	}
	// The first one still serves.
	if r := sendT(t, "GET", in.APIURL+"/v1/keychains", "", bearer(in.AdminToken), nil); r.Status != http.StatusOK {
		t.Errorf("the first keygate after the second's attempt: %s", r)
	}
}
