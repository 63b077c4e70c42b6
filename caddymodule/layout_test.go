package caddymodule_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The layout README.md describes (Layout). Module packages register Caddy
// modules; libraries serve them. Arrows point down only: a module package
// may import gateway and the libraries listed for it, never another module
// package; nothing but caddymodule itself (and cmd/) imports cli; the
// libraries (store/, policy/, oauth/, oauthtest/, scrub/) import no Caddy and
// no keygate glue; scrub/ imports the standard library only.
const mod = "github.com/keygate/keygate/"

// libraries never import Caddy or caddymodule.
var libraries = []string{"store", "policy", "oauth", "oauthtest", "scrub", "sign", "preset"}

var modulePackages = []string{"caddymodule/ingress", "caddymodule/egress", "caddymodule/proxy", "caddymodule/api", "caddymodule/cli"}

// allowedGlue lists, per package, the keygate caddymodule packages it may
// import.
var allowedGlue = map[string][]string{
	"caddymodule":           {"caddymodule/api", "caddymodule/cli", "caddymodule/egress", "caddymodule/gateway", "caddymodule/ingress", "caddymodule/proxy"},
	"caddymodule/gateway":   {},
	"caddymodule/ingress":   {"caddymodule/gateway"},
	"caddymodule/egress":    {"caddymodule/gateway"},
	"caddymodule/proxy":     {"caddymodule/gateway"},
	"caddymodule/api":       {"caddymodule/gateway", "caddymodule/ownerpage"},
	"caddymodule/ownerpage": {"caddymodule/gateway"},
	"caddymodule/cli":       {},
}

type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func TestLayoutArrowsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(p.ImportPath, mod)
		seen[rel] = true
		imports := slices.Concat(p.Imports, p.TestImports)
		for _, imp := range imports {
			if !strings.HasPrefix(imp, mod) {
				if slices.Contains(libraries, rel) && strings.HasPrefix(imp, "github.com/caddyserver/") {
					t.Errorf("%s imports %s: %v never import Caddy", rel, imp, libraries)
				}
				if rel == "scrub" && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
					t.Errorf("scrub imports %s: it uses the standard library only", imp)
				}
				continue
			}
			dep := strings.TrimPrefix(imp, mod)
			if rel == "sign" || rel == "preset" {
				t.Errorf("%s imports %s: %s/ is a pure library of no keygate package", rel, dep, rel)
			}
			if dep == "caddymodule/cli" && rel != "caddymodule" && !strings.HasPrefix(rel, "cmd/") && rel != "caddymodule/cli" {
				t.Errorf("%s imports caddymodule/cli: only caddymodule and cmd/ may", rel)
			}
			if !strings.HasPrefix(dep, "caddymodule") || strings.HasPrefix(dep, "caddymodule/internal/") {
				if slices.Contains(libraries, rel) && strings.HasPrefix(dep, "caddymodule") {
					t.Errorf("%s imports %s: %v never import the Caddy glue", rel, dep, libraries)
				}
				if rel == "scrub" {
					t.Errorf("scrub imports %s: it uses the standard library only", dep)
				}
				continue
			}
			allowed, known := allowedGlue[rel]
			if !known {
				continue // integration/, cmd/ and tests of the assembled modules
			}
			if !slices.Contains(allowed, dep) && !isOwnSubpackage(rel, dep) {
				t.Errorf("%s imports %s: arrows point down only (allowed: %v)", rel, dep, allowed)
			}
		}
	}
	for _, p := range slices.Concat(modulePackages, libraries, []string{"caddymodule/gateway", "caddymodule/ownerpage"}) {
		if !seen[p] {
			t.Errorf("package %s is missing: README's Layout names it", p)
		}
	}
}

// isOwnSubpackage allows a package's own helpers, e.g. store/pgtest.
func isOwnSubpackage(pkg, dep string) bool { return strings.HasPrefix(dep, pkg+"/") }
