package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnsetPlaceholderLeads: a master_key whose {env.*} variable is not
// set stops keygate with a line that names the variable, logged before
// Caddy's provisioning chain, and nothing is written to the data
// directory.
func TestUnsetPlaceholderLeads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "Caddyfile")
	src := "{\n\tadmin off\n\tpersist_config off\n\tkeygate {\n\t\tstorage badger " + store + "\n\t\tmaster_key {env.KEYGATE_TEST_NEVER_SET}\n\t}\n}\n" +
		"http://127.0.0.1:1 {\n\tkeygate_api\n}\n"
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")}
	r := RunBinary(t, env, "", "validate", "--config", cfg, "--adapter", "caddyfile")
	if r.Code == 0 {
		t.Fatalf("validate passed with an unset master_key variable:\n%s", r.Stderr)
	}
	const want = `keygate: master_key: {env.KEYGATE_TEST_NEVER_SET} is unset or empty in keygate's environment`
	var first string
	for _, line := range strings.Split(r.Stderr, "\n") {
		if strings.Contains(line, `"level":"error"`) {
			first = line
			break
		}
	}
	if !strings.Contains(first, `"msg":"`+want+`"`) {
		t.Errorf("the first error line is not the one that names the variable:\n%s", r.Stderr)
	}
	if _, err := os.Stat(store); err == nil {
		t.Error("the store directory was created")
	}
}
