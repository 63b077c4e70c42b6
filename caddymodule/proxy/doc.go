// Package proxy is the keygate_proxy handler: an HTTP forward proxy for
// package code that was not written for keygate. An SDK behind
// HTTPS_PROXY sends placeholders where its keys would go; the proxy site
// terminates each CONNECT tunnel with a leaf certificate from keygate's own
// CA, pins every request in it to the CONNECT authority and to the address
// it checked, puts the real value in place of each placeholder only for a
// host allowed to have it, and turns values echoed in answers back into
// their placeholders.
package proxy
