package ingress

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// The decided call rides in a request variable, which a log placeholder
// ({http.vars.keygate.ingress_call}) could print: however it is printed,
// its token and placeholders are not.
func TestIngressCallPrintsNoToken(t *testing.T) {
	c := newIngressCall()
	c.token, c.keychain = "eyJ.secret-token.sig", "kc_1"
	c.placeholders = append(c.phBuf[:0], [2]string{"Keygate-Placeholder-API-KEY", "kgph_secretplaceholder"})
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), caddy.ToString(c)} {
		if strings.Contains(s, "secret") {
			t.Fatalf("the call prints its token or placeholder: %s", s)
		}
	}
	c.release()
	if c.token != "" || c.placeholders != nil {
		t.Fatal("a released call keeps its token")
	}
}
