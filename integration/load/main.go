// Command load compares keygate with plain Caddy, side by side in one run,
// on loopback:
//
//	go run ./integration/load [-rounds 3] [-duration 10s] [-conns 32]
//
// It builds keygate, starts a small upstream, and runs one keygate process
// with three sites: (A) plain reverse_proxy with a static
// `header_up Authorization`, (B) keygate's egress route and (C) keygate's
// ingress route. It drives each with the same bounded wrk load, alternating
// A, B, C to cancel drift, and prints requests per second, p50 and p99, and
// the ratios B/A and C/A. Then it runs hey at half of A's peak rate and
// prints the p99 latency keygate adds. wrk and hey are installed from
// Debian's packages when missing (as root).
package main

import (
	"bytes"
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
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var (
	rounds   = flag.Int("rounds", 3, "rounds of A, B, C")
	duration = flag.Duration("duration", 10*time.Second, "length of each wrk run")
	conns    = flag.Int("conns", 32, "concurrent connections")
	threads  = flag.Int("threads", 1, "wrk threads")
	keep     = flag.Bool("keep", false, "keep the work directory")
	hold     = flag.Duration("hold", 0, "after setup, print the targets and wait this long (for profiling) instead of measuring")
)

func main() {
	flag.Parse()
	if *rounds < 1 || *rounds > 20 || *duration < time.Second || *duration > 2*time.Minute {
		fatal("rounds must be 1..20 and duration 1s..2m")
	}
	ensureTools()
	work, err := os.MkdirTemp("", "keygate-load-")
	check(err)
	if !*keep {
		defer os.RemoveAll(work)
	}

	bin := filepath.Join(work, "keygate")
	run("go", "build", "-o", bin, "./cmd/keygate")

	var upstreamHits atomic.Int64
	var captured atomic.Value // the invocation token the package got
	up := listen()
	go http.Serve(up, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		if r.URL.Path == "/capture" {
			captured.Store(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok"))
	}))
	upAddr := up.Addr().String()

	ports := freePorts(4)
	admin := "kgadm_" + randHex(16)
	master := make([]byte, 32)
	rand.Read(master)
	caddyfile := fmt.Sprintf(`{
	admin %[9]s
	keygate {
		storage badger %[1]s/store
		master_key %[2]s
		admin_token %[3]s
		invocation_ttl 1h
	}
}
http://:%[4]d {
	bind 127.0.0.1
	reverse_proxy %[8]s {
		header_up Authorization "Bearer sk_static_0123456789abcdef"
	}
}
http://:%[5]d {
	bind 127.0.0.1
	reverse_proxy %[8]s {
		transport keygate {
			secret API_KEY
		}
	}
}
http://*.pkg.test:%[6]d {
	bind 127.0.0.1
	keygate_package {
		suffix pkg.test
	}
}
http://:%[7]d {
	bind 127.0.0.1
	keygate_api
}
`, work, base64.StdEncoding.EncodeToString(master), admin, ports[0], ports[1], ports[2], ports[3], upAddr, adminAddr())
	cfgPath := filepath.Join(work, "Caddyfile")
	check(os.WriteFile(cfgPath, []byte(caddyfile), 0o600))

	logf, err := os.Create(filepath.Join(work, "keygate.log"))
	check(err)
	proc := exec.Command(bin, "run", "--config", cfgPath)
	proc.Stdout, proc.Stderr = logf, logf
	proc.Env = append(os.Environ(), "HOME="+work, "XDG_DATA_HOME="+work, "XDG_CONFIG_HOME="+work)
	check(proc.Start())
	defer func() {
		proc.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { proc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			proc.Process.Kill()
		}
	}()
	api := fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	waitUp(api + "/v1/packages")

	// A keychain with a secret, a package whose code is the upstream, and
	// the grant; then one agent call hands us an invocation token.
	var kc struct{ ID, Token string }
	apiCall(api, admin, "POST", "/v1/keychains", map[string]any{"owner": "load"}, &kc)
	apiCall(api, admin, "PUT", "/v1/keychains/"+kc.ID+"/secrets/API_KEY",
		map[string]any{"value": "sk_live_" + randHex(16), "allowed_hosts": []string{"127.0.0.1"}}, nil)
	apiCall(api, admin, "PUT", "/v1/packages/@load/tools", map[string]any{
		"name": "@load/tools", "version": "1.0.0", "host": "tools", "upstream": "http://" + upAddr,
		"sha256": strings.Repeat("ab", 32),
		"keys":   []map[string]any{{"name": "API_KEY", "required": true}},
	}, nil)
	apiCall(api, admin, "PUT", "/v1/keychains/"+kc.ID+"/grants/@load/tools", map[string]any{"keys": []string{"API_KEY"}}, nil)
	ingress := fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	req, _ := http.NewRequest("GET", ingress+"/capture", nil)
	req.Host = "tools.pkg.test"
	req.Header.Set("Authorization", "Bearer "+kc.Token)
	res, err := http.DefaultClient.Do(req)
	check(err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	inv, _ := captured.Load().(string)
	if res.StatusCode != 200 || inv == "" {
		fatal("setup: ingress call answered %d", res.StatusCode)
	}

	targets := []target{
		{name: "A plain reverse_proxy", url: fmt.Sprintf("http://127.0.0.1:%d/x", ports[0])},
		{name: "B keygate egress", url: fmt.Sprintf("http://127.0.0.1:%d/x", ports[1]), headers: []string{"Authorization: Bearer " + inv}},
		{name: "C keygate ingress", url: ingress + "/x", headers: []string{"Host: tools.pkg.test", "Authorization: Bearer " + kc.Token}},
	}
	for _, t := range targets {
		if st := probe(t); st != 200 {
			fatal("%s answers %d before the load", t.name, st)
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
	fmt.Printf("wrk -t%d -c%d -d%s, %d rounds of A,B,C; small responses, keep-alive, upstream on loopback\n\n", *threads, *conns, *duration, *rounds)
	results := make([][]wrkResult, len(targets))
	for r := 0; r < *rounds; r++ {
		for i, t := range targets {
			res := wrk(t)
			results[i] = append(results[i], res)
			fmt.Printf("round %d  %-24s %9.0f req/s  p50 %-8s p99 %-8s errors %d\n", r+1, t.name, res.rps, res.p50, res.p99, res.errors)
		}
	}
	med := make([]wrkResult, len(targets))
	for i := range targets {
		med[i] = median(results[i])
	}
	fmt.Printf("\nmedians:\n")
	for i, t := range targets {
		fmt.Printf("  %-24s %9.0f req/s  p50 %-8s p99 %s\n", t.name, med[i].rps, med[i].p50, med[i].p99)
	}
	// Ratios are taken per round, from runs next to each other, and the
	// median of those is reported: on a shared machine the drift between
	// rounds is as large as the effect measured.
	for i, label := range []string{"", "B/A (egress) ", "C/A (ingress)"} {
		if i == 0 {
			continue
		}
		ratios := make([]float64, len(results[0]))
		for r := range ratios {
			ratios[r] = results[i][r].rps / results[0][r].rps
		}
		sort.Float64s(ratios)
		target := map[int]string{1: "0.90", 2: "0.85"}[i]
		fmt.Printf("RATIO %s %.3f   (rounds: %.3f .. %.3f)   target >= %s\n", label, ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], target)
	}

	// Latency at half of A's peak: the same fixed rate for all three.
	rate := int(med[0].rps / 2)
	workers := 8
	fmt.Printf("\nlatency at half of A's peak (%d req/s, hey -c %d -z %s):\n", rate, workers, *duration)
	lat := make([]heyResult, len(targets))
	for i, t := range targets {
		lat[i] = hey(t, rate, workers)
		fmt.Printf("  %-24s p50 %-8s p99 %-8s (%0.f req/s done)\n", t.name, lat[i].p50, lat[i].p99, lat[i].rps)
	}
	fmt.Printf("\nADDED p99 egress  %s   target < 1ms\n", lat[1].p99-lat[0].p99)
	fmt.Printf("ADDED p99 ingress %s   target < 1ms\n", lat[2].p99-lat[0].p99)
	fmt.Printf("\nupstream requests served: %d\n", upstreamHits.Load())
}

type target struct {
	name    string
	url     string
	headers []string
}

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

var (
	rpsRe    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	pctRe    = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\b`)
	non2xxRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	sockRe   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func wrk(t target) wrkResult {
	args := []string{"-t" + strconv.Itoa(*threads), "-c" + strconv.Itoa(*conns), "-d" + duration.String(), "--latency"}
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

func hey(t target, rate, workers int) heyResult {
	perWorker := max(rate/workers, 1)
	args := []string{"-z", duration.String(), "-c", strconv.Itoa(workers), "-q", strconv.Itoa(perWorker)}
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

func parseDur(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	}
	return time.Duration(f * float64(time.Second)).Round(time.Microsecond)
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

func waitUp(url string) {
	for i := 0; i < 300; i++ {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	fatal("keygate did not start; see its log")
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
// except while holding for a profile.
func adminAddr() string {
	if *hold > 0 {
		return "127.0.0.1:2999"
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
	os.Exit(1)
}
