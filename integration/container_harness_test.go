package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bounds on the container tests' waits.
const (
	imageBuildLimit = 10 * time.Minute
	podmanLimit     = 2 * time.Minute
	containerReady  = 60 * time.Second
)

// containersConf makes podman work in a CI container: runc, cgroupfs and
// no default ulimits (which an unprivileged parent cannot raise).
const containersConf = `[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
`

// podman is the environment for podman and podman-compose in one test.
type podman struct {
	t    *testing.T
	root string // the repository
	env  []string
}

// newPodman skips t without podman and runc (fails under CI=true).
func newPodman(t *testing.T, tools ...string) *podman {
	t.Helper()
	if testing.Short() {
		t.Skip("builds container images")
	}
	for _, tool := range append([]string{"podman", "runc"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			skipUnlessCI(t, "%s is not installed", tool)
		}
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte(containersConf), 0o600); err != nil {
		t.Fatal(err)
	}
	return &podman{t: t, root: root, env: append(os.Environ(), "CONTAINERS_CONF="+conf)}
}

// run runs name args in dir (the repository when empty) and returns its
// output, failing t on an error.
func (p *podman) run(limit time.Duration, dir string, extraEnv []string, name string, args ...string) string {
	p.t.Helper()
	out, err := p.try(limit, dir, extraEnv, name, args...)
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (p *podman) try(limit time.Duration, dir string, extraEnv []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = p.root
	}
	cmd.Env = append(append([]string{}, p.env...), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// The image is built once per test binary, by the README's command.
var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

// keygateImage builds keygate's image with scripts/build-image and removes
// it when the test binary ends (see TestMain's cleanup list).
func (p *podman) keygateImage() string {
	p.t.Helper()
	imageOnce.Do(func() {
		tag := fmt.Sprintf("localhost/keygate-test:%d", time.Now().UnixNano())
		out, err := p.try(imageBuildLimit, "", nil, "scripts/build-image", tag)
		if err != nil {
			imageErr = fmt.Errorf("scripts/build-image: %v\n%s", err, out)
			return
		}
		imageTag = tag
	})
	if imageErr != nil {
		p.t.Fatal(imageErr)
	}
	return imageTag
}

// postgresImage builds the stand-in PostgreSQL image for this test.
func (p *podman) postgresImage() string {
	p.t.Helper()
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/postgres"); err != nil {
		skipUnlessCI(p.t, "PostgreSQL 15 is not installed: %v", err)
	}
	tag := fmt.Sprintf("localhost/keygate-test-postgres:%d", time.Now().UnixNano())
	p.run(imageBuildLimit, "", nil, "scripts/build-postgres-image", tag)
	p.t.Cleanup(func() { p.try(podmanLimit, "", nil, "podman", "rmi", "-f", tag) })
	return tag
}

// removeImageAtEnd removes the shared keygate image; TestMain calls it.
func removeImageAtEnd() {
	if imageTag == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), podmanLimit)
	defer cancel()
	exec.CommandContext(ctx, "podman", "rmi", "-f", imageTag).Run()
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string, limit time.Duration, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %s\n%s", url, limit, logs())
}

// removeContainers removes the named containers and their anonymous
// volumes (the images' VOLUME directories).
func (p *podman) removeContainers(names ...string) {
	var volumes []string
	for _, name := range names {
		out, err := p.try(podmanLimit, "", nil, "podman", "inspect", "--format", "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}", name)
		if err == nil {
			volumes = append(volumes, strings.Fields(out)...)
		}
	}
	for _, name := range names {
		p.try(podmanLimit, "", nil, "podman", "rm", "-f", "-v", "-t", "5", name)
	}
	for _, v := range volumes {
		p.try(podmanLimit, "", nil, "podman", "volume", "rm", "-f", v)
	}
}
