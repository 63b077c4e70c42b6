//go:build unix

package integration

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPackageSiteOnUnixSocket: a package site can listen on a unix
// socket whose mode says who may call it (README: Security notes), and an
// agent's call through it reaches the package.
func TestPackageSiteOnUnixSocket(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "kg-sock-") // short: socket paths are limited to about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agents.sock")
	w := newWorld(t, Config{ExtraSites: "http://*.{{.Suffix}} {\n\tbind unix/" + sock + "|0660\n\tkeygate_package {\n\t\tsuffix {{.Suffix}}\n\t}\n}"})
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %s: %v, mode %v; want 0660", sock, err, fi.Mode().Perm())
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	r, err := tryHTTP(client, "GET", "http://"+w.host+"."+w.in.Config.Suffix+"/hello", "", bearer(w.token), nil)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("agent call over the unix socket: %v %v", r, err)
	}
	if w.pkgCode.Count() == 0 {
		t.Fatal("the call did not reach the package's code")
	}
}
