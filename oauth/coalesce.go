package oauth

import (
	"context"
	"sync"
)

// flightGroup runs one refresh per key at a time: callers arriving while
// one runs wait for its result instead of starting their own.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done  chan struct{}
	token string
	err   error
}

// do runs fn for key unless a run is in flight, whose result it then
// shares. A waiter whose ctx ends stops waiting; the run goes on.
func (f *flightGroup) do(ctx context.Context, key string, fn func() (string, error)) (string, error) {
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		f.mu.Unlock()
		select {
		case <-fl.done:
			return fl.token, fl.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.token, fl.err = fn()
	return fl.token, fl.err
}
