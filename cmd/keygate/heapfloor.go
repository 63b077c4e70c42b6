package main

import "runtime"

// heapFloor is the least live heap the garbage collector paces a serving
// node by. The collector starts a cycle when the heap has grown by GOGC
// percent (100) of what the last cycle kept. A node on PostgreSQL keeps
// little, about 10 MiB, so under load it collected every few tens of
// milliseconds: 2.7 times as often as a Badger node, whose caches keep
// about 30 MiB, and about 9 % of its CPU (BENCHMARKS.md, "The PostgreSQL
// node and the garbage collector"). Each request allocates some 20 KiB,
// most of it Caddy's.
const heapFloor = 32 << 20

// ballast is counted as live heap by the collector but never touched: its
// pages are mapped and never written, so they cost address space, not
// resident memory, and as a pointer-free object it costs the collector
// nothing to mark. It also counts against GOMEMLIMIT.
var ballast []byte

// keepHeapFloor raises the heap the collector paces by to at least
// heapFloor, unless the operator set GOGC (then the collector is theirs to
// tune). It is for `keygate run`, not for the short-lived commands.
func keepHeapFloor(getenv func(string) string) bool {
	if getenv("GOGC") != "" || ballast != nil {
		return false
	}
	ballast = make([]byte, heapFloor)
	runtime.KeepAlive(ballast)
	return true
}
