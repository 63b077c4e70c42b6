package sign

import "errors"

// Sentinel errors, wrapped with detail that never holds a value.
var (
	// ErrNotSigned: the request carries no SigV4 signature.
	ErrNotSigned = errors.New("not signed with AWS Signature Version 4")
	// ErrMalformed: a SigV4 header, query or aws-chunked body that does
	// not parse.
	ErrMalformed = errors.New("malformed AWS signature")
	// ErrBadSignature: the signature (of the request, of a chunk or of
	// the trailer) does not verify.
	ErrBadSignature = errors.New("the signature does not verify")
	// ErrSkewed: the request's time is more than MaxSkew from now.
	ErrSkewed = errors.New("the request time is too far from the current time")
	// ErrExpired: a presigned URL past its expiry.
	ErrExpired = errors.New("the presigned URL has expired")
	// ErrTooLarge: an aws-chunked chunk, or a body to hash, over the limit.
	ErrTooLarge = errors.New("too large")
)
