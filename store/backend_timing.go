package store

import (
	"context"
	"time"
)

// timedBackend reports how long each round trip to the backend takes
// (Options.Observe): "get", "view" or "update", the retries of a
// conflicting update included.
type timedBackend struct {
	backend
	observe func(op string, d time.Duration)
}

func (t timedBackend) Get(ctx context.Context, key []byte) ([]byte, error) {
	start := time.Now()
	v, err := t.backend.Get(ctx, key)
	t.observe("get", time.Since(start))
	return v, err
}

func (t timedBackend) View(ctx context.Context, fn func(r reader) error) error {
	start := time.Now()
	err := t.backend.View(ctx, fn)
	t.observe("view", time.Since(start))
	return err
}

func (t timedBackend) Update(ctx context.Context, fn func(w writer) error) error {
	start := time.Now()
	err := t.backend.Update(ctx, fn)
	t.observe("update", time.Since(start))
	return err
}

// raw is the backend under any timing, for what only one kind offers.
func raw(b backend) backend {
	if t, ok := b.(timedBackend); ok {
		return t.backend
	}
	return b
}
