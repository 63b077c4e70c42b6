package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds of the crash test.
const (
	crashWriters      = 4
	crashMaxPerWriter = 200 // iterations (4 writes each) per writer at most
	crashAckedBefore  = 200 // acknowledged writes before the kill, at least
)

// crashKeychain is what one writer was told about one keychain: only
// writes answered with a 2xx count.
type crashKeychain struct {
	id, token string
	secretAcked,
	grantAcked bool
	value    string // last acknowledged API_KEY value
	inflight string // a value sent whose answer never came, if any
}

// TestCrashKeepsAcknowledgedWrites kills keygate with SIGKILL while
// several writers create keychains, set and overwrite secrets and grant
// them, recording each write only once it was answered with a 2xx. After a
// restart, every acknowledged write is there, and every secret still opens:
// each is injected through egress and arrives as the last acknowledged (or
// the unanswered) value. Two rounds: the second crash hits a store that
// has already recovered from one.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	pkgCode := NewUpstream(t, nil)
	in := Start(t, Config{})
	const pkgName = "@it/crash"
	in.putPackage(t, apiKeyManifest(pkgName, "crash", pkgCode.URL))

	var (
		mu      sync.Mutex
		written []*crashKeychain
	)
	hdr := bearer(in.AdminToken)
	// burst runs the writers until the process is killed under them.
	burst := func(round int) {
		var (
			acked atomic.Int64
			stop  atomic.Bool
			wg    sync.WaitGroup
		)
		for wr := range crashWriters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second}
				write := func(method, path string, body any, want int) (reply, bool) {
					r, err := tryHTTP(client, method, in.APIURL+path, "", hdr, body)
					if err != nil || r.Status != want {
						return r, false
					}
					acked.Add(1)
					return r, true
				}
				for i := 0; i < crashMaxPerWriter && !stop.Load(); i++ {
					r, ok := write("POST", "/v1/keychains", map[string]string{"owner": "crash", "name": fmt.Sprintf("r%d-w%d-%d", round, wr, i)}, http.StatusCreated)
					if !ok {
						return
					}
					kc := new(crashKeychain)
					var created struct{ ID, Token string }
					if json.Unmarshal(r.Body, &created) != nil {
						return
					}
					kc.id, kc.token = created.ID, created.Token
					mu.Lock()
					written = append(written, kc)
					mu.Unlock()
					// Set, grant, then overwrite the value: each recorded
					// only when acknowledged.
					for step := range 3 {
						var ok bool
						switch step {
						case 0, 2:
							v := fmt.Sprintf("crash-%d-%d-%d-%d-%s", round, wr, i, step, randomHex(16))
							mu.Lock()
							kc.inflight = v
							mu.Unlock()
							_, ok = write("PUT", "/v1/keychains/"+kc.id+"/secrets/API_KEY",
								map[string]any{"value": v, "allowed_hosts": []string{"127.0.0.1"}}, http.StatusNoContent)
							if ok {
								mu.Lock()
								kc.value, kc.inflight, kc.secretAcked = v, "", true
								mu.Unlock()
							}
						case 1:
							_, ok = write("PUT", "/v1/keychains/"+kc.id+"/grants/"+pkgName, map[string]any{"keys": []string{"API_KEY"}}, http.StatusOK)
							if ok {
								mu.Lock()
								kc.grantAcked = true
								mu.Unlock()
							}
						}
						if !ok {
							return
						}
					}
				}
			}()
		}
		// Kill in the middle of the burst.
		if !eventually(60*time.Second, 5*time.Millisecond, func() bool { return acked.Load() >= crashAckedBefore }) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("round %d: only %d writes were acknowledged before the kill", round, acked.Load())
		}
		in.Kill()
		stop.Store(true)
		wg.Wait()
		t.Logf("round %d: killed after %d acknowledged writes", round, acked.Load())
	}

	for round := 1; round <= 2; round++ {
		burst(round)
		in.Start()
		mu.Lock()
		kcs := append([]*crashKeychain(nil), written...)
		mu.Unlock()
		checkCrashWrites(t, in, pkgCode, kcs)
	}
}

// checkCrashWrites checks that every acknowledged write of kcs is there
// and that every secret opens.
func checkCrashWrites(t *testing.T, in *Instance, pkgCode *Upstream, kcs []*crashKeychain) {
	t.Helper()
	// Every acknowledged keychain is there.
	r := in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains?owner=crash", nil)
	var listed []struct{ ID string }
	if err := json.Unmarshal(r.Body, &listed); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	for _, k := range listed {
		present[k.ID] = true
	}
	var missing []string
	for _, kc := range kcs {
		if !present[kc.id] {
			missing = append(missing, kc.id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged keychains are gone after the crash: %v", len(missing), missing)
	}

	// Every acknowledged secret and grant is there, and every secret
	// opens: injected through egress, it arrives as acknowledged.
	opened := 0
	for _, kc := range kcs {
		noteSensitive(kc.token, kc.value, kc.inflight)
		if !kc.secretAcked && kc.inflight == "" {
			continue
		}
		r := in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc.id, nil)
		var got struct {
			Secrets []struct{ Name string }
			Grants  []struct{ Package string }
		}
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatal(err)
		}
		if kc.secretAcked && (len(got.Secrets) != 1 || got.Secrets[0].Name != "API_KEY") {
			t.Errorf("keychain %s: the acknowledged secret is gone: %s", kc.id, r)
			continue
		}
		if kc.grantAcked && len(got.Grants) != 1 {
			t.Errorf("keychain %s: the acknowledged grant is gone: %s", kc.id, r)
			continue
		}
		if !kc.grantAcked || len(got.Secrets) == 0 {
			continue // an unacknowledged secret that did not land, or no grant to reach it
		}
		inv := in.mintInvocation(t, pkgCode, "crash", kc.token)
		if r := in.callEgress(t, inv, "GET", "/api/check", nil); r.Status != http.StatusOK {
			t.Errorf("keychain %s: egress after the crash: %s", kc.id, r)
			continue
		}
		got1 := in.Upstream.Last(t).Header.Get("Authorization")
		if got1 != "Bearer "+kc.value && (kc.inflight == "" || got1 != "Bearer "+kc.inflight) {
			t.Errorf("keychain %s: the API did not get the acknowledged value", kc.id)
		}
		opened++
	}
	if opened == 0 {
		t.Error("no secret was checked through egress")
	}
	t.Logf("%d keychains present, %d secrets injected after the crash", len(kcs), opened)
}
