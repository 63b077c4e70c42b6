package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// statusReport is GET /v1/status's answer.
type statusReport struct {
	Store struct {
		Backend       string `json:"backend"`
		Where         string `json:"where"`
		SchemaVersion int    `json:"schema_version"`
		Nodes         int    `json:"nodes"`
		AuditHead     string `json:"audit_head"`
		SigningKeys   int    `json:"signing_keys"`
		MasterKeyID   string `json:"master_key_id"`
	} `json:"store"`
	Listeners []struct {
		Server string   `json:"server"`
		Listen []string `json:"listen"`
	} `json:"listeners"`
}

// errUnhealthy makes keygate status exit 1 after its report.
var errUnhealthy = errors.New("keygate is not healthy")

func statusCmd() leaf {
	return leaf{
		name:  "status",
		short: "Shows whether keygate and its store answer: exit 0 when healthy, 1 when not",
		long: `
Asks the running keygate (GET /v1/status) about its store, the backend and
where it is (a database by host, port, name and user, never its DSN), the
schema version on PostgreSQL, whether the audit chain's head is whole, the
signing keys, the id of the master key that seals, and the listeners.

Exit 0 when keygate answers and its store and audit head are sound; 1 when
keygate does not answer, its store does not (503), or the audit head is
broken, with one line saying which: usable as a health check. Load
balancers can use GET /healthz on the API site instead, which needs no
token. Each node answers for itself: on PostgreSQL, run it against each.`,
		run: statusRun,
	}
}

func statusRun(e *env, _ []string) error {
	var rep statusReport
	if done, err := e.show("/v1/status", nil, &rep); err != nil {
		return err
	} else if done {
		return auditHeadError(rep.Store.AuditHead)
	}
	s := rep.Store
	where := s.Backend
	if s.Where != "" {
		where += " " + oneLine(s.Where)
	}
	if s.SchemaVersion > 0 {
		where += " (schema version " + strconv.Itoa(s.SchemaVersion) + ")"
	}
	kv := []string{
		"store", where + ", answering",
		"audit head", s.AuditHead,
		"signing keys", strconv.Itoa(s.SigningKeys),
	}
	if s.Nodes > 0 {
		kv = append(kv, "nodes", strconv.Itoa(s.Nodes)+" connected to the database, this one included")
	}
	kv = append(kv,
		"master key", s.MasterKeyID+" seals",
	)
	for _, l := range rep.Listeners {
		kv = append(kv, "listener", l.Server+" "+strings.Join(l.Listen, " "))
	}
	fields(e.stdout, kv...)
	return auditHeadError(s.AuditHead)
}

func auditHeadError(head string) error {
	if head == "whole" || head == "none yet" {
		return nil
	}
	return fmt.Errorf("%w: the audit chain's head is broken: %s (run keygate audit verify)", errUnhealthy, oneLine(head))
}
