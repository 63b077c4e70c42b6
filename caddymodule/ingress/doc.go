// Package ingress is the keygate_package handler (Flow 1, agent to
// package): it checks the keychain token, the package, the grant and the
// rate limits, mints an invocation token and proxies to the package's code,
// sealed or in plaintext mode.
//
// It imports the gateway package, policy/ and store/, never another keygate
// module package (egress, api, ownerpage) nor cli.
package ingress
