package integration

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var confirmPending = regexp.MustCompile(`name="pending" value="([^"]+)"`)

// confirmConnect confirms the connect whose callback answered cb, as the
// owner's click on its page does: a same-origin form post to via (the
// node a balancer picked; public is the origin the browser is on) with
// the cookie the callback set.
func confirmConnect(t *testing.T, via *Instance, public string, cb reply) reply {
	t.Helper()
	m := confirmPending.FindSubmatch(cb.Body)
	if cb.Status != http.StatusOK || m == nil {
		t.Fatalf("callback: %s", cb)
	}
	hdr := http.Header{"Origin": {public}, "Sec-Fetch-Site": {"same-origin"}, "Content-Type": {"application/x-www-form-urlencoded"}}
	for _, c := range (&http.Response{Header: cb.Header}).Cookies() {
		if strings.HasPrefix(c.Name, "keygate_pending_") {
			hdr.Add("Cookie", c.Name+"="+c.Value)
		}
	}
	form := url.Values{"pending": {html.UnescapeString(string(m[1]))}, "action": {"confirm"}}
	return sendT(t, "POST", via.APIURL+"/oauth/callback", "", hdr, form.Encode())
}
