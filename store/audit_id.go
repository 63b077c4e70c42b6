package store

import "time"

// NewAuditID returns an id for an audit event at t, in the form
// AppendAudit fills in: callers that log an event before it is written
// assign it first, so that the log line and the stored event agree.
func NewAuditID(t time.Time) string { return newAuditID(t) }
