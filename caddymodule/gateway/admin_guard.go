package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/time/rate"

	"github.com/keygate/keygate/store"
)

// The admin token guards everything; a short one falls to guessing, and
// so does any token when guesses are free.

// MinAdminTokenLen is the shortest admin_token keygate starts with.
const MinAdminTokenLen = 32

var errShortAdminToken = errors.New("keygate: admin_token must be at least 32 characters; generate one with `openssl rand -hex 32`")

// checkAdminToken refuses a short admin token. Its error never holds the
// token.
func checkAdminToken(tok string) error {
	if len(tok) < MinAdminTokenLen {
		return errShortAdminToken
	}
	return nil
}

// Failed admin-token attempts allowed per client address: a burst of
// adminFailBurst, refilled over adminFailWindow.
const (
	adminFailBurst   = 10
	adminFailWindow  = time.Minute
	adminGuardMaxIPs = 4096
)

// failureGuard counts failed attempts per client address. Only failures
// draw from a client's budget; a client with none left is refused before
// its token is even compared.
type failureGuard struct {
	mu      sync.Mutex
	clients map[netip.Prefix]*rate.Limiter
	now     func() time.Time
}

func newFailureGuard(now func() time.Time) *failureGuard {
	return &failureGuard{clients: make(map[netip.Prefix]*rate.Limiter), now: now}
}

// wait is how long the client must wait before its next attempt, zero
// when it may try now.
func (g *failureGuard) wait(client netip.Prefix) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	lim, ok := g.clients[client]
	if !ok {
		return 0
	}
	tokens := lim.TokensAt(g.now())
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(lim.Limit()) * float64(time.Second))
}

// fail records one failed attempt.
func (g *failureGuard) fail(client netip.Prefix) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	lim, ok := g.clients[client]
	if !ok {
		if len(g.clients) >= adminGuardMaxIPs {
			g.forgetRecovered(now)
		}
		lim = rate.NewLimiter(rate.Limit(float64(adminFailBurst)/adminFailWindow.Seconds()), adminFailBurst)
		g.clients[client] = lim
	}
	lim.AllowN(now, 1)
}

// forgetRecovered drops clients back to a full budget; when none is, it
// drops one at random rather than grow without bound.
func (g *failureGuard) forgetRecovered(now time.Time) {
	for k, lim := range g.clients {
		if lim.TokensAt(now) >= adminFailBurst {
			delete(g.clients, k)
		}
	}
	for k := range g.clients {
		if len(g.clients) < adminGuardMaxIPs {
			return
		}
		delete(g.clients, k)
	}
}

// loopbackClient stands for every loopback address: a local process can
// bind any of 127.0.0.0/8 (and ::1), so counting each apart would give it
// millions of budgets.
var loopbackClient = netip.MustParsePrefix("127.0.0.0/8")

// clientPrefix is the client's address as Caddy resolved it (after
// trusted_proxies): an IPv4 address, or the /64 of an IPv6 one, which a
// single host usually holds whole; all loopback is one client.
func clientPrefix(r *http.Request) netip.Prefix {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if s == "" {
		s, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return loopbackClient
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// CheckAdmin reports whether tok is the admin token, refusing a client
// that failed too often of late with 429 (audited, without the guess).
func (a *App) CheckAdmin(r *http.Request, tok string, present bool) *Problem {
	client := clientPrefix(r)
	if wait := a.adminGuard.wait(client); wait > 0 {
		p := TooManyRequests(wait)
		p.Detail = "too many failed admin token attempts from this address; retry later"
		a.auditAdminRefusal(r.Context(), p)
		return p
	}
	if present && a.IsAdminToken(tok) {
		return nil
	}
	if present {
		a.adminGuard.fail(client)
	}
	return Unauthorized("send the admin token as Authorization: Bearer <token>")
}

func (a *App) auditAdminRefusal(ctx context.Context, p *Problem) {
	_ = a.shared.audit.record(ctx, store.AuditEvent{
		Actor: "admin", Action: ActionAdminAuth, Decision: "deny",
		Status: p.Status, Reason: p.Reason, RequestID: RequestID(),
	})
}
