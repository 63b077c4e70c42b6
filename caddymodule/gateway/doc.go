// Package gateway is the keygate app (Caddy module "keygate") and what
// every keygate module shares: the store kept open across reloads, the
// keyring and signing keys, the audit queue, metrics, rate limits, the
// global Caddyfile option, and the problem vocabulary every module answers
// with.
//
// It imports policy/ and store/, never a keygate module package (ingress,
// egress, api, ownerpage) nor cli.
package gateway
