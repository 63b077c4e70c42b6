//go:build !linux

package main

func residentPages([]byte) (int, bool) { return 0, false }
