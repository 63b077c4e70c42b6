package integration

// Runs of the binary as a command: against an instance (CLI, StartCLI)
// or on its own (RunBinary, runUntilExit).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Result is one run of the binary.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Code           int // exit code; -1 if it did not exit normally
}

func (r Result) String() string {
	return fmt.Sprintf("keygate %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// cliEnv is the instance's environment for a CLI run, with overrides
// applied: "KEY=VALUE" sets, "KEY" alone removes.
func (in *Instance) cliEnv(overrides []string) []string {
	base := append(append([]string{}, in.Env...), "KEYGATE_API="+in.APIURL, "KEYGATE_ADMIN_TOKEN="+in.AdminToken)
	return mergeEnv(base, overrides)
}

func mergeEnv(base, overrides []string) []string {
	out := append([]string{}, base...)
	for _, o := range overrides {
		key, _, set := strings.Cut(o, "=")
		kept := out[:0]
		for _, kv := range out {
			if k, _, _ := strings.Cut(kv, "="); k != key {
				kept = append(kept, kv)
			}
		}
		out = kept
		if set {
			out = append(out, o)
		}
	}
	return out
}

// CLI runs the binary with args against this instance, with stdin.
func (in *Instance) CLI(stdin string, args ...string) Result {
	in.t.Helper()
	return in.CLIEnv(nil, stdin, args...)
}

// CLIEnv is CLI with environment overrides ("KEY=VALUE" sets, "KEY"
// removes), e.g. "KEYGATE_ADMIN_TOKEN" to run without a token.
func (in *Instance) CLIEnv(env []string, stdin string, args ...string) Result {
	in.t.Helper()
	r := RunBinary(in.t, in.cliEnv(env), stdin, args...)
	in.mu.Lock()
	in.cliOut.WriteString(r.Stdout)
	in.cliOut.WriteString(r.Stderr)
	in.mu.Unlock()
	return r
}

// MustCLI is CLI that fails the test unless the command exits 0.
func (in *Instance) MustCLI(stdin string, args ...string) Result {
	in.t.Helper()
	r := in.CLI(stdin, args...)
	if r.Code != 0 {
		in.t.Fatalf("%s", r)
	}
	return r
}

// RunBinary runs the keygate binary with env (the whole environment) and
// stdin, within cliTimeout.
func RunBinary(t testing.TB, env []string, stdin string, args ...string) Result {
	t.Helper()
	r, _, ok := runBinary(t, env, "", stdin, cliTimeout, args)
	if !ok {
		t.Fatalf("keygate %s did not finish within %s", strings.Join(args, " "), cliTimeout)
	}
	return r
}

// runUntilExit runs the binary with args (env: the instance's) and expects
// it to exit by itself within timeout, as a start-up that fails does. It
// kills the process and fails t if it is still running then.
func (in *Instance) runUntilExit(t testing.TB, timeout time.Duration, args ...string) Result {
	t.Helper()
	r, stderr, ok := runBinary(t, in.Env, in.Dir, "", timeout, args)
	if !ok {
		t.Fatalf("keygate %s was still running after %s (it should have refused to start)\nstderr:\n%s",
			strings.Join(args, " "), timeout, tail(stderr, 20))
	}
	return r
}

// runBinary runs the binary in dir (the test's when empty) and returns
// its result, or ok=false (and what it wrote to stderr) when it was
// killed for running longer than timeout.
func runBinary(t testing.TB, env []string, dir, stdin string, timeout time.Duration, args []string) (r Result, stderr string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		return Result{}, errOut.String(), false
	}
	r = Result{Args: args, Stdout: out.String(), Stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("running keygate %s: %v", strings.Join(args, " "), err)
	}
	return r, "", true
}

// Proc is a CLI command running in the background.
type Proc struct {
	t       testing.TB
	in      *Instance
	cmd     *exec.Cmd
	out     *syncBuffer
	errOut  *syncBuffer
	done    chan struct{}
	waitErr error
}

// StartCLI starts a CLI command against this instance in the background
// (audit --follow, say). Stop it with Signal and Wait; the test's cleanup
// kills it if it still runs.
func (in *Instance) StartCLI(args ...string) *Proc {
	in.t.Helper()
	p := &Proc{t: in.t, in: in, out: new(syncBuffer), errOut: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(Binary(in.t), args...)
	p.cmd.Env = in.cliEnv(nil)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	if err := p.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	in.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// WaitOutput waits until stdout contains s, within timeout.
func (p *Proc) WaitOutput(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for i := 0; i < int(timeout/readyPoll)+1 && time.Now().Before(deadline); i++ {
		if strings.Contains(p.out.String(), s) {
			return true
		}
		select {
		case <-p.done:
			return strings.Contains(p.out.String(), s)
		case <-time.After(readyPoll):
		}
	}
	return strings.Contains(p.out.String(), s)
}

// Signal sends sig to the command.
func (p *Proc) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Wait waits for the command to exit (killing it after timeout) and
// returns its result.
func (p *Proc) Wait(timeout time.Duration) Result {
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Errorf("keygate %s did not exit within %s; killing it", strings.Join(p.cmd.Args[1:], " "), timeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	r := Result{Args: p.cmd.Args[1:], Stdout: p.out.String(), Stderr: p.errOut.String(), Code: p.cmd.ProcessState.ExitCode()}
	p.in.mu.Lock()
	p.in.cliOut.WriteString(r.Stdout)
	p.in.cliOut.WriteString(r.Stderr)
	p.in.mu.Unlock()
	return r
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
