package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStatusAndHealthz: keygate status reports the store, audit head,
// signing keys and listeners and exits 0; GET /healthz answers 200 with
// nothing but its status, without a token; with keygate stopped, status
// exits 1 asking whether keygate runs.
func TestStatusAndHealthz(t *testing.T) {
	in := Start(t, Config{})
	r := in.CLI("", "status")
	if r.Code != 0 {
		t.Fatalf("status: %s", r)
	}
	for _, want := range []string{"store ", "badger ", ", answering", "audit head ", "signing keys ", "master key ", "listener "} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = in.CLI("", "status", "--json")
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 {
		t.Fatalf("status --json: %v\n%s", err, r)
	}

	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(in.APIURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("healthz may be cached: %q", resp.Header.Get("Cache-Control"))
	}
	// Hostile: another method, or a token that is wrong, changes nothing
	// and learns nothing more.
	req, _ := http.NewRequest(http.MethodGet, in.APIURL+"/healthz", nil)
	req.Header.Set("Authorization", "Bearer wrong")
	if resp, err := client.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
			t.Errorf("healthz with a wrong token: %d %q", resp.StatusCode, b)
		}
	}
	if resp, err := client.Post(in.APIURL+"/healthz", "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /healthz: %d", resp.StatusCode)
		}
	}
	// The status route needs the admin token.
	if resp, err := client.Get(in.APIURL + "/v1/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v1/status without a token: %d", resp.StatusCode)
		}
	}

	in.Stop()
	r = in.CLI("", "status")
	if r.Code != 1 || !strings.Contains(r.Stderr, "is keygate running?") {
		t.Errorf("status with keygate stopped: %s", r)
	}
}
