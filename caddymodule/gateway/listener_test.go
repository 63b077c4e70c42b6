package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestExclusiveListenerAcrossConfigs: two configs' listeners on one
// address share one socket; the first letting go leaves the second
// serving; a bind beside them fails; the last letting go frees the port.
func TestExclusiveListenerAcrossConfigs(t *testing.T) {
	ctx := context.Background()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	l1, err := listenExclusive(ctx, ExclusiveNetwork, "127.0.0.1", ps, 0, net.ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := listenExclusive(ctx, ExclusiveNetwork, "127.0.0.1", ps, 0, net.ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.Listen("tcp", "127.0.0.1:"+ps); err == nil {
		t.Fatal("a second bind beside the exclusive listener succeeded")
	}
	serve := func(l net.Listener, body string) *http.Server {
		s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })}
		go s.Serve(l)
		return s
	}
	s1 := serve(l1.(net.Listener), "one")
	s2 := serve(l2.(net.Listener), "two")
	get := func() string {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		r, err := c.Get("http://127.0.0.1:" + ps + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	_ = s1.Close()
	for i := range 20 {
		if got := get(); got != "two" {
			t.Fatalf("request %d after the first config let go: %q", i, got)
		}
	}
	_ = s2.Close()
	var freed bool
	for i := 0; i < 50 && !freed; i++ {
		if l, err := net.Listen("tcp", "127.0.0.1:"+ps); err == nil {
			l.Close()
			freed = true
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !freed {
		t.Fatal("the port stayed bound after the last config let go")
	}
}
