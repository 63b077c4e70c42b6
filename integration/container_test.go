package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestContainerImage builds the image as the README says
// (scripts/build-image) and runs it: a non-root user, no shell, and the
// store under the /data volume, kept when the container is replaced.
func TestContainerImage(t *testing.T) {
	p := newPodman(t)
	tag := p.keygateImage()

	if user := strings.TrimSpace(p.run(podmanLimit, "", nil, "podman", "image", "inspect", "--format", "{{.Config.User}}", tag)); user != "65532:65532" {
		t.Errorf("the image runs as %q, want 65532:65532", user)
	}
	if out, err := p.try(podmanLimit, "", nil, "podman", "run", "--rm", "--entrypoint", "/bin/sh", tag, "-c", "true"); err == nil {
		t.Errorf("the image has a shell:\n%s", out)
	}

	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	volume := "keygate-test-data-" + suffix
	port := FreePorts(t, 1)[0]
	t.Cleanup(func() { p.try(podmanLimit, "", nil, "podman", "volume", "rm", "-f", volume) })
	start := func(name string) {
		p.run(podmanLimit, "", nil, "podman", "run", "-d", "--name", name,
			"-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "-v", volume+":/data", tag)
		t.Cleanup(func() { p.removeContainers(name) })
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/v1/openapi.json", port), containerReady, func() string {
			out, _ := p.try(podmanLimit, "", nil, "podman", "logs", name)
			return out
		})
	}

	first := "keygate-test-" + suffix
	start(first)
	// The CLI in the container finds the first-run admin token under /data.
	out := p.run(podmanLimit, "", nil, "podman", "exec", first, "keygate", "keychain", "create", "--owner", "alice")
	id := regexp.MustCompile(`kc_[a-z0-9]+`).FindString(out)
	if id == "" {
		t.Fatalf("keychain create printed no id:\n%s", out)
	}
	p.run(podmanLimit, "", nil, "podman", "rm", "-f", "-t", "5", first)

	// A new container on the same volume has the same store and keys.
	second := first + "-2"
	start(second)
	if out := p.run(podmanLimit, "", nil, "podman", "exec", second, "keygate", "keychain", "list"); !strings.Contains(out, id) {
		t.Errorf("the keychain did not survive the container on its volume:\n%s", out)
	}
}

// TestComposeTwoNodes runs deploy/compose.yaml as the README says: two
// nodes on one PostgreSQL (here the stand-in image built from Debian's
// PostgreSQL, as no image can be pulled), with the env file of
// scripts/compose-env; a keychain created through node 1 is listed by
// node 2, and no secret appears in podman-compose's output.
func TestComposeTwoNodes(t *testing.T) {
	p := newPodman(t, "podman-compose")
	keygate := p.keygateImage()
	postgres := p.postgresImage()

	dir := t.TempDir()
	compose, err := os.ReadFile(filepath.Join(p.root, "deploy", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	composeFile := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(composeFile, compose, 0o600); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "keygate.env")
	p.run(podmanLimit, "", nil, "scripts/compose-env", envFile)
	if out, err := p.try(podmanLimit, "", nil, "scripts/compose-env", envFile); err == nil || !strings.Contains(out, "exists") {
		t.Errorf("compose-env overwrote an env file: %v\n%s", err, out)
	}
	secrets := readEnvFile(t, envFile)

	ports := FreePorts(t, 6)
	env := []string{"KEYGATE_IMAGE=" + keygate, "POSTGRES_IMAGE=" + postgres}
	for i, name := range []string{"KEYGATE1_API_PORT", "KEYGATE1_EGRESS_PORT", "KEYGATE1_INGRESS_PORT", "KEYGATE2_API_PORT", "KEYGATE2_EGRESS_PORT", "KEYGATE2_INGRESS_PORT"} {
		env = append(env, fmt.Sprintf("%s=%d", name, ports[i]))
	}
	project := "keygatetest" + strconv.FormatInt(time.Now().UnixNano(), 36)
	compose1 := func(args ...string) (string, error) {
		return p.try(podmanLimit, dir, env, "podman-compose", append([]string{"-p", project, "-f", composeFile}, args...)...)
	}
	t.Cleanup(func() {
		p.removeContainers(project+"_keygate1_1", project+"_keygate2_1")
		compose1("down", "-v", "-t", "5")
		p.try(podmanLimit, "", nil, "podman", "network", "rm", "-f", project+"_default")
	})
	up, err := compose1("up", "-d")
	if err != nil {
		t.Fatalf("podman-compose up: %v\n%s", err, up)
	}
	for _, name := range []string{"KEYGATE_MASTER_KEY", "KEYGATE_ADMIN_TOKEN", "POSTGRES_PASSWORD"} {
		if strings.Contains(up, secrets[name]) {
			t.Errorf("podman-compose's output shows %s", name)
		}
	}
	logs := func() string {
		out, _ := compose1("logs")
		return out
	}
	node1 := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	node2 := fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	waitHTTP(t, node1+"/v1/openapi.json", containerReady, logs)
	waitHTTP(t, node2+"/v1/openapi.json", containerReady, logs)

	token := secrets["KEYGATE_ADMIN_TOKEN"]
	req, _ := http.NewRequest(http.MethodPost, node1+"/v1/keychains", strings.NewReader(`{"owner":"alice"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	var created struct{ ID string }
	doJSON(t, req, http.StatusCreated, &created)
	req, _ = http.NewRequest(http.MethodGet, node2+"/v1/keychains", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	var listed []struct{ ID string }
	doJSON(t, req, http.StatusOK, &listed)
	for _, kc := range listed {
		if kc.ID == created.ID {
			return
		}
	}
	t.Errorf("node 2 does not list %s, created through node 1: %v", created.ID, listed)
}

func doJSON(t *testing.T, req *http.Request, want int, v any) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", req.Method, req.URL, resp.StatusCode, want)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// readEnvFile reads NAME=value lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	for _, name := range []string{"KEYGATE_MASTER_KEY", "KEYGATE_ADMIN_TOKEN", "POSTGRES_PASSWORD", "KEYGATE_DSN"} {
		if env[name] == "" {
			t.Fatalf("%s lacks %s", path, name)
		}
	}
	return env
}
