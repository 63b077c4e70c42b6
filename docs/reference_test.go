// Package docs holds keygate's reference documentation; its test keeps the
// references true to the code.
package docs

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate/caddymodule/gateway"
)

// caddyfileParsers are the files whose switch statements name every
// Caddyfile option keygate accepts.
var caddyfileParsers = []string{
	"../caddymodule/gateway/caddyfile.go",
	"../caddymodule/ingress/caddyfile.go",
	"../caddymodule/egress/caddyfile.go",
	"../caddymodule/proxy/caddyfile.go",
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

// TestProblemRegistryDocumented: every reason of the problem registry has
// its row in docs/problems.md, with its status, where it is answered and
// the members it carries; and every row is a reason of the registry.
func TestProblemRegistryDocumented(t *testing.T) {
	rows := problemRows(t)
	kinds := map[string]bool{}
	for _, k := range gateway.ProblemKinds() {
		kinds[k.Reason] = true
		row, ok := rows[k.Reason]
		if !ok {
			t.Errorf("reason %q is not in docs/problems.md", k.Reason)
			continue
		}
		for _, flow := range k.Flows {
			if !slices.Contains(splitCell(row[1]), strconv.Itoa(k.StatusAt(flow))) {
				t.Errorf("%s: docs/problems.md says status %q, the registry %d at %s", k.Reason, row[1], k.StatusAt(flow), flow)
			}
		}
		if where := splitCell(row[2]); !sameSet(where, k.Flows) {
			t.Errorf("%s: docs/problems.md says it is answered at %v, the registry %v", k.Reason, where, k.Flows)
		}
		for _, m := range k.Members {
			if !strings.Contains(row[3], "`"+m+"`") {
				t.Errorf("%s: docs/problems.md does not name its member %s", k.Reason, m)
			}
		}
	}
	for r := range rows {
		if !kinds[r] {
			t.Errorf("docs/problems.md documents %q, which the registry does not hold", r)
		}
	}
}

// TestProblemRegistryWhole: every problem the code builds by its reason
// (NewProblem) is a reason of the registry; denials go through it anyway.
func TestProblemRegistryWhole(t *testing.T) {
	kinds := map[string]bool{}
	for _, k := range gateway.ProblemKinds() {
		kinds[k.Reason] = true
	}
	re := regexp.MustCompile(`NewProblem\([^,]+,\s*"([a-z_]+)"`)
	files, _ := filepath.Glob("../caddymodule/*/*.go")
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(read(t, f), -1) {
			seen++
			if !kinds[m[1]] {
				t.Errorf("%s answers problem %q, which the registry does not hold", filepath.Base(f), m[1])
			}
		}
	}
	if seen == 0 {
		t.Fatal("found no problem kinds in the code")
	}
}

// TestProblemMembersInEachFlow: for every reason whose answers carry
// members, an answer captured from each flow that gives it (keygate running
// in this process, driven into each refusal) has its status and every
// member, non-empty.
func TestProblemMembersInEachFlow(t *testing.T) {
	c := captureAnswers(t)
	if testing.Verbose() {
		b, _ := json.MarshalIndent(c, "", " ")
		t.Logf("captured: %s", b)
	}
	for _, k := range gateway.ProblemKinds() {
		if len(k.Members) == 0 {
			continue
		}
		for _, flow := range k.Flows {
			p, ok := c[flow][k.Reason]
			if !ok {
				t.Errorf("%s: no answer of %s captured (captured there: %v)", k.Reason, flow, keys(c[flow]))
				continue
			}
			if p["http_status"] != k.StatusAt(flow) {
				t.Errorf("%s at %s: answered %v, the registry says %d", k.Reason, flow, p["http_status"], k.StatusAt(flow))
			}
			for _, m := range k.Members {
				if v, ok := p[m]; !ok || v == "" || v == nil {
					t.Errorf("%s at %s lacks member %s: %v", k.Reason, flow, m, p)
				}
			}
		}
	}
}

// problemRows returns docs/problems.md's table rows by reason: reason,
// status, where, meaning.
func problemRows(t *testing.T) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	for _, line := range strings.Split(read(t, "problems.md"), "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) < 4 || !strings.HasPrefix(cells[0], "`") {
			continue
		}
		rows[strings.Trim(cells[0], "`")] = cells
	}
	if len(rows) < 10 {
		t.Fatalf("found only %d rows in docs/problems.md", len(rows))
	}
	return rows
}

func splitCell(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(f))
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
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
	for _, f := range []string{"../caddymodule/api/routes.go", "../caddymodule/api/health.go", "../caddymodule/api/proxy_routes.go", "../caddymodule/ownerpage/ui.go"} {
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
