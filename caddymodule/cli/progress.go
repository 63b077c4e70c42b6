package cli

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows long work (store copy, backup, restore, rewrap) as a bar on
// stderr when stderr is a terminal; otherwise it shows nothing, and the
// command's final counts are the report.
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress counts up to total (-1: unknown) in items, or in bytes when
// bytes is set.
func newProgress(e *env, description string, total int64, bytes bool) *progress {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(description),
		progressbar.OptionThrottle(100e6), // 100 ms between redraws
		progressbar.OptionClearOnFinish(),
		progressbar.OptionShowCount(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

// set moves the bar to n.
func (p *progress) set(n int) {
	if p.bar != nil {
		p.bar.Set(n)
	}
}

// writer counts what passes through w; reader what is read from r.
func (p *progress) writer(w io.Writer) io.Writer {
	if p.bar == nil {
		return w
	}
	return io.MultiWriter(w, p.bar)
}

func (p *progress) reader(r io.Reader) io.Reader {
	if p.bar == nil {
		return r
	}
	return io.TeeReader(r, p.bar)
}

// poll asks check every interval until stop is called, and shows what it
// says (a description and a count) while ok: for work done by the server,
// whose progress is asked for. Off a terminal it asks nothing.
func (p *progress) poll(ctx context.Context, every time.Duration, check func(context.Context) (desc string, n int, ok bool)) (stop func()) {
	if p.bar == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if desc, n, ok := check(ctx); ok && ctx.Err() == nil {
				p.bar.Describe(desc)
				p.bar.Set(n)
			}
		}
	}()
	return func() { cancel(); <-finished }
}

// done clears the bar, before the final counts are printed.
func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
