// Package policy holds keygate's access rules: the tokens it issues and
// verifies, the grant decision that says which keys a package may use, the
// destination check that binds a secret to its allowed hosts, and the rate
// limits. It has no I/O of its own: callers pass in what the store returned,
// so every rule here is a pure function (or a small stateful value such as
// Limiter) that is tested on its own.
//
// # Why HS256
//
// keygate is the only party that ever verifies its own tokens: keychain tokens
// come back to the ingress handler that issued them, invocation tokens come
// back to the egress transport of the same process. Public-key signatures
// (EdDSA, ECDSA, RSA) exist so that a third party can verify without being
// able to sign; keygate has no such third party, so they would buy nothing.
// They would cost a lot, though: an HMAC-SHA256 verification over a JWT of a
// few hundred bytes takes about 1-2 us, an Ed25519 verification tens of us.
// The hot-path targets (egress under 10 us/op, ingress under 15 us/op, each
// including everything else a request does) leave no room for the latter, so
// both token types are HS256.
//
// # Keys
//
// Signing keys (store.SigningKey) rotate: the first key that is not retired
// signs, every key that is not retired verifies, and a token names its key
// by `kid` in the header. No raw signing key is ever used to sign: each token
// type gets its own key derived from it, HMAC-SHA256(secret, "keygate
// keychain token v1") or HMAC-SHA256(secret, "keygate invocation token v1").
// So even if a `typ` or `aud` check were ever lost, a keychain token could
// not verify as an invocation token, nor the other way round.
//
// # Verification cost
//
// Each token type has one jwt.Parser, built once in NewTokens, with
// WithValidMethods(HS256), the issuer, the audience, iat and (for invocation
// tokens) a required exp, a leeway and the injected clock; claims decode into
// plain structs rather than maps. Even so, a first verification is dominated
// by encoding/json inside the parser, not by HMAC: on the 2-core benchmark
// machine json.Valid alone over a 373-byte invocation payload takes about
// 2 us, and the whole verification 10-20 us. Tokens therefore remembers, by
// SHA-256, the tokens that verified (see verifiedCache): agents resend the
// same keychain token on every call and packages the same invocation token
// on every egress call, and a repeat verification costs about 1 us. exp is
// checked again on every hit; failures are never cached.
//
// # Errors
//
// Every verification failure wraps ErrTokenInvalid; an expired token also
// wraps ErrTokenExpired. Messages are fixed strings ("token expired", "bad
// signature", "wrong token type", ...) and never hold any part of the token.
// Denials from Decide, Recheck, CheckGrantKeys and CheckUsable are *Denial values
// whose Error() is a sentence without any name, hash or value in it; the
// fields carry the details for the caller to render.
package policy
