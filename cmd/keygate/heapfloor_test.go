package main

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
)

// TestHeapFloor runs in a process of its own: there the ballast is the
// first large allocation, as in `keygate run`, and not memory that earlier
// tests freed, which the runtime must zero (and so make resident) to reuse.
func TestHeapFloor(t *testing.T) {
	if os.Getenv("KEYGATE_HEAPFLOOR_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHeapFloor$", "-test.count=1")
		cmd.Env = append(os.Environ(), "KEYGATE_HEAPFLOOR_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	t.Cleanup(func() { ballast = nil })
	if keepHeapFloor(func(k string) string {
		if k == "GOGC" {
			return "200"
		}
		return ""
	}) || ballast != nil {
		t.Fatal("a floor was kept although the operator set GOGC")
	}

	before := residentBytes(t)
	if !keepHeapFloor(func(string) string { return "" }) || len(ballast) != heapFloor {
		t.Fatalf("no floor kept (ballast %d bytes)", len(ballast))
	}
	if keepHeapFloor(func(string) string { return "" }) {
		t.Fatal("a second call kept a second floor")
	}
	runtime.GC()
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(goal)
	if g := goal[0].Value.Uint64(); g < heapFloor {
		t.Fatalf("heap goal %d after a collection, want at least the floor %d", g, heapFloor)
	}
	// The ballast is never written, so it is not resident: where mincore(2)
	// can say, its own pages are counted (the process's resident size also
	// moves with whatever else the runtime does meanwhile).
	if n, ok := residentPages(ballast); ok {
		if n > 0 {
			t.Fatalf("%d of the ballast's %d pages are resident, want none", n, heapFloor/os.Getpagesize())
		}
		return
	}
	if grew := residentBytes(t) - before; grew > heapFloor/4 {
		t.Fatalf("resident memory grew by %d bytes with the ballast, want well under %d", grew, heapFloor)
	}
}

func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok { // "VmRSS:	  2188 kB"
			kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
