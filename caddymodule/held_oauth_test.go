package caddymodule_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keygate/keygate/oauthtest"
)

// TestHeldIngressReleasedByOAuthConnect: a call held because its package's
// OAuth key is not connected goes on once the owner connects the account
// (confirms it), as a call held for a value goes on once it is set.
func TestHeldIngressReleasedByOAuthConnect(t *testing.T) {
	srv := oauthtest.New()
	t.Cleanup(srv.Close)
	g := startConnectGateway(t, srv, srv.AuthorizeURL())
	kc, tok := g.newKeychain("alice", "")
	g.mustAdmin(200, "PUT", "/v1/keychains/"+kc+"/grants/@acme/mail", map[string]any{"keys": []string{"MAIL_TOKEN"}})

	ch := background(func() (int, http.Header, []byte) { return g.agent("mail", tok, wait("15")) })
	if c := g.awaitHeld(kc, 1)[0]; c.Kind != "value" || c.Reason != "missing_keys" {
		t.Fatalf("held call shown as %+v", c)
	}
	// Past the rechecks a hold makes on its own after parking: only the
	// connect can release it now.
	time.Sleep(2500 * time.Millisecond)
	var conn struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	json.Unmarshal(g.mustAdmin(200, "POST", "/v1/keychains/"+kc+"/connect/%40acme%2Fmail/MAIL_TOKEN", nil), &conn)
	c := g.newOwnerClient()
	st, _, body := c.do("GET", srv.Authorize(t, conn.AuthorizeURL), nil, nil)
	m := pendingField.FindStringSubmatch(body)
	if st != 200 || m == nil {
		t.Fatalf("callback: %d %s", st, body)
	}
	if st, _, b := c.do("POST", "/oauth/callback", url.Values{"pending": {m[1]}, "action": {"confirm"}}, map[string]string{"Sec-Fetch-Site": "same-origin"}); st != 200 {
		t.Fatalf("confirm: %d %s", st, b)
	}
	r := receive(t, ch)
	if r.status != 200 || r.hdr.Get("Preference-Applied") != "wait" {
		t.Fatalf("released call: %d %v %s", r.status, r.hdr, r.body)
	}
}
