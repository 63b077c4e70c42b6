// Command load compares keygate with plain Caddy, side by side in one run,
// on loopback:
//
//	go run ./integration/load [-rounds 3] [-duration 10s] [-conns 32] [-postgres=false] [-features=false] [-sizes 1KiB]
//
// It builds keygate, starts a small upstream, and runs one keygate process
// (badger storage) with these sites: (A) plain reverse_proxy with a static
// `header_up Authorization`, (B) keygate's egress route and (C) keygate's
// ingress route, plus egress routes with scrubbing on and off for answers of
// 1 KiB, 64 KiB and 1 MiB (-sizes). Every feature that applies to the
// egress and ingress paths is on unless -features=false (allFeatures).
// With -postgres (the default when initdb and
// pg_ctl are found) it also starts a throwaway PostgreSQL cluster and a
// second keygate process on `storage postgres` with the same egress and
// ingress routes (B_pg, C_pg), and reads pg_stat_database around their runs
// to show the hot path reads no rows. It drives every target with the same
// bounded wrk load, each round cut into slices that run every target in
// turn (forward, then backward) so that drift falls on all alike, and
// prints requests per second, p50 and p99, and per-round ratios with their
// spread: a target counts as met only when every round meets it. Then it
// runs hey at half of A's peak rate, in interleaved rounds, and prints the
// p99 latency keygate adds.
// wrk and hey are installed from Debian's packages when missing (as root).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keygate/keygate/store/pgtest"
)

var (
	rounds   = flag.Int("rounds", 3, "rounds of all targets")
	duration = flag.Duration("duration", 10*time.Second, "time each target is driven in a round")
	nslices  = flag.Int("slices", 3, "slices a round's time on each target is cut into, interleaved with the other targets")
	conns    = flag.Int("conns", 32, "concurrent connections")
	threads  = flag.Int("threads", 1, "wrk threads")
	keep     = flag.Bool("keep", false, "keep the work directory")
	hold     = flag.Duration("hold", 0, "after setup, print the targets and wait this long (for profiling) instead of measuring")
	postgres = flag.Bool("postgres", pgInstalled(), "also run a keygate node on a throwaway PostgreSQL cluster")
	features = flag.Bool("features", true, "every feature on the egress and ingress paths (see allFeatures); false: the routes bare, as runs before 2026-12-04")
	sizes    = flag.String("sizes", "1KiB,64KiB,1MiB", "upstream answer sizes the scrubbing cost is measured at (comma-separated; none: no scrub targets)")
)

// scrubSizes are the upstream answer sizes the scrubbing cost is measured at.
var scrubSizes []int

// parseSizes reads -sizes.
func parseSizes(v string) []int {
	var out []int
	for _, f := range strings.Split(v, ",") {
		switch f = strings.TrimSpace(f); f {
		case "", "none":
		case "1KiB":
			out = append(out, 1<<10)
		case "64KiB":
			out = append(out, 64<<10)
		case "1MiB":
			out = append(out, 1<<20)
		default:
			fatal("-sizes: %q is not one of 1KiB, 64KiB, 1MiB, none", f)
		}
	}
	return out
}

// cleanups run at exit, also on fatal, so no keygate or PostgreSQL process
// outlives the script.
var cleanups []func()

func main() {
	flag.Parse()
	scrubSizes = parseSizes(*sizes)
	if *rounds < 1 || *rounds > 20 || *duration < time.Second || *duration > 2*time.Minute {
		fatal("rounds must be 1..20 and duration 1s..2m")
	}
	if *nslices < 1 || *duration/time.Duration(*nslices) < time.Second {
		fatal("slices must be at least 1, and each slice at least 1s long")
	}
	defer cleanup()
	cleanupOnSignal()
	ensureTools()
	work, err := os.MkdirTemp("", "keygate-load-")
	check(err)
	if !*keep {
		atExit(func() { os.RemoveAll(work) })
	}

	bin := filepath.Join(work, "keygate")
	run("go", "build", "-o", bin, "./cmd/keygate")
	if *proxyMode {
		runProxyLoad(bin, work)
		return
	}

	var upstreamHits atomic.Int64
	var captured atomic.Value // the invocation token the package got
	body := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz012345"), (1<<20)/32)
	up := listen()
	go http.Serve(up, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/capture" {
			captured.Store(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		}
		if s, ok := strings.CutPrefix(r.URL.Path, "/size/"); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > len(body) {
				http.Error(w, "size out of range", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(body[:n])
			return
		}
		w.Write([]byte("ok"))
	}))
	upAddr := up.Addr().String()

	bg := startNode(bin, work, "badger", "badger "+filepath.Join(work, "store"), adminAddr(2999), upAddr, &captured)
	targets := []target{
		{name: "A plain reverse_proxy", url: bg.plain + "/x"},
		{name: "B keygate egress", url: bg.egress + "/x", headers: bg.egressHeaders()},
		{name: "C keygate ingress", url: bg.ingress + "/x", headers: bg.ingressHeaders()},
	}
	var pg *node
	var stats *pgStats
	if *postgres {
		cluster, err := pgtest.Start()
		if err != nil {
			fatal("postgres: %v (run with -postgres=false to skip)", err)
		}
		atExit(func() { cluster.Stop() })
		dsn, err := cluster.NewDatabase("load")
		check(err)
		pg = startNode(bin, work, "postgres", "postgres "+strconv.Quote(dsn), adminAddr(2998), upAddr, &captured)
		stats = openStats(dsn)
		targets = append(targets,
			target{name: "B_pg keygate egress", url: pg.egress + "/x", headers: pg.egressHeaders(), pg: true},
			target{name: "C_pg keygate ingress", url: pg.ingress + "/x", headers: pg.ingressHeaders(), pg: true},
		)
	}
	for _, n := range scrubSizes {
		path := "/size/" + strconv.Itoa(n)
		targets = append(targets,
			target{name: "S" + sizeName(n) + " scrub on", url: bg.egress + path, headers: bg.egressHeaders()},
			target{name: "S" + sizeName(n) + " scrub off", url: bg.egressNoScrub + path, headers: bg.egressHeaders()},
		)
	}
	for _, t := range targets {
		if st := probe(t); st != 200 {
			fatal("%s answers %d before the load", t.name, st)
		}
	}
	scrapes := new(atomic.Int64)
	for _, n := range []*node{bg, pg} {
		if n != nil && n.metrics != "" {
			go scrape(n.metrics, scrapes)
		}
	}

	if *hold > 0 {
		for _, t := range targets {
			fmt.Printf("%s: %s %q\n", t.name, t.url, t.headers)
		}
		time.Sleep(*hold)
		return
	}
	fmt.Printf("keygate load comparison: %s, %d CPUs (%s), %s\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), runtime.Version())
	slice := *duration / time.Duration(*nslices)
	if *features {
		fmt.Printf("every feature on: audit log block (keygate.audit to a file), keychain_rate and package rate, an approve rule not matched, token_header, metrics site scraped every 2s, keygate_proxy site beside; scrubbing on (B, C_pg: default)\n")
	} else {
		fmt.Printf("features off (-features=false): the routes bare\n")
	}
	fmt.Printf("wrk -t%d -c%d, %d rounds of %d targets, each %s a round in %d interleaved slices of %s; keep-alive, upstream on loopback\n\n", *threads, *conns, *rounds, len(targets), *duration, *nslices, slice)
	// The PostgreSQL node's background (jobs, pool upkeep) over a window as
	// long as a run, without load: what the load windows are compared with.
	var idle statDelta
	if pg != nil {
		s0 := stats.snap()
		time.Sleep(*duration)
		idle = stats.snap().since(s0)
	}
	results := make([][]wrkResult, len(targets))
	var dbDelta statDelta // summed over every B_pg and C_pg run
	for r := 0; r < *rounds; r++ {
		// A round runs every target in slices, forward then backward and
		// so on, so that the machine's drift over the round falls on all
		// targets alike rather than on whichever ran in a slow moment.
		parts := make([][]wrkResult, len(targets))
		for sl := 0; sl < *nslices; sl++ {
			for j := range targets {
				i := j
				if sl%2 == 1 {
					i = len(targets) - 1 - j
				}
				t := targets[i]
				var before statSnap
				if t.pg {
					before = stats.snap()
				}
				res := wrk(t, slice)
				if t.pg {
					d := stats.snap().since(before)
					d.requests = res.requests
					dbDelta.add(d)
				}
				parts[i] = append(parts[i], res)
			}
		}
		for i, t := range targets {
			res := combine(parts[i])
			results[i] = append(results[i], res)
			fmt.Printf("round %d  %-24s %9.0f req/s  p50 %-8s p99 %-8s errors %d\n", r+1, t.name, res.rps, res.p50, res.p99, res.errors)
		}
	}
	med := make([]wrkResult, len(targets))
	fmt.Printf("\nmedians:\n")
	for i, t := range targets {
		med[i] = median(results[i])
		fmt.Printf("  %-24s %9.0f req/s  p50 %-8s p99 %s\n", t.name, med[i].rps, med[i].p50, med[i].p99)
	}
	fmt.Println()
	idx := func(name string) int {
		for i, t := range targets {
			if t.name == name {
				return i
			}
		}
		return -1
	}
	ratio("B/A (egress)", results[idx("B keygate egress")], results[0], 0.95)
	ratio("C/A (ingress)", results[idx("C keygate ingress")], results[0], 0.90)
	if pg != nil {
		ratio("B_pg/B (pg egress)", results[idx("B_pg keygate egress")], results[idx("B keygate egress")], 0.90)
		ratio("C_pg/C (pg ingress)", results[idx("C_pg keygate ingress")], results[idx("C keygate ingress")], 0.90)
	}
	for _, n := range scrubSizes {
		s := "S" + sizeName(n)
		target := 0.0 // larger answers: reported, no target
		if n == 1<<10 {
			target = 0.95
		}
		ratio(s+" scrub on/off", results[idx(s+" scrub on")], results[idx(s+" scrub off")], target)
	}
	if pg != nil {
		fmt.Printf("\nPOSTGRES counters of the keygate database (pg_stat_database, pg_stat_user_tables; each window ends 1.5 s after its run)\n")
		fmt.Printf("  load: B_pg and C_pg runs, %d requests in %.0f s of windows; idle: one %.0f s window before the rounds\n", dbDelta.requests, dbDelta.secs, idle.secs)
		fmt.Printf("  %-30s %10s %12s %10s %10s\n", "", "load", "per request", "load/s", "idle/s")
		for _, row := range []struct {
			name       string
			load, idle int64
		}{
			{"rows read, keygate tables", dbDelta.userRead, idle.userRead},
			{"rows read, all (with catalog)", dbDelta.read, idle.read},
			{"rows written (audit batches)", dbDelta.written, idle.written},
			{"transactions (script: 2/run)", dbDelta.xacts, idle.xacts},
		} {
			fmt.Printf("  %-30s %10d %12.4f %10.1f %10.1f\n", row.name, row.load, dbDelta.per(row.load), dbDelta.rate(row.load), idle.rate(row.idle))
		}
	}

	// Latency at half of A's peak: the same fixed rate for A, B, C (and the
	// PostgreSQL node's B_pg, C_pg).
	rate := int(med[0].rps / 2)
	workers := 8
	latTargets := targets[:3]
	if pg != nil {
		latTargets = targets[:5]
	}
	// Each round runs every target for one slice, in turn; the added p99
	// is taken per round against A's run of that round, its median
	// reported with its spread, as the ratios are.
	fmt.Printf("\nlatency at half of A's peak (%d req/s, hey -c %d, %d rounds of %s per target, interleaved):\n", rate, workers, *rounds, slice)
	lat := make([][]heyResult, len(latTargets))
	for r := 0; r < *rounds; r++ {
		for j := range latTargets {
			i := j
			if r%2 == 1 {
				i = len(latTargets) - 1 - j
			}
			lat[i] = append(lat[i], hey(latTargets[i], rate, workers, slice))
		}
	}
	for i, t := range latTargets {
		m := lat[i][0]
		p99s := make([]time.Duration, len(lat[i]))
		for r, l := range lat[i] {
			p99s[r] = l.p99
		}
		fmt.Printf("  %-24s p99 per round %v (%0.f req/s done in the first)\n", t.name, p99s, m.rps)
	}
	fmt.Println()
	for i, t := range latTargets[1:] {
		added := make([]time.Duration, *rounds)
		for r := range added {
			added[r] = lat[i+1][r].p99 - lat[0][r].p99
		}
		slices.Sort(added)
		verdict := "UNDECIDED (spread straddles it)"
		switch {
		case added[len(added)-1] < time.Millisecond:
			verdict = "MET"
		case added[0] >= time.Millisecond:
			verdict = "MISSED"
		}
		fmt.Printf("ADDED p99 %-8s %-9s (rounds: %s .. %s)   target < 1ms: %s\n", strings.SplitN(t.name, " ", 2)[0], added[len(added)/2], added[0], added[len(added)-1], verdict)
	}
	if *features {
		fmt.Printf("\nmetrics scrapes: %d\n", scrapes.Load())
	}
	fmt.Printf("\nupstream requests served: %d\n", upstreamHits.Load())
}

// ratio prints the median of per-round ratios a/b and their spread. Ratios
// are taken per round, from runs next to each other: on a shared machine the
// drift between rounds is as large as the effect measured. A target is met
// only when the worst round meets it, missed only when the best misses it.
func ratio(label string, a, b []wrkResult, target float64) {
	rs := make([]float64, len(a))
	for r := range rs {
		rs[r] = a[r].rps / b[r].rps
	}
	sort.Float64s(rs)
	lo, hi := rs[0], rs[len(rs)-1]
	verdict := ""
	switch {
	case target == 0:
		verdict = "(no target)"
	case lo >= target:
		verdict = fmt.Sprintf("target >= %.2f: MET", target)
	case hi < target:
		verdict = fmt.Sprintf("target >= %.2f: MISSED", target)
	default:
		verdict = fmt.Sprintf("target >= %.2f: UNDECIDED (spread straddles it)", target)
	}
	fmt.Printf("RATIO %-22s %.3f   (rounds: %.3f .. %.3f)   %s\n", label, rs[len(rs)/2], lo, hi, verdict)
}

// node is one keygate process: its sites, its admin token, and the agent's
// keygate token and the invocation token its package got.
type node struct {
	plain, egress, egressNoScrub, ingress, api string
	admin, agentToken, invocation              string
	metrics                                    string // the metrics site, with -features
}

func (n *node) egressHeaders() []string { return []string{"Authorization: Bearer " + n.invocation} }
func (n *node) ingressHeaders() []string {
	return []string{"Host: tools.pkg.test", "Authorization: Bearer " + n.agentToken}
}

// allFeatures is what -features adds to a node, every round-2 and round-3
// feature that applies to the egress and ingress paths, each set so that it
// is checked on every request and never refuses one: the audit trail copied
// to a log that names keygate.audit (the store keeps it anyway), a
// per-keychain rate (keychain_rate) and a per-package rate on the package
// site, an approve rule on the key that the load's requests never match
// (the held-call check runs, nothing is held), a token_header on the egress
// routes (looked for first, absent, then Authorization), Caddy's metrics
// site scraped every 2 s as Prometheus would, and the proxy site
// (keygate_proxy) serving beside. Scrubbing is on by default. A's site is
// plain Caddy whatever this says.
type allFeatures struct {
	global, packageSite, egress, sites string
}

func featuresFor(dir string, metricsPort, proxyPort int) allFeatures {
	if !*features {
		return allFeatures{}
	}
	return allFeatures{
		global: fmt.Sprintf(`
	log audit {
		include keygate.audit
		output file %s {
			roll_size 512MiB
		}
		format json
	}`, filepath.Join(dir, "audit.log")),
		packageSite: `
		rate 1000000/s burst 1000000`,
		egress: `
			token_header X-Api-Key`,
		sites: fmt.Sprintf(`
http://:%d {
	bind 127.0.0.1
	metrics /metrics
}
http://:%d {
	bind 127.0.0.1
	keygate_proxy {
		allow_private_upstreams
	}
}
`, metricsPort, proxyPort),
	}
}

// startNode runs keygate with storage (a Caddyfile "storage" argument list),
// sets up a keychain, package and grant, and makes one agent call.
func startNode(bin, work, label, storage, adminAt, upAddr string, captured *atomic.Value) *node {
	ports := freePorts(7)
	admin := "kgadm_" + randHex(16)
	master := make([]byte, 32)
	rand.Read(master)
	dir := filepath.Join(work, label)
	f := featuresFor(dir, ports[5], ports[6])
	keychainRate := ""
	if *features {
		keychainRate = "\n\t\tkeychain_rate 1000000/s burst 1000000"
	}
	caddyfile := fmt.Sprintf(`{
	admin %[10]s%[11]s
	keygate {
		storage %[1]s
		master_key %[2]s
		admin_token %[3]s
		invocation_ttl 1h%[12]s
	}
}
http://:%[4]d {
	bind 127.0.0.1
	reverse_proxy %[9]s {
		header_up Authorization "Bearer sk_static_0123456789abcdef"
	}
}
http://:%[5]d {
	bind 127.0.0.1
	reverse_proxy %[9]s {
		transport keygate {
			secret API_KEY%[14]s
		}
	}
}
http://:%[6]d {
	bind 127.0.0.1
	reverse_proxy %[9]s {
		transport keygate {
			secret API_KEY
			scrub off%[14]s
		}
	}
}
http://*.pkg.test:%[7]d {
	bind 127.0.0.1
	keygate_package {
		suffix pkg.test%[13]s
	}
}
http://:%[8]d {
	bind 127.0.0.1
	keygate_api
}
%[15]s`, storage, base64.StdEncoding.EncodeToString(master), admin, ports[0], ports[1], ports[2], ports[3], ports[4], upAddr, adminAt,
		f.global, keychainRate, f.packageSite, f.egress, f.sites)
	runKeygate(bin, dir, caddyfile)
	loop := func(p int) string { return fmt.Sprintf("http://127.0.0.1:%d", p) }
	n := &node{plain: loop(ports[0]), egress: loop(ports[1]), egressNoScrub: loop(ports[2]), ingress: loop(ports[3]), api: loop(ports[4]), admin: admin}
	if *features {
		n.metrics = loop(ports[5]) + "/metrics"
	}
	waitUp(n.api+"/v1/packages", filepath.Join(dir, "keygate.log"))

	// A keychain with a secret, a package whose code is the upstream, and
	// the grant; then one agent call hands us an invocation token.
	var kc struct{ ID, Token string }
	apiCall(n.api, admin, "POST", "/v1/keychains", map[string]any{"owner": "load"}, &kc)
	apiCall(n.api, admin, "PUT", "/v1/keychains/"+kc.ID+"/secrets/API_KEY",
		map[string]any{"value": "sk_live_" + randHex(16), "allowed_hosts": []string{"127.0.0.1"}}, nil)
	key := map[string]any{"name": "API_KEY", "required": true}
	if *features {
		// Checked on every egress call, matched by none of the load's.
		key["approve"] = []map[string]any{{"method": "DELETE", "host": "127.0.0.1", "path": "/admin/*"}}
	}
	apiCall(n.api, admin, "PUT", "/v1/packages/@load/tools", map[string]any{
		"name": "@load/tools", "version": "1.0.0", "host": "tools", "upstream": "http://" + upAddr,
		"sha256": strings.Repeat("ab", 32),
		"keys":   []map[string]any{key},
	}, nil)
	apiCall(n.api, admin, "PUT", "/v1/keychains/"+kc.ID+"/grants/@load/tools", map[string]any{"keys": []string{"API_KEY"}}, nil)
	n.agentToken = kc.Token
	captured.Store("")
	req, _ := http.NewRequest("GET", n.ingress+"/capture", nil)
	req.Host = "tools.pkg.test"
	req.Header.Set("Authorization", "Bearer "+kc.Token)
	res, err := http.DefaultClient.Do(req)
	check(err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	n.invocation, _ = captured.Load().(string)
	if res.StatusCode != 200 || n.invocation == "" {
		fatal("setup (%s): ingress call answered %d", label, res.StatusCode)
	}
	return n
}

// runKeygate runs keygate from caddyfile in dir (its Caddyfile, log and
// home) until the script exits.
func runKeygate(bin, dir, caddyfile string) {
	check(os.MkdirAll(dir, 0o700))
	cfgPath := filepath.Join(dir, "Caddyfile")
	check(os.WriteFile(cfgPath, []byte(caddyfile), 0o600))
	logf, err := os.Create(filepath.Join(dir, "keygate.log"))
	check(err)
	proc := exec.Command(bin, "run", "--config", cfgPath)
	proc.Stdout, proc.Stderr = logf, logf
	proc.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	check(proc.Start())
	atExit(func() {
		proc.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { proc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			proc.Process.Kill()
		}
	})
}

// pgStats reads the keygate database's counters from pg_stat_database on a
// connection of its own.
type pgStats struct{ conn *pgx.Conn }

// statSnap holds counters of one database: rows read (all, and of keygate's
// own tables, the rest being the catalog), rows written, transactions.
type statSnap struct {
	read, userRead, written, xacts int64
	at                             time.Time
}

type statDelta struct {
	read, userRead, written, xacts int64
	requests                       int64
	secs                           float64
}

func openStats(dsn string) *pgStats {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	check(err)
	atExit(func() { conn.Close(context.Background()) })
	return &pgStats{conn: conn}
}

// snap waits out PostgreSQL's stats flush interval (backends publish their
// counters at most once a second) and reads the counters.
func (p *pgStats) snap() statSnap {
	time.Sleep(1500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s statSnap
	_, err := p.conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()")
	check(err)
	err = p.conn.QueryRow(ctx, `SELECT tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted,
		xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&s.read, &s.written, &s.xacts)
	check(err)
	err = p.conn.QueryRow(ctx, `SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)::bigint
		FROM pg_stat_user_tables`).Scan(&s.userRead)
	check(err)
	s.at = time.Now()
	return s
}

func (s statSnap) since(b statSnap) statDelta {
	return statDelta{read: s.read - b.read, userRead: s.userRead - b.userRead, written: s.written - b.written,
		xacts: s.xacts - b.xacts, secs: s.at.Sub(b.at).Seconds()}
}

func (d *statDelta) add(o statDelta) {
	d.read += o.read
	d.written += o.written
	d.xacts += o.xacts
	d.requests += o.requests
	d.secs += o.secs
}

func (d statDelta) rate(v int64) float64 { return float64(v) / d.secs }

func (d statDelta) per(v int64) float64 {
	if d.requests == 0 {
		return 0
	}
	return float64(v) / float64(d.requests)
}

func pgInstalled() bool {
	for _, b := range []string{"initdb", "pg_ctl"} {
		if _, err := exec.LookPath(b); err != nil {
			return false
		}
	}
	return true
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}

type target struct {
	name    string
	url     string
	headers []string
	pg      bool // on the PostgreSQL node: its database counters are read around the run
}

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
	requests int64
}

var (
	rpsRe    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	pctRe    = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\b`)
	non2xxRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reqsRe   = regexp.MustCompile(`(\d+) requests in`)
	sockRe   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func wrk(t target, d time.Duration) wrkResult {
	args := []string{"-t" + strconv.Itoa(*threads), "-c" + strconv.Itoa(*conns), "-d" + d.String(), "--latency"}
	for _, h := range t.headers {
		args = append(args, "-H", h)
	}
	out := output("wrk", append(args, t.url)...)
	var r wrkResult
	m := rpsRe.FindStringSubmatch(out)
	if m == nil {
		fatal("wrk output without Requests/sec:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, m := range pctRe.FindAllStringSubmatch(out, -1) {
		d := parseDur(m[2], m[3])
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := reqsRe.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := non2xxRe.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.errors += n
	}
	if m := sockRe.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.errors += n
		}
	}
	return r
}

type heyResult struct {
	rps      float64
	p50, p99 time.Duration
}

var (
	heyPct = regexp.MustCompile(`(?m)^\s+(50|99)% in ([\d.]+) secs`)
	heyRPS = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
)

func hey(t target, rate, workers int, d time.Duration) heyResult {
	perWorker := max(rate/workers, 1)
	args := []string{"-z", d.String(), "-c", strconv.Itoa(workers), "-q", strconv.Itoa(perWorker)}
	for _, h := range t.headers {
		if host, ok := strings.CutPrefix(h, "Host: "); ok {
			args = append(args, "-host", host)
			continue
		}
		args = append(args, "-H", h)
	}
	out := output("hey", append(args, t.url)...)
	var r heyResult
	if m := heyRPS.FindStringSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range heyPct.FindAllStringSubmatch(out, -1) {
		d := parseDur(m[2], "s")
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	return r
}

// scrape reads the metrics site every 2 s until the script ends, as
// Prometheus would; it only counts the scrapes that answered 200.
func scrape(url string, n *atomic.Int64) {
	c := &http.Client{Timeout: 5 * time.Second}
	for range time.Tick(2 * time.Second) {
		res, err := c.Get(url)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == 200 {
			n.Add(1)
		}
	}
}

func parseDur(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond)).Round(time.Microsecond)
	}
	return time.Duration(f * float64(time.Second)).Round(time.Microsecond)
}

// combine makes one round's result of a target's slices, all as long:
// the requests and errors summed, the mean rate, the median slice's p50
// and the worst slice's p99.
func combine(parts []wrkResult) wrkResult {
	var r wrkResult
	p50s := make([]time.Duration, 0, len(parts))
	for _, p := range parts {
		r.requests += p.requests
		r.errors += p.errors
		r.rps += p.rps
		r.p99 = max(r.p99, p.p99)
		p50s = append(p50s, p.p50)
	}
	r.rps /= float64(len(parts))
	slices.Sort(p50s)
	r.p50 = p50s[len(p50s)/2]
	return r
}

// median takes the median run by requests per second.
func median(rs []wrkResult) wrkResult {
	s := append([]wrkResult(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].rps < s[j].rps })
	return s[len(s)/2]
}

func probe(t target) int {
	req, _ := http.NewRequest("GET", t.url, nil)
	for _, h := range t.headers {
		k, v, _ := strings.Cut(h, ": ")
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func apiCall(api, admin, method, path string, body, out any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, api+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	check(err)
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		fatal("setup: %s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		check(json.Unmarshal(data, out))
	}
}

func waitUp(url, logPath string) {
	for i := 0; i < 300; i++ {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	fatal("keygate did not start; see %s (run with -keep to keep it)", logPath)
}

// ensureTools installs wrk and hey from Debian's packages when missing.
func ensureTools() {
	var missing []string
	for _, tool := range []string{"wrk", "hey"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Geteuid() != 0 {
		fatal("missing %v: install them (apt-get install %s)", missing, strings.Join(missing, " "))
	}
	run("apt-get", "update", "-qq")
	run("apt-get", append([]string{"install", "-y", "-qq"}, missing...)...)
}

// adminAddr keeps Caddy's admin endpoint (and its /debug/pprof) off,
// except while holding for a profile: then it is on port on loopback.
func adminAddr(port int) string {
	if *hold > 0 {
		return "127.0.0.1:" + strconv.Itoa(port)
	}
	return "off"
}

func listen() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	return l
}

func freePorts(n int) []int {
	var ls []net.Listener
	var ps []int
	for i := 0; i < n; i++ {
		l := listen()
		ls = append(ls, l)
		ps = append(ps, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ps
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fatal("%s %s: %v", name, strings.Join(args, " "), err)
	}
}

func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		fatal("%s: %v\n%s", name, err, out)
	}
	return string(out)
}

func check(err error) {
	if err != nil {
		fatal("%v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	cleanup()
	os.Exit(1)
}

// cleanup runs the cleanups, last registered first, once.
func cleanup() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for len(cleanups) > 0 {
		f := cleanups[len(cleanups)-1]
		cleanups = cleanups[:len(cleanups)-1]
		f()
	}
}

var cleanupMu sync.Mutex

// atExit adds f to what cleanup runs, last added first.
func atExit(f func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, f)
	cleanupMu.Unlock()
}

// cleanupOnSignal runs the cleanups on SIGINT or SIGTERM (a load run or a
// -hold stopped by hand), so that no keygate or PostgreSQL outlives it.
func cleanupOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		cleanup()
		os.Exit(130)
	}()
}
