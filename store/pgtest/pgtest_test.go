package pgtest

import (
	"os"
	"testing"
)

func TestClusterLifecycle(t *testing.T) {
	c, err := Start()
	Skip(t, err)
	dir := c.dir
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cluster dir left behind: %v", err)
		}
	}()
	dsn, err := c.NewDatabase("Life Cycle")
	if err != nil {
		t.Fatal(err)
	}
	if err := Exec(dsn, "CREATE TABLE x (a int)"); err != nil {
		t.Fatal(err)
	}
	if err := c.StopServer(); err != nil {
		t.Fatal(err)
	}
	if err := Exec(dsn, "SELECT 1"); err == nil {
		t.Fatal("query answered with the server stopped")
	}
	if err := c.StartServer(); err != nil {
		t.Fatal(err)
	}
	if err := Exec(dsn, "INSERT INTO x VALUES (1)"); err != nil {
		t.Fatalf("table lost across a restart: %v", err)
	}
	bad := c.DSN("postgres")
	bad = bad[:len("postgres://keygate:")] + "wrong" + bad[len("postgres://keygate:")+len(c.Password()):]
	if err := Exec(bad, "SELECT 1"); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}
