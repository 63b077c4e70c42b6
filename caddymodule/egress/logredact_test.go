package egress

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/logging" // the file writer
)

// TestAccessLoggerNamesMatchCaddy pins accessLoggerNames, a copy of
// Caddy's private choice of access loggers, to what Caddy itself does: a
// real Caddy server logs requests for several hosts (exact, wildcard,
// mixed case, a log_name override, a host with logging off, the default),
// and each host's line must land in exactly the loggers the copy names.
func TestAccessLoggerNamesMatchCaddy(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	names := []string{"la", "lw", "ld", "lv"}
	logs := map[string]any{"default": map[string]any{"level": "ERROR", "exclude": []string{"http.log.access"}}}
	for _, n := range names {
		logs[n] = map[string]any{
			"writer":  map[string]any{"output": "file", "filename": filepath.Join(dir, n+".log")},
			"include": []string{"http.log.access." + n},
		}
	}
	serverLogs := map[string]any{
		"logger_names":        map[string][]string{"a.example": {"la"}, "*.w.example": {"lw"}, "quiet.example": {}},
		"default_logger_name": "ld",
	}
	ok := map[string]any{"handler": "static_response", "status_code": 200}
	cfg, err := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": logs},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"s": map[string]any{
			"listen":          []string{addr},
			"automatic_https": map[string]any{"disable": true},
			"logs":            serverLogs,
			"routes": []any{
				map[string]any{"match": []any{map[string]any{"host": []string{"v.example"}}},
					"handle": []any{map[string]any{"handler": "vars", caddyhttp.AccessLoggerNameVarKey: []string{"lv"}}, ok}},
				map[string]any{"handle": []any{ok}},
			},
		}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })

	var slc caddyhttp.ServerLogConfig
	raw, _ := json.Marshal(serverLogs)
	if err := json.Unmarshal(raw, &slc); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	want := map[string][]string{}
	for _, host := range []string{"a.example", "A.Example", "x.w.example", "other.example", "v.example", "quiet.example", "w.example"} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host + ":" + strings.Split(addr, ":")[1]
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()

		// What the copy says, for the same request as Caddy saw it.
		ctx := context.WithValue(req.Context(), caddyhttp.VarsCtxKey, map[string]any{})
		if host == "v.example" {
			caddyhttp.SetVar(ctx, caddyhttp.AccessLoggerNameVarKey, []any{"lv"})
		}
		w := accessLoggerNames(&slc, req.WithContext(ctx))
		slices.Sort(w)
		want[host] = w
	}
	// Wait (bounded) until every expected line is written, then compare
	// every host, those expected to log nowhere too.
	deadline := time.Now().Add(5 * time.Second)
	for {
		done := true
		for host, w := range want {
			if len(w) > 0 && len(loggedIn(dir, names, host)) == 0 {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for host, w := range want {
		if got := loggedIn(dir, names, host); !slices.Equal(got, w) {
			t.Errorf("%s: Caddy logged to %v, accessLoggerNames says %v", host, got, w)
		}
	}
	if !slices.Equal(want["quiet.example"], []string{}) || !slices.Equal(want["x.w.example"], []string{"lw"}) {
		t.Fatalf("the cases do not cover what they should: %v", want)
	}
}

// loggedIn lists the loggers whose file has an access line for host.
func loggedIn(dir string, names []string, host string) []string {
	needle := `"host":"` + host + `:`
	got := []string{}
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(dir, n+".log"))
		if strings.Contains(string(b), needle) {
			got = append(got, n)
		}
	}
	slices.Sort(got)
	return got
}
