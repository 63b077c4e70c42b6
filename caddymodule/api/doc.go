// Package api is the keygate_api handler: the management API under /v1/
// (JSON, admin token) and, mounted from package ownerpage, the owners' page
// under /ui/.
//
// It imports the gateway and ownerpage packages, policy/ and store/, never
// another keygate module package (ingress, egress) nor cli.
package api
