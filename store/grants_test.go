package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestGrantLifecycle(t *testing.T) {
	s, clk := memStore(t)
	kc := mustKeychain(t, s)
	_, err := s.PutGrant(kc.ID, "@acme/tools", []string{"STRIPE_SECRET_KEY"})
	wantErr(t, err, ErrNotFound)
	pkg := mustPackage(t, s, "@acme/tools", "tools")

	g, err := s.PutGrant(kc.ID, "@acme/tools", []string{"STRIPE_SECRET_KEY", "OPTIONAL_KEY", "STRIPE_SECRET_KEY"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(g.Keys, ",") != "OPTIONAL_KEY,STRIPE_SECRET_KEY" || g.SHA256 != pkg.SHA256 {
		t.Fatalf("grant: %+v", g)
	}
	created := g.CreatedAt

	_, err = s.PutGrant(kc.ID, "@acme/tools", []string{"WEBHOOK_SECRET"})
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "WEBHOOK_SECRET") {
		t.Fatalf("app key granted: %v", err)
	}
	_, err = s.PutGrant(kc.ID, "@acme/tools", []string{"NOT_REQUESTED"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "NOT_REQUESTED") {
		t.Fatalf("unrequested key: %v", err)
	}
	_, err = s.PutGrant(kc.ID, "@acme/tools", []string{"bad-name"})
	wantErr(t, err, ErrInvalid)
	if got, _ := s.GetGrant(kc.ID, "@acme/tools"); len(got.Keys) != 2 {
		t.Fatal("a refused grant changed the stored one")
	}

	// The package changes: the grant keeps the sha it approved.
	m := testManifest("@acme/tools", "tools")
	m.SHA256 = strings.Repeat("cd", 32)
	s.PutPackage(m)
	if got, _ := s.GetGrant(kc.ID, "@acme/tools"); got.SHA256 != pkg.SHA256 {
		t.Fatal("grant followed the package's new sha")
	}
	clk.Add(time.Hour)
	g2, err := s.PutGrant(kc.ID, "@acme/tools", nil)
	if err != nil || g2.SHA256 != m.SHA256 || !g2.CreatedAt.Equal(created) || !g2.UpdatedAt.Equal(clk.Now()) || g2.Keys == nil {
		t.Fatalf("re-approve: %+v %v", g2, err)
	}

	list, err := s.ListGrants(kc.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := s.DeleteGrant(kc.ID, "@acme/tools"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetGrant(kc.ID, "@acme/tools")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.DeleteGrant(kc.ID, "@acme/tools"), ErrNotFound)
	_, err = s.PutGrant("kc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "@acme/tools", nil)
	wantErr(t, err, ErrNotFound)
}

func TestGetGrantReturnsCopy(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	s.PutGrant(kc.ID, "@acme/tools", []string{"STRIPE_SECRET_KEY"})
	g, _ := s.GetGrant(kc.ID, "@acme/tools")
	g.Keys[0] = "X"
	if g2, _ := s.GetGrant(kc.ID, "@acme/tools"); g2.Keys[0] != "STRIPE_SECRET_KEY" {
		t.Fatal("cached grant mutated through a returned copy")
	}
}
