//go:build !unix

package integration

// holdPort is a no-op where raw sockets are not at hand: the port is
// merely left free, which another process may then take.
func holdPort(port int) func() { return nil }
