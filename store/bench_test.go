package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Benchmarks: go test -bench . -benchmem ./store/...
// The 1,000,000-secret case runs only with KEYGATE_BENCH_LARGE=1
// (KEYGATE_BENCH_DIR keeps its data between runs).

const (
	largeEnv      = "KEYGATE_BENCH_LARGE"
	largeDirEnv   = "KEYGATE_BENCH_DIR"
	childDirEnv   = "KEYGATE_BENCH_CHILD_DIR"
	childCountEnv = "KEYGATE_BENCH_CHILD_KEYCHAINS"
	secretsPerKC  = 100
)

var benchValueBytes = []byte("sk_live_51H8xYzAbCdEfGhIjKlMnOpQrStUvWxYz0123456789") // a typical API key

// benchKeychainID is a deterministic, valid keychain id for bulk loads.
func benchKeychainID(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return "kc_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

func benchSecretName(j int) string { return fmt.Sprintf("SECRET_%03d", j) }

// bulkLoad writes keychains x secretsPerKC sealed secrets straight through
// a Badger WriteBatch (same records PutSecret writes, without one fsync
// per secret), then compacts so reads see a settled LSM tree.
func bulkLoad(tb testing.TB, s *Store, keychains int) {
	tb.Helper()
	db := raw(s.be).(*badgerBackend).db
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	now := s.now()
	for i := range keychains {
		id := benchKeychainID(i)
		kc, _ := json.Marshal(Keychain{ID: id, Owner: "bench", Environment: defaultEnv, CreatedAt: now, TokenVersion: 1})
		must(tb, wb.Set(key(pfxKeychain, id), kc))
		must(tb, wb.Set(key(pfxOwner, "bench", id), nil))
		for j := range secretsPerKC {
			ref := userSecret(id, benchSecretName(j))
			meta := encodeSecretMeta(&SecretMeta{Name: ref.name, AllowedHosts: []string{"api.stripe.com"}, CreatedAt: now, UpdatedAt: now})
			ctx := ref.sealContext(1, meta)
			blob, err := seal(s.kr, &ctx, benchValueBytes)
			must(tb, err)
			must(tb, wb.Set(ref.key(), encodeRecord(1, meta, blob)))
		}
	}
	must(tb, wb.Flush())
	must(tb, db.Flatten(2))
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkSeal(b *testing.B) {
	kr := testKeyring(b, "k1")
	ctx := sealContext{Scope: scopeUser, Owner: benchKeychainID(0), Name: "STRIPE_SECRET_KEY", Version: 1, Meta: []byte(`{"name":"STRIPE_SECRET_KEY","allowed_hosts":["api.stripe.com"]}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal(kr, &ctx, benchValueBytes); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	kr := testKeyring(b, "k1")
	ctx := sealContext{Scope: scopeUser, Owner: benchKeychainID(0), Name: "STRIPE_SECRET_KEY", Version: 1, Meta: []byte(`{"name":"STRIPE_SECRET_KEY","allowed_hosts":["api.stripe.com"]}`)}
	blob, _ := seal(kr, &ctx, benchValueBytes)
	buf := make([]byte, 0, len(blob))
	b.ReportAllocs()
	for b.Loop() {
		v, err := open(kr, &ctx, blob, buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		clear(v)
	}
}

// benchReads does b.N OpenSecret calls on random stored secrets.
func benchReads(b *testing.B, s *Store, keychains int) {
	ids := make([]string, keychains)
	for i := range ids {
		ids[i] = benchKeychainID(i)
	}
	names := make([]string, secretsPerKC)
	for j := range names {
		names[j] = benchSecretName(j)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noop := func(SecretMeta, []byte) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.OpenSecret(ids[rng.IntN(keychains)], names[rng.IntN(secretsPerKC)], noop); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetAndOpen10k reads and opens one secret out of 10,000, with
// the metadata cache (which then holds every record) and without it (every
// read goes to Badger).
func BenchmarkGetAndOpen10k(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache int64
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			s, err := Open(Options{Dir: dir, Keyring: testKeyring(b, "k1"), CacheBytes: tc.cache})
			must(b, err)
			defer s.Close()
			bulkLoad(b, s, 10_000/secretsPerKC)
			benchReads(b, s, 10_000/secretsPerKC)
		})
	}
}

// BenchmarkHotPathMetadata is what the proxy asks per request before it
// opens anything.
func BenchmarkHotPathMetadata(b *testing.B) {
	s, _ := memStore(b)
	kc := mustKeychain(b, s)
	mustPackage(b, s, "@acme/tools", "tools")
	s.PutSecret(kc.ID, "STRIPE_SECRET_KEY", benchValueBytes, SecretOptions{})
	if _, err := s.PutGrant(kc.ID, "@acme/tools", []string{"STRIPE_SECRET_KEY"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetKeychain(kc.ID); err != nil {
			b.Fatal(err)
		}
		if _, err := s.GetPackageByHost("tools"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.GetGrant(kc.ID, "@acme/tools"); err != nil {
			b.Fatal(err)
		}
		if ok, _ := s.HasSecret(kc.ID, "STRIPE_SECRET_KEY"); !ok {
			b.Fatal("HasSecret")
		}
	}
}

// largeStore holds the 1M-secret directory across the benchmark's runs.
var largeStore struct {
	once    sync.Once
	dir     string
	temp    bool
	err     error
	child   map[string]float64
	loadDur time.Duration
}

const largeKeychains = 1_000_000 / secretsPerKC

func BenchmarkGetAndOpen1M(b *testing.B) {
	if os.Getenv(largeEnv) != "1" {
		b.Skip("set " + largeEnv + "=1 to store and read 1,000,000 secrets")
	}
	largeStore.once.Do(func() { largeStore.err = setupLarge(b) })
	if largeStore.err != nil {
		b.Fatal(largeStore.err)
	}
	s, err := Open(Options{Dir: largeStore.dir, Keyring: testKeyring(b, "k1")})
	must(b, err)
	defer s.Close()
	benchReads(b, s, largeKeychains)
	b.StopTimer()
	for _, m := range []string{"open_ms", "p50_us", "p99_us", "p999_us", "rss_after_open_MiB", "rss_after_reads_MiB", "rss_anon_MiB", "rss_file_MiB"} {
		b.ReportMetric(largeStore.child[m], m)
	}
	b.Logf("1M: load %v; fresh process: %v", largeStore.loadDur.Round(time.Second), largeStore.child)
}

// setupLarge loads 1M secrets once (or reuses KEYGATE_BENCH_DIR), then
// measures start-up, read latency and RSS in a fresh process.
func setupLarge(b *testing.B) error {
	dir := os.Getenv(largeDirEnv)
	if dir == "" {
		d, err := os.MkdirTemp("", "keygate-bench-1m-")
		if err != nil {
			return err
		}
		dir, largeStore.temp = d, true
	}
	largeStore.dir = dir
	if _, err := os.Stat(dir + "/" + badgerManifest); err != nil {
		start := time.Now()
		s, err := Open(Options{Dir: dir, Keyring: testKeyring(b, "k1")})
		if err != nil {
			return err
		}
		bulkLoad(b, s, largeKeychains)
		if err := s.Close(); err != nil {
			return err
		}
		largeStore.loadDur = time.Since(start)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLargeReadChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childCountEnv+"="+strconv.Itoa(largeKeychains))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("child: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if _, js, ok := strings.Cut(sc.Text(), "BENCHRESULT "); ok {
			return json.Unmarshal([]byte(js), &largeStore.child)
		}
	}
	return fmt.Errorf("child printed no result:\n%s", out)
}

// TestLargeReadChild runs in a fresh process for BenchmarkGetAndOpen1M:
// it times Open, 200,000 single random reads (p50/p99/p99.9) and reads
// VmRSS, so the numbers exclude the loader's memory.
func TestLargeReadChild(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("helper process for BenchmarkGetAndOpen1M")
	}
	keychains, _ := strconv.Atoi(os.Getenv(childCountEnv))
	start := time.Now()
	s, err := Open(Options{Dir: dir, Keyring: testKeyring(t, "k1")})
	if err != nil {
		t.Fatal(err)
	}
	openDur := time.Since(start)
	defer s.Close()
	rssOpen := procStatusMiB(t, "VmRSS")

	const reads = 200_000
	rng := rand.New(rand.NewPCG(3, 4))
	lat := make([]time.Duration, reads)
	noop := func(SecretMeta, []byte) error { return nil }
	for i := range lat {
		kc, name := benchKeychainID(rng.IntN(keychains)), benchSecretName(rng.IntN(secretsPerKC))
		t0 := time.Now()
		if err := s.OpenSecret(kc, name, noop); err != nil {
			t.Fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(reads-1))].Nanoseconds()) / 1e3 }
	runtime.GC()
	res := map[string]float64{
		"open_ms":             float64(openDur.Microseconds()) / 1e3,
		"p50_us":              pct(0.50),
		"p99_us":              pct(0.99),
		"p999_us":             pct(0.999),
		"rss_after_open_MiB":  rssOpen,
		"rss_after_reads_MiB": procStatusMiB(t, "VmRSS"),
		"rss_anon_MiB":        procStatusMiB(t, "RssAnon"),
		"rss_file_MiB":        procStatusMiB(t, "RssFile"),
	}
	js, _ := json.Marshal(res)
	fmt.Printf("BENCHRESULT %s\n", js)
}

// procStatusMiB reads a kB field (VmRSS, RssAnon, RssFile) of /proc/self/status.
func procStatusMiB(tb testing.TB, field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
