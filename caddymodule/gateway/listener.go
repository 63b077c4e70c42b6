package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// On Unix, Caddy binds a new socket for each config and sets SO_REUSEPORT
// so that the new config's socket and the old one overlap during a
// reload. Any process of the same user can then bind the same address
// and receive a share of the connections, bearer tokens and all, and a
// second keygate on a busy port starts without a word. The "keygate"
// network binds each address once, without SO_REUSEPORT, and hands that
// one socket from config to config: a second bind fails with EADDRINUSE
// while a reload stays graceful.

// ExclusiveNetwork is the network name of keygate's exclusive TCP
// listeners, as in "bind keygate/127.0.0.1".
const ExclusiveNetwork = "keygate"

func init() {
	caddy.RegisterNetwork(ExclusiveNetwork, listenExclusive)
	// HTTP/3 runs over UDP, which this network does not bind.
	caddyhttp.RegisterNetworkHTTP3(ExclusiveNetwork, "udp")
}

// exclusiveSockets holds one socket per address, counted by the configs
// that use it; the last config to let go closes it.
var exclusiveSockets = caddy.NewUsagePool()

func listenExclusive(ctx context.Context, _, host, portRange string, portOffset uint, cfg net.ListenConfig) (any, error) {
	start, _, _ := strings.Cut(portRange, "-")
	port, err := strconv.ParseUint(start, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("keygate network: port %q: %w", portRange, err)
	}
	address := net.JoinHostPort(host, strconv.FormatUint(port+uint64(portOffset), 10))
	key := ExclusiveNetwork + "/" + address
	val, _, err := exclusiveSockets.LoadOrNew(key, func() (caddy.Destructor, error) {
		// The caller's Control stays; nothing here sets SO_REUSEPORT.
		ln, err := cfg.Listen(ctx, "tcp", address)
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is in use by another process (keygate binds its ports exclusively): %w", address, err)
		}
		if err != nil {
			return nil, err
		}
		return serveShared(ln), nil
	})
	if err != nil {
		return nil, err
	}
	return newExclusiveListener(val, key), nil
}

// sharedSocket is the one socket of an address. A single goroutine
// accepts and hands each connection to whichever config's listener
// takes it first, so that during a reload the old and new servers both
// serve until the old one lets go.
type sharedSocket struct {
	ln    net.Listener
	conns chan net.Conn // unbuffered: a connection is handed over, never queued
	done  chan struct{} // closed when the socket is closed or fails
	err   error         // why accepting stopped; set before done is closed
	once  sync.Once
}

// serveShared starts handing ln's connections over.
func serveShared(ln net.Listener) *sharedSocket {
	s := &sharedSocket{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

func (s *sharedSocket) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-s.done:
					return
				}
			}
			s.stop(err)
			return
		}
		delay = 0
		select {
		case s.conns <- c:
		case <-s.done:
			c.Close()
			return
		}
	}
}

func (s *sharedSocket) stop(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Destruct closes the socket once no config uses it.
func (s *sharedSocket) Destruct() error {
	s.stop(net.ErrClosed)
	return s.ln.Close()
}

// exclusiveListener is one config's view of a sharedSocket: closing it
// lets go of the socket without closing it for the others.
type exclusiveListener struct {
	s      *sharedSocket
	key    string
	closed chan struct{}
	once   sync.Once
}

// newExclusiveListener is a config's view of the pooled socket val, which
// it lets go of under key.
func newExclusiveListener(val any, key string) *exclusiveListener {
	return &exclusiveListener{s: val.(*sharedSocket), key: key, closed: make(chan struct{})}
}

func (l *exclusiveListener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.s.conns:
		select {
		case <-l.closed:
			// Closed while taking it: the connection goes to another
			// config's listener, or is closed with the socket.
			go l.handBack(c)
			return nil, net.ErrClosed
		default:
			return c, nil
		}
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.s.done:
		return nil, l.s.err
	}
}

func (l *exclusiveListener) handBack(c net.Conn) {
	select {
	case l.s.conns <- c:
	case <-l.s.done:
		c.Close()
	}
}

func (l *exclusiveListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		_, _ = exclusiveSockets.Delete(l.key)
	})
	return nil
}

func (l *exclusiveListener) Addr() net.Addr { return l.s.ln.Addr() }

// warnShareableListeners says, at start, which of the config's listen
// addresses another process of this user could bind beside keygate.
func warnShareableListeners(ctx caddy.Context, logger *zap.Logger) {
	app, err := ctx.AppIfConfigured("http")
	if err != nil {
		return
	}
	httpApp, ok := app.(*caddyhttp.App)
	if !ok {
		return
	}
	for name, srv := range httpApp.Servers {
		for _, addr := range srv.Listen {
			na, err := caddy.ParseNetworkAddress(addr)
			if err != nil || !strings.HasPrefix(na.Network, "tcp") {
				continue
			}
			logger.Warn("this server's listener is shared (SO_REUSEPORT): another process of this user can bind the same address and take some of its connections, with their tokens; bind it exclusively with \"bind "+ExclusiveNetwork+"/<host>\"",
				zap.String("server", name), zap.String("listen", addr))
		}
	}
}
