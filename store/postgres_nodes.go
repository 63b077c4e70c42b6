package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Rate limits are kept in each node's memory; to hold across nodes
// without a round trip per request, each node takes its share of the
// limit from the number of live nodes. Every node records itself in
// keygate_nodes every second (pgHeartbeatTicks polls of the change
// sequence) and counts the nodes seen within pgNodeAlive; a node that
// stops cleanly removes itself. A node that dies counts for pgNodeAlive
// more.
const (
	pgHeartbeatTicks = 5 // of pgPollEvery: once a second
	pgNodeAlive      = 3 * time.Second
	pgNodeForget     = 10 * time.Minute // rows of nodes gone this long are deleted
)

type nodeState struct {
	id    string
	count atomic.Int32 // live nodes as last counted, this one included; 0 before
}

// heartbeat records this node as alive and counts the live nodes, in one
// statement. On failure the last count stays.
func (b *postgresBackend) heartbeat(ctx context.Context) {
	if b.node.id == "" {
		var id [8]byte
		_, _ = rand.Read(id[:])
		b.node.id = hex.EncodeToString(id[:])
	}
	hctx, cancel := context.WithTimeout(ctx, pgPollTimeout)
	defer cancel()
	var others int32
	err := b.pool.QueryRow(hctx, `WITH up AS (
			INSERT INTO keygate_nodes (id, seen) VALUES ($1, now())
			ON CONFLICT (id) DO UPDATE SET seen = now()
		), old AS (
			DELETE FROM keygate_nodes WHERE seen < now() - make_interval(secs => $3)
		)
		SELECT count(*) FROM keygate_nodes WHERE id <> $1 AND seen > now() - make_interval(secs => $2)`,
		b.node.id, pgNodeAlive.Seconds(), pgNodeForget.Seconds()).Scan(&others)
	if err != nil {
		if b.log != nil {
			b.log.Warningf("keygate store: counting the live nodes: %v", b.mapErr("heartbeat", err))
		}
		return
	}
	if n := others + 1; b.node.count.Swap(n) != n && b.log != nil {
		b.log.Infof("keygate store: %d live nodes share the rate limits", n)
	}
}

// leave removes this node, so that the others take its share at once.
func (b *postgresBackend) leave() {
	if b.node.id == "" {
		return
	}
	ctx, cancel := b.ctx()
	defer cancel()
	_, _ = b.pool.Exec(ctx, `DELETE FROM keygate_nodes WHERE id = $1`, b.node.id)
}

// Shared reports whether other nodes may use this store's database at the
// same time (PostgreSQL): then counts kept in one node's memory are not
// the whole count.
func (s *Store) Shared() bool {
	_, ok := raw(s.be).(*postgresBackend)
	return ok
}

// LiveNodes is how many nodes share this store's database, this one
// included: 1 for a store of its own (Badger, memory).
func (s *Store) LiveNodes() int {
	if b, ok := raw(s.be).(*postgresBackend); ok {
		return max(int(b.node.count.Load()), 1)
	}
	return 1
}
