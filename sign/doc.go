// Package sign signs outbound requests for APIs that take no bearer
// header: AWS Signature Version 4 (header signing, presigned URLs, the
// aws-chunked chunk chain) and HMAC request signing by template. It also
// verifies a client's own SigV4 signature, so that a request signed with
// placeholder credentials can be checked and then re-signed with the real
// ones, keeping the client's payload hash and signed headers.
//
// The canonical request and the header signature come from the AWS SDK's
// signer; only the chunk chain (which the SDK exposes no reader for) is
// written here.
//
// Nothing in this package logs, and no error it returns holds a secret,
// a signature or a header value.
package sign
