package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestBehindProxyEnv: placeholders go under their keys' names, the token
// is dropped, and a key named like a proxy variable (or not like a
// variable at all) is refused rather than let it undo the proxy.
func TestBehindProxyEnv(t *testing.T) {
	t.Setenv("KEYGATE_TOKEN", "tok-not-for-the-command")
	t.Setenv("HTTPS_PROXY", "http://elsewhere:1")
	vars := map[string]string{"HTTPS_PROXY": "http://127.0.0.1:3128", "SSL_CERT_FILE": "/b.pem"}
	env, err := behindProxyEnv(vars, map[string]string{"OPENAI_API_KEY": "kgph_x"}, "KEYGATE_TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env, "OPENAI_API_KEY=kgph_x") || !slices.Contains(env, "HTTPS_PROXY=http://127.0.0.1:3128") {
		t.Fatalf("env lacks the placeholder or the proxy: %v", env)
	}
	// os/exec keeps the last of duplicate names: the proxy's must come last.
	last := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, "HTTPS_PROXY=") {
			last = kv
		}
		if strings.HasPrefix(kv, "KEYGATE_TOKEN=") {
			t.Fatal("the command inherits KEYGATE_TOKEN")
		}
	}
	if last != "HTTPS_PROXY=http://127.0.0.1:3128" {
		t.Fatalf("HTTPS_PROXY ends as %q", last)
	}
	for _, bad := range []string{"HTTPS_PROXY", "SSL_CERT_FILE", "keygate_token", "A=B", "1KEY", "A KEY", ""} {
		if _, err := behindProxyEnv(vars, map[string]string{bad: "kgph_x"}, "KEYGATE_TOKEN"); err == nil {
			t.Errorf("key %q was put in the environment", bad)
		}
	}
}

// exec gives the AWS SDKs the pair of the first sigv4 key by name, and
// nothing for keys without a placeholder secret.
func TestExecAWSEnvironment(t *testing.T) {
	got := awsEnvironment(map[string]string{"API_KEY": "kgph_a", "S3_B": "kgph_b", "S3_A": "kgph_c"},
		map[string]string{"S3_B": "kgsk_b", "S3_A": "kgsk_c", "GONE": "kgsk_x"})
	want := []string{"AWS_ACCESS_KEY_ID=kgph_c", "AWS_SECRET_ACCESS_KEY=kgsk_c", "AWS_SESSION_TOKEN=", "AWS_SECURITY_TOKEN="}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := awsEnvironment(map[string]string{"API_KEY": "kgph_a"}, nil); got != nil {
		t.Fatalf("no sigv4 key: got %v", got)
	}
}
