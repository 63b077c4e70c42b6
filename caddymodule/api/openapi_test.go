package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/keygate/keygate/oauth"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatalf("loading openapi.json: %v", err)
	}
	return doc
}

// TestOpenAPIValid: the document is OpenAPI 3.1 and valid by kin-openapi,
// examples included.
func TestOpenAPIValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.json is not valid: %v", err)
	}
}

// TestOpenAPIDocsCopy: docs/openapi.json is the served document, byte for
// byte (cp caddymodule/api/openapi.json docs/openapi.json).
func TestOpenAPIDocsCopy(t *testing.T) {
	b, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, openAPI) {
		t.Fatal("docs/openapi.json differs from caddymodule/api/openapi.json; copy the latter over the former")
	}
}

// TestOpenAPIServed: GET /v1/openapi.json answers the document without
// the admin token.
func TestOpenAPIServed(t *testing.T) {
	rec := httptest.NewRecorder()
	serveOpenAPI(rec, httptest.NewRequest("GET", "/v1/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || !bytes.Equal(rec.Body.Bytes(), openAPI) {
		t.Fatalf("status %d, type %q, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}

// registeredRoutes reads the "METHOD path" patterns that routes.go,
// oauth_routes.go and the owners' page register, outside /ui/. A package
// name's two spellings ({package} and {scope}/{pkg}) are one route,
// "{package}", as the document has it.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`HandleFunc\("([A-Z]+ )(/[^"]*)"(\+p)?(?:\+"([^"]*)")?|HandleFunc\("([A-Z]+ )"\+oauth\.CallbackPath`)
	var routes []string
	for _, f := range []string{"routes.go", "oauth_routes.go", "health.go", "proxy_routes.go", "pending.go", "../ownerpage/ui.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			if m[5] != "" {
				routes = append(routes, m[5]+oauth.CallbackPath)
				continue
			}
			if strings.HasPrefix(m[2], "/ui") {
				continue // the owners' page: HTML, not the API
			}
			route := m[1] + m[2]
			if m[3] != "" {
				route += "{package}" + m[4]
			}
			if !slices.Contains(routes, route) {
				routes = append(routes, route)
			}
		}
	}
	if len(routes) < 20 {
		t.Fatalf("found only %d routes (%v); has the routes' layout changed?", len(routes), routes)
	}
	return routes
}

// TestOpenAPICoversRoutes: every route the mux registers is in the
// document, and the document has no route the mux lacks.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	registered := registeredRoutes(t)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is registered but not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("openapi.json documents %q, which no handler registers", d)
		}
	}
}
