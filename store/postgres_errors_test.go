package store

import (
	"errors"
	"strings"
	"testing"
)

// TestRedactPasswordFieldOnly: the DSN's password field is redacted, in
// URL and keyword/value form; the password's characters elsewhere are
// left alone (a password "e" must not turn "postgres" into
// "postgr[password]s").
func TestRedactPasswordFieldOnly(t *testing.T) {
	b := &postgresBackend{where: "127.0.0.1:5432/keygate as keygate"}
	for _, c := range []struct{ pw, driver, want string }{
		{"e", "dial error", "postgres 127.0.0.1:5432/keygate as keygate: connect: dial error: storage unavailable"},
		{"e", "cannot parse postgres://keygate:e@127.0.0.1/keygate", "cannot parse postgres://keygate:[password]@127.0.0.1/keygate"},
		{"s3cr%40t", "bad url postgresql://u:s3cr%40t@h:5432/db?sslmode=disable", "bad url postgresql://u:[password]@h:5432/db?sslmode=disable"},
		{"hunter2", "bad dsn host=h password=hunter2 dbname=db", "bad dsn host=h password=[password] dbname=db"},
		{"it's", `bad dsn host=h password='it\'s secret' dbname=db`, "bad dsn host=h password=[password] dbname=db"},
		{"x", "PASSWORD = x host=h", "PASSWORD = [password] host=h"},
	} {
		got := b.mapErr("connect", errors.New(c.driver)).Error()
		if !strings.Contains(got, c.want) {
			t.Errorf("password %q: %q does not contain %q", c.pw, got, c.want)
		}
		if c.pw != "e" && strings.Contains(got, c.pw) {
			t.Errorf("password %q left in %q", c.pw, got)
		}
	}
	if got := b.mapErr("connect", errors.New("dial error")).Error(); !strings.Contains(got, "postgres 127.0.0.1") {
		t.Errorf("%q lost the word postgres", got)
	}
}
