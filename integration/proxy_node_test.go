package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The npm packages the Node clients use, pinned. Node 20 has no
// environment proxy of its own: undici's EnvHttpProxyAgent, preloaded
// through NODE_OPTIONS, is set as the global dispatcher that fetch (and so
// both SDKs) use. Everything still comes from the environment.
var nodePackages = []string{"undici@6.29.1", "openai@5.7.0", "@anthropic-ai/sdk@1.15.0"}

const nodePreload = `const { setGlobalDispatcher, EnvHttpProxyAgent } = require("undici");
setGlobalDispatcher(new EnvHttpProxyAgent());
`

var nodeScripts = map[string]string{
	"fetch": `fetch(process.env.TARGET, { headers: { authorization: "Bearer " + process.env.API_KEY } })
  .then(async (r) => { if (!r.ok) throw new Error("status " + r.status); console.log(await r.text()); })
  .catch((e) => { console.error(String(e), e.cause ? String(e.cause) : ""); process.exit(1); });`,
	"openai": `const OpenAI = require("openai");
new OpenAI({ maxRetries: 0 }).chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] })
  .then((r) => console.log(JSON.stringify(r)))
  .catch((e) => { console.error(String(e)); process.exit(1); });`,
	"anthropic": `const Anthropic = require("@anthropic-ai/sdk");
new Anthropic({ maxRetries: 0 }).messages.create({ model: "m", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })
  .then((r) => console.log(JSON.stringify(r)))
  .catch((e) => { console.error(String(e)); process.exit(1); });`,
}

// installNode installs nodePackages into a directory of this run, within
// a time bound.
func installNode(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is needed for the Node clients")
		}
		t.Skip("no npm")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private": true}`), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", append([]string{"install", "--no-audit", "--no-fund", "--silent"}, nodePackages...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "preload.js"), []byte(nodePreload), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestProxyNode: Node's fetch and the openai and @anthropic-ai/sdk
// packages, unmodified, with their keys, base URLs, proxy and CA from the
// environment.
func TestProxyNode(t *testing.T) {
	dir := installNode(t)
	pw := newProxyWorld(t, nil, Config{})
	for _, name := range []string{"fetch", "openai", "anthropic"} {
		t.Run(name, func(t *testing.T) {
			_, ph := pw.call(t)
			script := filepath.Join(dir, name+".js")
			os.WriteFile(script, []byte(nodeScripts[name]), 0o644)
			env := append(pw.clientEnv(pw.proxyURL),
				"NODE_PATH="+filepath.Join(dir, "node_modules"),
				"NODE_OPTIONS=--require "+filepath.Join(dir, "preload.js"),
				"TARGET="+pw.upstreamURL("/v1/echo"), "API_KEY="+ph,
				"OPENAI_API_KEY="+ph, "OPENAI_BASE_URL="+pw.upstreamURL("/v1"),
				"ANTHROPIC_API_KEY="+ph, "ANTHROPIC_BASE_URL="+pw.up.URL)
			out := runClient(t, env, "node", script)
			if !strings.Contains(out, ph) || strings.Contains(out, pw.value) {
				t.Fatalf("the answer: %s", redact(out))
			}
			last := pw.up.Last(t)
			if last.Header.Get("Authorization") != "Bearer "+pw.value && last.Header.Get("X-Api-Key") != pw.value {
				t.Fatal("the upstream did not get the value")
			}
		})
	}
}
