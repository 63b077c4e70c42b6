package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// heldApp is an App with just what held calls need: an in-memory store,
// its audit queue and the registry.
func heldApp(t testing.TB, maxPending int) (*App, string) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := store.ParseMasterKeys(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{InMemory: true, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	q := newAuditQueue(st, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()
	sh := &shared{store: st, audit: q, held: newHeldRegistry(st)}
	t.Cleanup(func() { cancel(); <-done; sh.held.stop(); st.Close() })
	kc, err := st.CreateKeychain("alice", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return &App{ApprovalMaxPending: maxPending, logger: zap.NewNop(), shared: sh}, kc.ID
}

func approveRec(kc string, i int) store.HeldCall {
	return store.HeldCall{Keychain: kc, Package: "@acme/tools", Key: "API_KEY", Flow: "egress", Method: "POST",
		Host: "api.example.com", Path: fmt.Sprintf("/v1/charges/%d", i), BodySHA256: strings.Repeat("0", 64),
		Shape: fmt.Sprintf("%064x", i), RequestID: fmt.Sprintf("r-%d", i)}
}

// TestThousandHeldCalls parks 1,000 calls on one keychain, measures what
// they cost, and releases every one by a decision.
func TestThousandHeldCalls(t *testing.T) {
	const n = 1000
	a, kc := heldApp(t, n)
	var ms runtime.MemStats
	measure := func() (uint64, int) {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc + ms.StackInuse, runtime.NumGoroutine()
	}
	mem0, g0 := measure()
	results := make(chan *Problem, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- a.HoldApproval(context.Background(), approveRec(kc, i), time.Minute)
		}()
	}
	var calls []store.HeldCall
	waitUntil(t, "1,000 held calls", func() bool {
		calls, _ = a.ListHeld(kc)
		return a.shared.held.count() == n && len(calls) == n
	})
	mem1, g1 := measure()
	t.Logf("%d held calls: %d goroutines more, %.1f KiB more heap and stack (%.2f KiB each), with their store records", n, g1-g0, float64(mem1-mem0)/1024, float64(mem1-mem0)/1024/n)
	if g1-g0 < n || g1-g0 > n+10 {
		t.Fatalf("%d goroutines for %d held calls: one each, and nothing more, expected", g1-g0, n)
	}
	// One more is refused: the limit holds.
	if p := a.HoldApproval(context.Background(), approveRec(kc, n), time.Minute); p == nil || p.Status != 429 {
		t.Fatalf("call %d past the limit: %v", n+1, p)
	}
	for _, c := range calls {
		if _, err := a.DecideHeld(context.Background(), "admin", kc, c.ID, HeldDecision{}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(results)
	for p := range results {
		if p != nil {
			t.Fatalf("a released call answered %v", p)
		}
	}
	if c := a.shared.held.count(); c != 0 {
		t.Fatalf("%d calls still registered", c)
	}
	waitUntil(t, "goroutines back", func() bool { _, g := measure(); return g <= g0+2 })
}

func BenchmarkHeldCall(b *testing.B) {
	a, kc := heldApp(b, 1<<20)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		done := make(chan *Problem, 1)
		go func() { done <- a.HoldApproval(context.Background(), approveRec(kc, i), time.Minute) }()
		var calls []store.HeldCall
		for len(calls) == 0 {
			runtime.Gosched()
			calls, _ = a.ListHeld(kc)
		}
		id := calls[0].ID
		if _, err := a.DecideHeld(context.Background(), "admin", kc, id, HeldDecision{}); err != nil {
			b.Fatal(err)
		}
		if p := <-done; p != nil {
			b.Fatal(p)
		}
	}
}

func TestHeldTimeoutAndRefuse(t *testing.T) {
	a, kc := heldApp(t, 5)
	if p := a.HoldApproval(context.Background(), approveRec(kc, 1), 50*time.Millisecond); p == nil || p.Reason != "approval_required" {
		t.Fatalf("timed out: %v", p)
	}
	done := make(chan *Problem, 1)
	go func() { done <- a.HoldApproval(context.Background(), approveRec(kc, 2), time.Minute) }()
	waitUntil(t, "held", func() bool { return a.shared.held.count() == 1 })
	calls, _ := a.ListHeld(kc)
	if _, err := a.DecideHeld(context.Background(), "admin", kc, calls[0].ID, HeldDecision{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	if p := <-done; p == nil || p.Reason != "refused" {
		t.Fatalf("refused: %v", p)
	}
	// A caller gone: released and its record taken.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- a.HoldApproval(ctx, approveRec(kc, 3), time.Minute) }()
	waitUntil(t, "held", func() bool { return a.shared.held.count() == 1 })
	cancel()
	if p := <-done; p == nil || p.Reason != "caller_gone" {
		t.Fatalf("caller gone: %v", p)
	}
	if calls, _ := a.ListHeld(kc); len(calls) != 0 {
		t.Fatal("the record of a call whose caller left is still listed")
	}
	// A shape approved for a time passes at once, without a hold.
	rec := approveRec(kc, 4)
	go func() { done <- a.HoldApproval(context.Background(), rec, time.Minute) }()
	waitUntil(t, "held", func() bool { return a.shared.held.count() == 1 })
	calls, _ = a.ListHeld(kc)
	if _, err := a.DecideHeld(context.Background(), "admin", kc, calls[0].ID, HeldDecision{For: time.Hour}); err != nil {
		t.Fatal(err)
	}
	<-done
	if p := a.HoldApproval(context.Background(), rec, time.Minute); p != nil || a.shared.held.count() != 0 {
		t.Fatalf("approved shape: %v", p)
	}
}

func TestHeldWebhookSettings(t *testing.T) {
	for _, w := range []ApprovalWebhook{
		{URL: "ftp://p.example/hook", Secret: "whsec_eA=="},
		{URL: "/relative", Secret: "whsec_eA=="},
		{URL: "https://", Secret: "whsec_eA=="},
		{URL: "https://p.example/hook", Secret: "whsec_not base64!"},
		{URL: "https://p.example/hook", Secret: "{env.KEYGATE_TEST_UNSET_SECRET}"},
	} {
		a := &App{ApprovalWebhook: &w}
		if err := a.provisionHeldWebhook(caddy.Context{}, caddy.NewReplacer()); err == nil {
			t.Errorf("%s accepted", w.URL)
		} else if strings.Contains(err.Error(), "not base64") || strings.Contains(err.Error(), "whsec_e") {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
}

func TestHeldOptions(t *testing.T) {
	for _, src := range []string{
		"keygate {\n approval_max_pending\n}",
		"keygate {\n approval_max_pending 0\n}",
		"keygate {\n approval_max_pending -3\n}",
		"keygate {\n approval_max_pending many\n}",
		"keygate {\n approval_max_pending 5 6\n}",
		"keygate {\n approval_wait_max\n}",
		"keygate {\n approval_wait_max 0s\n}",
		"keygate {\n approval_wait_max soon\n}",
		"keygate {\n approval_webhook\n}",
		"keygate {\n approval_webhook https://p.example/hook\n}",
		"keygate {\n approval_webhook https://p.example/hook whsec_eA== extra\n}",
	} {
		if _, err := parseGlobalOption(caddyfile.NewTestDispenser(src), nil); err == nil {
			t.Errorf("%q accepted", src)
		}
	}
	for _, a := range []*App{{ApprovalMaxPending: -1}, {ApprovalMaxPending: 100001}, {ApprovalWaitMax: -1}, {ApprovalWaitMax: caddy.Duration(2 * time.Hour)}} {
		if err := a.validateHeld(); err == nil {
			t.Errorf("max pending %d, wait max %s: valid", a.ApprovalMaxPending, time.Duration(a.ApprovalWaitMax))
		}
	}
}
