package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// A secret setting's placeholder that does not expand is named in the
// error, so the operator knows which variable to export; nothing of an
// inline value is.
func TestSecretSettingNamesThePlaceholder(t *testing.T) {
	t.Setenv("KEYGATE_TEST_SET", "dmFsdWU")
	os.Unsetenv("KEYGATE_TEST_UNSET")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	repl := caddy.NewReplacer()
	for _, c := range []struct{ v, want string }{
		{"{env.KEYGATE_TEST_UNSET}", "keygate: master_key: {env.KEYGATE_TEST_UNSET} is unset or empty in keygate's environment"},
		{"k1:{env.KEYGATE_TEST_SET},k0:{env.KEYGATE_TEST_UNSET}", "keygate: master_key: {env.KEYGATE_TEST_UNSET} is unset"},
		{"{file." + empty + "}", "keygate: master_key: {file." + empty + "} names a file keygate cannot read, or an empty one"},
		{"{nosuch.thing}sk_inline_secret", "keygate: master_key: placeholder is unknown or empty"},
	} {
		_, err := expandSecretSetting(repl, "master_key", c.v)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.v, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "sk_inline_secret") {
			t.Errorf("%q: the error holds the inline value: %v", c.v, err)
		}
	}
	if out, err := expandSecretSetting(repl, "master_key", "k1:{env.KEYGATE_TEST_SET}"); err != nil || out != "k1:dmFsdWU" {
		t.Errorf("expanded %q, %v", out, err)
	}
}
