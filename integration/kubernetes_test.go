package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKubernetesManifests plays deploy/kubernetes/keygate.yaml with
// `podman kube play`: PostgreSQL (the stand-in image) and a keygate node on
// it, the keygate container run as in the manifest (non-root, read-only
// root filesystem, the Secret's values in its environment). What podman
// 4.3 cannot play is adapted, and not tested: it stores a Secret document
// as YAML but reads secrets as JSON (the test creates the secret itself),
// it plays no Service (the DSN names the pod), and it publishes every
// containerPort on the host (the test gives each a loopback hostPort and
// plays one keygate replica, not two).
func TestKubernetesManifests(t *testing.T) {
	p := newPodman(t)
	keygate := p.keygateImage()
	postgres := p.postgresImage()

	manifest, err := os.ReadFile(filepath.Join(p.root, "deploy", "kubernetes", "keygate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(manifest), "\n---\n")
	if !strings.Contains(docs[0], "kind: Secret") {
		t.Fatalf("the manifest's first document is not the Secret:\n%s", docs[0])
	}
	for _, key := range []string{"master-key:", "admin-token:", "postgres-password:", "dsn:"} {
		if !strings.Contains(docs[0], key) {
			t.Errorf("the Secret lacks %s", key)
		}
	}
	ports := FreePorts(t, 2)
	played := strings.Join(docs[1:], "\n---\n")
	for old, repl := range map[string]string{
		"image: docker.io/library/postgres:15": "image: " + postgres,
		"image: localhost/keygate:dev":         "image: " + keygate,
		"replicas: 2":                          "replicas: 1",
		"- containerPort: 5432":                "- containerPort: 5432\n              hostIP: 127.0.0.1\n              hostPort: " + strconv.Itoa(ports[0]),
		"containerPort: 8080":                  "containerPort: 8080\n              hostIP: 127.0.0.1\n              hostPort: " + strconv.Itoa(ports[1]),
		"containerPort: 8081":                  "containerPort: 8081\n              hostIP: 127.0.0.1\n              hostPort: " + strconv.Itoa(FreePorts(t, 1)[0]),
		"containerPort: 8082":                  "containerPort: 8082\n              hostIP: 127.0.0.1\n              hostPort: " + strconv.Itoa(FreePorts(t, 1)[0]),
	} {
		if !strings.Contains(played, old) {
			t.Fatalf("the manifest has no %q", old)
		}
		played = strings.Replace(played, old, repl, 1)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "keygate.yaml")
	if err := os.WriteFile(file, []byte(played), 0o600); err != nil {
		t.Fatal(err)
	}

	token := RandomToken(t, "")
	password := RandomToken(t, "")
	values := map[string]string{
		"master-key":        base64.StdEncoding.EncodeToString(randomBytes(t, 32)),
		"admin-token":       token,
		"postgres-password": password,
		"dsn":               "postgres://keygate:" + password + "@postgres-pod-0:5432/keygate?sslmode=disable",
	}
	secret := map[string][]byte{}
	for k, v := range values {
		secret[k] = []byte(v)
	}
	body, _ := json.Marshal(secret)
	secretFile := filepath.Join(dir, "secret.json")
	if err := os.WriteFile(secretFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	network := "keygate-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	p.run(podmanLimit, "", nil, "podman", "network", "create", network)
	t.Cleanup(func() { p.try(podmanLimit, "", nil, "podman", "network", "rm", "-f", network) })
	p.run(podmanLimit, "", nil, "podman", "secret", "create", "keygate", secretFile)
	t.Cleanup(func() { p.try(podmanLimit, "", nil, "podman", "secret", "rm", "keygate") })
	// From dir: podman kube play takes a directory named like an image as
	// its build context.
	t.Cleanup(func() {
		p.removeContainers("keygate-pod-0-keygate", "postgres-pod-0-postgres")
		p.try(podmanLimit, dir, nil, "podman", "kube", "down", file)
		p.try(podmanLimit, "", nil, "podman", "volume", "rm", "-f", "postgres-data")
	})
	if out, err := p.try(podmanLimit, dir, nil, "podman", "kube", "play", "--network", network, file); err != nil {
		t.Fatalf("podman kube play: %v\n%s", err, out)
	}

	api := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	logs := func() string {
		a, _ := p.try(podmanLimit, "", nil, "podman", "logs", "keygate-pod-0-keygate")
		b, _ := p.try(podmanLimit, "", nil, "podman", "logs", "postgres-pod-0-postgres")
		return a + b
	}
	// keygate restarts (restartPolicy Always) until PostgreSQL accepts it.
	waitHTTP(t, api+"/v1/openapi.json", 2*containerReady, logs)
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/keychains", strings.NewReader(`{"owner":"alice"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	var created struct{ ID string }
	doJSON(t, req, http.StatusCreated, &created)
	if !strings.HasPrefix(created.ID, "kc_") {
		t.Errorf("created %q", created.ID)
	}
	if out := p.run(podmanLimit, "", nil, "podman", "inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", "keygate-pod-0-keygate"); strings.TrimSpace(out) != "65532:65532 true" {
		t.Errorf("the keygate container runs as user and read-only root %q, want 65532:65532 true", strings.TrimSpace(out))
	}
}
