// Package docs holds keygate's reference documentation; its test keeps the
// references true to the code.
package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// caddyfileParsers are the files whose switch statements name every
// Caddyfile option keygate accepts.
var caddyfileParsers = []string{
	"../caddymodule/gateway/caddyfile.go",
	"../caddymodule/ingress/caddyfile.go",
	"../caddymodule/egress/caddyfile.go",
	"../caddymodule/egress/sign_caddyfile.go",
	"../caddymodule/api/caddyfile.go",
	"../caddymodule/ownerpage/owner_config.go",
}

// TestCaddyfileOptionsDocumented: every string a Caddyfile parser switches
// on appears in docs/caddyfile.md as `option`.
func TestCaddyfileOptionsDocumented(t *testing.T) {
	doc := read(t, "caddyfile.md")
	for _, file := range caddyfileParsers {
		for _, opt := range caseStrings(t, file) {
			if !strings.Contains(doc, "`"+opt) {
				t.Errorf("%s accepts %q, which docs/caddyfile.md does not name", filepath.Base(file), opt)
			}
		}
	}
	for _, d := range []string{"keygate_package", "keygate_api", "transport keygate"} {
		if !strings.Contains(doc, d) {
			t.Errorf("docs/caddyfile.md does not name %s", d)
		}
	}
}

// TestCLICommandsDocumented: every command name and subcommand name the
// CLI registers appears in docs/cli.md.
func TestCLICommandsDocumented(t *testing.T) {
	doc := read(t, "cli.md")
	names := map[string]bool{}
	files, _ := filepath.Glob("../caddymodule/cli/*.go")
	re := regexp.MustCompile(`(?m)^\s*name:\s+"([a-z-]+)"`)
	singles := regexp.MustCompile(`(?:group|single)\("([a-z-]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src := read(t, f)
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			names[m[1]] = true
		}
		for _, m := range singles.FindAllStringSubmatch(src, -1) {
			names[m[1]] = true
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d command names; has the CLI's layout changed?", len(names))
	}
	for n := range names {
		if !regexp.MustCompile("`(\\S+ )?" + regexp.QuoteMeta(n) + "[ `]").MatchString(doc) {
			t.Errorf("command %q is not in docs/cli.md", n)
		}
	}
}

// TestProblemTypesDocumented: every problem kind the code creates with
// NewProblem or forbidden appears in docs/problems.md.
func TestProblemTypesDocumented(t *testing.T) {
	doc := read(t, "problems.md")
	re := regexp.MustCompile(`(?:NewProblem\([^,]+,|forbidden\()\s*"([a-z_]+)"`)
	files, _ := filepath.Glob("../caddymodule/*/*.go")
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(read(t, f), -1) {
			seen++
			if !strings.Contains(doc, "`"+m[1]+"`") {
				t.Errorf("%s answers problem %q, which docs/problems.md does not name", filepath.Base(f), m[1])
			}
		}
	}
	if seen == 0 {
		t.Fatal("found no problem kinds in the code")
	}
}

func caseStrings(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		cc, ok := n.(*ast.CaseClause)
		if !ok {
			return true
		}
		for _, e := range cc.List {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out = append(out, s)
				}
			}
		}
		return true
	})
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAPIRoutesDocumented: every /v1/ route the API and the owners' page
// register appears in docs/api.md, with {package} for either spelling of
// a package name.
func TestAPIRoutesDocumented(t *testing.T) {
	doc := read(t, "api.md")
	re := regexp.MustCompile(`HandleFunc\("([A-Z]+ /v1/[^"]*)"(?:\+p(?:\+"([^"]*)")?)?`)
	n := 0
	for _, f := range []string{"../caddymodule/api/routes.go", "../caddymodule/ownerpage/ui.go"} {
		for _, m := range re.FindAllStringSubmatch(read(t, f), -1) {
			route := m[1]
			if strings.HasSuffix(m[0], "+p") || m[2] != "" || strings.Contains(m[0], `"+p`) {
				route += "{package}" + m[2]
			}
			n++
			if !strings.Contains(doc, "`"+route+"`") {
				t.Errorf("route %q is not in docs/api.md", route)
			}
		}
	}
	if n < 15 {
		t.Fatalf("found only %d routes; has routes.go's layout changed?", n)
	}
}
