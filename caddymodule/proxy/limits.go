package proxy

import (
	"net"
	"sync"
)

// sourceLimits bounds the tunnels open at once per client address, so one
// client's CONNECT flood (or a pile of slow handshakes, each bounded in
// time too) cannot take every file descriptor.
type sourceLimits struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func newSourceLimits(limit int) *sourceLimits {
	return &sourceLimits{max: limit, open: map[string]int{}}
}

// acquire counts a tunnel for the client at remoteAddr; it reports false
// when the client already has max open. release undoes it.
func (l *sourceLimits) acquire(remoteAddr string) (release func(), ok bool) {
	src, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		src = remoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[src] >= l.max {
		return nil, false
	}
	l.open[src]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.open[src]--; l.open[src] <= 0 {
				delete(l.open, src)
			}
			l.mu.Unlock()
		})
	}, true
}
