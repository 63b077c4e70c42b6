//go:build !unix

package gateway

// Without flock, the admin socket is Caddy's own unix network.
const adminSocketNetwork = "unix"
