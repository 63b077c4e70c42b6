// Package scrub finds values in an HTTP response (its status line, headers, body and trailers)
// in the forms encoders put them in, and replaces each with what its caller chose: egress removes
// a secret an upstream echoed; a site that hands out placeholders puts the placeholder back. It
// streams, so a value split across reads is still found, and uses the standard library only.
package scrub
