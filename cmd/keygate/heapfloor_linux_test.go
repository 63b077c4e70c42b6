package main

import (
	"os"
	"syscall"
	"unsafe"
)

// residentPages counts the pages of b that are in memory (mincore(2)).
func residentPages(b []byte) (int, bool) {
	page := os.Getpagesize()
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b))) &^ uintptr(page-1)
	end := uintptr(unsafe.Pointer(unsafe.SliceData(b))) + uintptr(len(b))
	vec := make([]byte, (end-start+uintptr(page)-1)/uintptr(page))
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, start, end-start, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return 0, false
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n, true
}
