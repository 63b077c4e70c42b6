package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 document of this API. docs/openapi.json is a
// copy for readers of the repository; a test keeps the two identical and
// checks every route against the running API.
//
//go:embed openapi.json
var openAPI []byte

// serveOpenAPI answers GET /v1/openapi.json without the admin token: the
// document describes the routes and holds nothing of the store.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPI)
}
