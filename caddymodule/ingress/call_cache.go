package ingress

import (
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keygate/keygate/caddymodule/gateway"
)

// maxCached bounds each cache below: entries are keyed by what manifests
// say, and a manifest replaced leaves its old entry behind. Past the
// bound the cache starts over.
const maxCached = 4096

// upstreamCache holds package upstreams parsed, keyed by the manifest's
// upstream string, so that a call does not parse its URL again.
type upstreamCache struct {
	m sync.Map // string -> *upstream
	n atomic.Int64
}

// upstream is a parsed package upstream; shared and read-only.
type upstream struct {
	u        *url.URL // Host is host:port
	basePath string
}

func (c *upstreamCache) get(raw string) (*upstream, error) {
	if v, ok := c.m.Load(raw); ok {
		return v.(*upstream), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	u.Host = gateway.UpstreamHostPort(u)
	up := &upstream{u: u, basePath: strings.TrimRight(u.Path, "/")}
	if c.n.Add(1) > maxCached {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(raw, up)
	return up, nil
}

// headerNames holds the placeholder header name of each key name.
type headerNames struct {
	m sync.Map // key name -> header name
	n atomic.Int64
}

func (c *headerNames) get(key string) string {
	if v, ok := c.m.Load(key); ok {
		return v.(string)
	}
	name := gateway.PlaceholderHeader(key)
	if c.n.Add(1) > maxCached {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(key, name)
	return name
}

// sigv4 names the header of a sigv4 key's placeholder secret; rare, so
// not cached.
func (c *headerNames) sigv4(key string) string { return gateway.SigV4SecretHeader(key) }
