// Package egress is the keygate reverse_proxy transport (Flow 2, package to
// third-party API): it checks the invocation token, the grant and the host
// it dials, and injects the secret into its own copy of the request at the
// last moment.
//
// It imports the gateway package, policy/ and store/, never another keygate
// module package (ingress, api, ownerpage) nor cli.
package egress
