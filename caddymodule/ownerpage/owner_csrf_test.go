package ownerpage

import "testing"

func TestBearerCSRF(t *testing.T) {
	k := []byte("k")
	if bearerCSRF(k, "alice") == bearerCSRF(k, "bob") || bearerCSRF(k, "alice") != bearerCSRF(k, "alice") {
		t.Fatal("the bearer CSRF token must be stable per owner and differ between owners")
	}
	if bearerCSRF([]byte("other"), "alice") == bearerCSRF(k, "alice") {
		t.Fatal("the bearer CSRF token must depend on the shared key")
	}
}
