package store

import (
	"context"
	"errors"
	"strings"
)

// Health is what keygate status reports about a store: nothing secret,
// and for PostgreSQL the database named without its DSN.
type Health struct {
	Backend       string `json:"backend"`                  // badger, postgres or memory
	Where         string `json:"where,omitempty"`          // the directory, or host:port/db as user
	SchemaVersion int    `json:"schema_version,omitempty"` // PostgreSQL's keygate_schema
	Nodes         int    `json:"nodes,omitempty"`          // PostgreSQL: nodes listening for changes, this one included
	AuditHead     string `json:"audit_head"`               // "whole", "none yet", or what is wrong with it
	SigningKeys   int    `json:"signing_keys"`
	MasterKeyID   string `json:"master_key_id"` // the key that seals
}

// Ping reads the backend once, past the cache: nil when the store answers.
func (s *Store) Ping() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	_, err := s.be.Get(context.Background(), []byte(keyAuditHead))
	if errors.Is(err, errNoKey) {
		return nil
	}
	return err
}

// Health reads what keygate status shows. The audit head's MAC is
// checked, not the whole chain (keygate audit verify walks that).
func (s *Store) Health() (Health, error) {
	h := Health{Backend: "memory", MasterKeyID: s.kr.CurrentID()}
	if kind, where, ok := strings.Cut(s.origin, " "); ok {
		h.Backend, h.Where = kind, where
	}
	if err := s.enter(); err != nil {
		return h, err
	}
	defer s.leave()
	if pg, ok := raw(s.be).(*postgresBackend); ok {
		v, nodes, err := pg.schemaAndNodes()
		if err != nil {
			return h, err
		}
		h.SchemaVersion, h.Nodes = v, nodes
	}
	err := s.be.View(context.Background(), func(r reader) error {
		_, found, problem, err := loadHead(r, s.kr)
		switch {
		case err != nil:
			return err
		case problem != "":
			h.AuditHead = problem
		case !found:
			h.AuditHead = "none yet"
		default:
			h.AuditHead = "whole"
		}
		return r.Iterate(iterOptions{Prefix: []byte(pfxSigningKey), KeysOnly: true}, func(_, _ []byte) error {
			h.SigningKeys++
			return nil
		})
	})
	return h, err
}

// schemaAndNodes reads the schema version the database is at, and how
// many nodes hold a change-notification connection to it (each node has
// one, named keygate-listen; see postgres_listen.go).
func (b *postgresBackend) schemaAndNodes() (version, nodes int, err error) {
	ctx, cancel := b.ctx()
	defer cancel()
	err = b.pool.QueryRow(ctx, `SELECT (SELECT coalesce(max(version), 0) FROM keygate_schema),
		(SELECT count(*) FROM pg_stat_activity WHERE application_name = 'keygate-listen' AND datname = current_database())`).Scan(&version, &nodes)
	if err != nil {
		return 0, 0, b.mapErr("status", err)
	}
	return version, nodes, nil
}
