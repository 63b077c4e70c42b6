// Package integration holds keygate's end-to-end tests: they build the
// real keygate binary once per `go test` run and drive it as a user
// would, as a subprocess, over loopback HTTP.
//
// The harness (harness_test.go) provides:
//
//   - TestMain builds ./cmd/keygate once into a temporary directory;
//     Binary(t) returns its path. KEYGATE_TEST_BINARY=/path/to/keygate
//     tests a binary built elsewhere (an xcaddy build, say) instead.
//     With -short, the build is skipped and every test here skips.
//   - Start(t, Config{...}) runs `keygate run` from a Caddyfile rendered
//     from Config.Template (DefaultCaddyfile unless set): the management
//     API, a package (ingress) site and an egress site, each on a free
//     127.0.0.1 port, Caddy's admin endpoint on another, a Badger store,
//     HOME and XDG_* in the instance's own temporary directory, and the
//     process's stdout and stderr appended to files (Logs). It waits until
//     every site answers, and stops the process when the test ends.
//   - On an *Instance: Stop (SIGTERM, then SIGKILL), Kill (SIGKILL, as a
//     crash), Start (again, same config and data), Restart, Reload (a new
//     Config through `keygate reload --address`), Running.
//   - CLI, MustCLI and CLIEnv run the binary as the CLI against the
//     instance (KEYGATE_API and KEYGATE_ADMIN_TOKEN set) with a given
//     stdin; StartCLI runs a long one (audit --follow) in the background.
//     RunBinary runs the binary with no instance.
//   - API calls the management API directly; Ingress calls a package as
//     an agent would (Host: <host>.<suffix>); Egress calls an egress route
//     as package code would.
//   - NewUpstream starts a recording HTTP server on 127.0.0.1 to stand in
//     for a package's code or a third-party API.
//   - Leak scans: Logs returns everything the process printed, CLIOutput
//     everything the CLI printed; AssertNotContains reports a needle in
//     any of several named outputs.
//
// Every wait in the harness is bounded in time and in iterations.
package integration
