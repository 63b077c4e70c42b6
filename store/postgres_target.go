package store

import "fmt"

// PostgresTarget names the database a DSN points at as
// "host:port/db as user", for log lines and pool keys: never the password.
func PostgresTarget(dsn string) (string, error) {
	cfg, err := parsePostgres(dsn, DefaultTimeout)
	if err != nil {
		return "", err
	}
	cc := cfg.ConnConfig
	return fmt.Sprintf("%s:%d/%s as %s", cc.Host, cc.Port, cc.Database, cc.User), nil
}
