package oauth

import (
	"net"
	"net/http"
	"time"
)

// newClient calls token endpoints directly (no environment proxy),
// bounded at every step, and never follows a redirect: the client
// credentials are for the configured URL only.
func newClient() *http.Client {
	return &http.Client{
		Timeout: defaultCallTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: defaultCallTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
