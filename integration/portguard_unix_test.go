//go:build unix

package integration

import "syscall"

// holdPort binds 127.0.0.1:port without listening, so that connections to
// it are refused while no other socket can take the port (the kernel does
// not hand a bound port out to another bind, nor to a bind on port 0). It
// returns a release function, or nil if the port could not be bound.
func holdPort(port int) func() {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil
	}
	// SO_REUSEADDR: the port may still have connections in TIME_WAIT
	// from when it was served.
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil
	}
	return func() { syscall.Close(fd) }
}
