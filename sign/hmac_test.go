package sign

import (
	"strings"
	"testing"
	"time"
)

// The published examples of three real APIs are the vectors:
//   - Binance, "SIGNED endpoint examples for POST /api/v3/order" (HMAC
//     keys): developers.binance.com/docs/binance-spot-api-docs/rest-api/endpoint-security
//   - BitMEX, "API Keys usage" (api-signature over verb, path, expires,
//     data): www.bitmex.com/app/apiKeysUsage
//   - CKEditor Cloud Services, "Request signature" (X-CS-Signature):
//     ckeditor.com/docs/cs/latest/developer-resources/security/request-signature.html
func TestHMACPublishedExamples(t *testing.T) {
	const binanceKey = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
	const bitmexKey = "chNOOS4KvNXR_Xq4k4c9qsfoKWvnDecLATCRlcBwyKDYnWgO"
	binance := HMAC{Message: "{query}{body}", Query: "signature"}
	bitmex := HMAC{Message: "{method}{path}?{query}{timestamp}{body}", Header: "api-signature", TimestampHeader: "api-expires"}
	bitmexAhead := bitmex
	bitmexAhead.TimestampOffset = time.Minute // api-expires a minute ahead
	ckeditor := HMAC{Message: "{method}{path}?{query}{timestamp}{body}", Header: "X-CS-Signature", TimestampHeader: "X-CS-Timestamp", TimestampFormat: "unix_ms"}
	cases := []struct {
		name string
		h    HMAC
		key  string
		r    HMACRequest
		want string
	}{
		{"binance query", binance, binanceKey, HMACRequest{Method: "POST", Path: "/api/v3/order",
			Query: "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"},
			"c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"},
		{"binance body", binance, binanceKey, HMACRequest{Method: "POST", Path: "/api/v3/order",
			Body: []byte("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")},
			"c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"},
		{"binance mixed", binance, binanceKey, HMACRequest{Method: "POST", Path: "/api/v3/order",
			Query: "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC", Body: []byte("quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")},
			"0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"},
		{"bitmex get", bitmex, bitmexKey, HMACRequest{Method: "GET", Path: "/api/v1/instrument", Time: time.Unix(1518064236, 0)},
			"c7682d435d0cfe87c16098df34ef2eb5a549d4c5a3c2b1f0f77b8af73423bf00"},
		{"bitmex offset", bitmexAhead, bitmexKey, HMACRequest{Method: "GET", Path: "/api/v1/instrument", Time: time.Unix(1518064236-60, 0)},
			"c7682d435d0cfe87c16098df34ef2eb5a549d4c5a3c2b1f0f77b8af73423bf00"},
		{"bitmex get query", bitmex, bitmexKey, HMACRequest{Method: "GET", Path: "/api/v1/instrument", Query: "filter=%7B%22symbol%22%3A+%22XBTM15%22%7D", Time: time.Unix(1518064237, 0)},
			"e2f422547eecb5b3cb29ade2127e21b858b235b386bfa45e1c1756eb3383919f"},
		{"bitmex post", bitmex, bitmexKey, HMACRequest{Method: "POST", Path: "/api/v1/order", Time: time.Unix(1518064238, 0),
			Body: []byte(`{"symbol":"XBTM15","price":219.0,"clOrdID":"mm_bitmex_1a/oemUeQ4CAJZgP3fjHsA","orderQty":98}`)},
			"1749cd2ccae4aa49048ae09f0b95110cee706e0944e6a14ad0b3a8cb45bd336b"},
		{"ckeditor", ckeditor, "SECRET", HMACRequest{Method: "POST", Path: "/webhook", Query: "a=1", Time: time.UnixMilli(1563276169752), Body: []byte(`{"a":1}`)},
			"56ac656c7f932c5b775be28949e90af9a2356eae2826539f10ab6526a0eec762"},
	}
	for _, c := range cases {
		h := c.h
		if err := h.Prepare(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sig, _ := h.Sign([]byte(c.key), c.r)
		if sig != c.want {
			t.Errorf("%s: %s, want %s", c.name, sig, c.want)
		}
	}
}

// OKX's and Coinbase's form: timestamp, method, path with query, body,
// base64; and sha512 with a line-feed template.
func TestHMACFormats(t *testing.T) {
	h := HMAC{Message: "{timestamp}{method}{path}?{query}{body}", Header: "OK-ACCESS-SIGN", Encoding: "base64", TimestampHeader: "OK-ACCESS-TIMESTAMP", TimestampFormat: "iso8601_ms"}
	if err := h.Prepare(); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2020, 12, 8, 9, 8, 57, 715e6, time.UTC)
	if ts := h.Timestamp(when); ts != "2020-12-08T09:08:57.715Z" {
		t.Fatal(ts)
	}
	// openssl: printf '2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC' | openssl dgst -sha256 -hmac 22582BD0CFF14C41EDBF1AB98506286D -binary | base64
	sig, _ := h.Sign([]byte("22582BD0CFF14C41EDBF1AB98506286D"), HMACRequest{Method: "GET", Path: "/api/v5/account/balance", Query: "ccy=BTC", Time: when})
	if sig != okxExample {
		t.Fatalf("okx form: %s", sig)
	}
	noQuery, _ := h.Sign([]byte("k"), HMACRequest{Method: "GET", Path: "/p", Time: when})
	literal := HMAC{Message: "2020-12-08T09:08:57.715ZGET/p", Header: "X", Encoding: "base64"}
	if err := literal.Prepare(); err != nil {
		t.Fatal(err)
	}
	if want, _ := literal.Sign([]byte("k"), HMACRequest{}); noQuery != want {
		t.Fatal(`"?{query}" with no query left a "?"`)
	}
	h512 := HMAC{Algorithm: "sha512", Message: `{method}\n{path}`, Header: "X-Sig"}
	if err := h512.Prepare(); err != nil {
		t.Fatal(err)
	}
	// printf 'GET\n/x' | openssl dgst -sha512 -hmac k
	if sig, _ := h512.Sign([]byte("k"), HMACRequest{Method: "GET", Path: "/x"}); sig != sha512Example {
		t.Fatalf("sha512: %s", sig)
	}
}

func TestHMACPrepareRefusals(t *testing.T) {
	cases := map[string]HMAC{
		"algorithm":          {Algorithm: "md5", Message: "{body}", Header: "X"},
		"encoding":           {Encoding: "base32", Message: "{body}", Header: "X"},
		"timestamp format":   {TimestampFormat: "rfc1123", Message: "{body}", Header: "X"},
		"no destination":     {Message: "{body}"},
		"two destinations":   {Message: "{body}", Header: "X", Query: "sig"},
		"bad header":         {Message: "{body}", Header: "X Sig"},
		"keygate header":     {Message: "{body}", Header: "Keygate-Sig"},
		"bad query":          {Message: "{body}", Query: "a&b"},
		"empty message":      {Header: "X"},
		"unknown":            {Message: "{host}", Header: "X"},
		"open brace":         {Message: "{body", Header: "X"},
		"close brace":        {Message: "body}", Header: "X"},
		"newline":            {Message: "a\nb", Header: "X"},
		"long":               {Message: strings.Repeat("a", 1025), Header: "X"},
		"timestamp unheaded": {Message: "{timestamp}", Header: "X"},
		"bad ts header":      {Message: "{timestamp}", Header: "X", TimestampHeader: "a:b"},
		"negative offset":    {Message: "{body}", Header: "X", TimestampOffset: -time.Second},
		"long offset":        {Message: "{body}", Header: "X", TimestampOffset: 2 * time.Hour},
	}
	for name, h := range cases {
		if err := h.Prepare(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWithoutParam(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"a=1&signature=x&b=2":      "a=1&b=2",
		"signature=x":              "",
		"signatures=1&signature=2": "signatures=1",
	} {
		if got := WithoutParam(in, "signature"); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}

// Computed with openssl, as the comments above show.
const (
	okxExample    = "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
	sha512Example = "e6c08498a9a4e268cf3db7038778d5355316a9cb894e6c17cc4caee710053a8dd39446f54c3ea9679573550928dfd19c6d3b27560c5289d9456c24abb7c955ee"
)
