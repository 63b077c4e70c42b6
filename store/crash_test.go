package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const crashDirEnv = "KEYGATE_STORE_CRASH_DIR"

func crashValue(name string) string {
	return "value-of-" + name + strings.Repeat("x", len(name)*7)
}

// TestKill9Helper is the child process of TestAcknowledgedWritesSurviveKill9:
// it writes until killed, printing each write after it was acknowledged.
func TestKill9Helper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestAcknowledgedWritesSurviveKill9")
	}
	s, err := Open(Options{Dir: dir, Keyring: testKeyring(t, "k1")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	kc, err := s.CreateKeychain("crash", "", "")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	ack := func(line string) {
		mu.Lock()
		os.Stdout.WriteString(line + "\n") // unbuffered: one write per ack
		mu.Unlock()
	}
	ack("kc " + kc.ID)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("W%d_%06d", w, i)
				if _, err := s.PutSecret(kc.ID, name, []byte(crashValue(name)), SecretOptions{}); err != nil {
					ack("error " + err.Error())
					os.Exit(2)
				}
				ack("ack " + name)
			}
		}()
	}
	wg.Wait()
}

func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("inside the helper")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Helper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var kc string
	var acked []string
	killed := false
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "kc "):
			kc = strings.TrimPrefix(line, "kc ")
		case strings.HasPrefix(line, "ack "):
			acked = append(acked, strings.TrimPrefix(line, "ack "))
		case strings.HasPrefix(line, "error "):
			t.Fatalf("helper: %s", line)
		}
		// Kill mid-loop, while writes are in flight.
		if len(acked) == 150 && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed || kc == "" {
		t.Fatalf("helper stopped before the kill (acked %d)", len(acked))
	}

	s := diskStore(t, dir, testKeyring(t, "k1"))
	if _, err := s.GetKeychain(kc); err != nil {
		t.Fatalf("acknowledged keychain lost: %v", err)
	}
	for _, name := range acked {
		if got := openValue(t, s, kc, name); got != crashValue(name) {
			t.Fatalf("%s = %q after kill -9", name, got)
		}
	}
	t.Logf("%d acknowledged writes survived kill -9", len(acked))
}
