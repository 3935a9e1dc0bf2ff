package oauthsdk

// AWS Signature Version 4 (header form), written from the AWS specification ("Create a signed
// AWS API request") and checked against the AWS SigV4 test suite through the shared vectors.
//
//	CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//	                   SignedHeaders \n hex(SHA256(body))
//	StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n hex(SHA256(CanonicalRequest))
//	SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"time"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	amzDayFormat    = "20060102"
	headerAmzDate   = "X-Amz-Date"
	headerAmzToken  = "X-Amz-Security-Token"
	headerAuthorize = "Authorization"
	headerAmzSHA256 = "X-Amz-Content-Sha256"
)

type awsKeys struct {
	accessKey, secretKey, sessionToken string
}

// sigV4OwnedHeaders are written by the signer itself; a caller's copy is neither signed nor
// kept (Authorization, X-Amz-Date and X-Amz-Security-Token are replaced; Host is req.Host).
var sigV4OwnedHeaders = map[string]bool{
	"authorization": true, "host": true, "x-amz-date": true, "x-amz-security-token": true,
}

// signSigV4 signs req in the header form and sets X-Amz-Date, X-Amz-Security-Token (with a
// session token), X-Amz-Content-Sha256 (service s3 only, unless the caller set it) and
// Authorization. The choices every Nexus SDK makes identically:
//
//   - Signed headers: host, x-amz-date, x-amz-security-token when present, x-amz-content-sha256
//     for s3, and every header on req.Header except the ones the signer owns. Headers Go's
//     transport adds later (User-Agent, Accept-Encoding, Content-Length) are not on req.Header
//     and are not signed.
//   - Host: req.Host when the caller changed it, else the URL's host, lower-cased and without a
//     default port; req.Host is set to what was signed so the wire matches the signature.
//   - Canonical URI (not s3): the path as sent on the wire, with empty and "." segments dropped
//     and ".." resolved, each segment percent-encoded once more ("double encoding"). For s3 the
//     wire path is used as is.
//   - Canonical query: pairs split on "&", names and values percent-decoded ("+" stays a plus)
//     and encoded again, sorted by name then value.
func signSigV4(req *http.Request, body []byte, keys awsKeys, region, service string, now time.Time) {
	now = now.UTC()
	amzDate := now.Format(amzDateFormat)
	day := now.Format(amzDayFormat)
	isS3 := service == "s3"

	callerPayloadHash, callerSetPayloadHash := firstHeader(req.Header, headerAmzSHA256)
	payloadHash := hexSHA256(body)
	if isS3 && callerSetPayloadHash {
		payloadHash = strings.TrimSpace(callerPayloadHash)
	}

	host := signingHost(req)
	req.Host = host
	signed := map[string][]string{"host": {host}, "x-amz-date": {amzDate}}
	if keys.sessionToken != "" {
		signed["x-amz-security-token"] = []string{keys.sessionToken}
	}
	if isS3 && !callerSetPayloadHash {
		signed["x-amz-content-sha256"] = []string{payloadHash}
	}
	for name, values := range req.Header {
		lower := strings.ToLower(name)
		if !sigV4OwnedHeaders[lower] {
			signed[lower] = append(signed[lower], values...)
		}
	}
	canonicalHeaders, signedHeaders := canonicalHeaderBlock(signed)

	canonicalRequest := strings.Join([]string{
		req.Method,
		canonicalURI(req.URL.EscapedPath(), isS3),
		canonicalQuery(req.URL.RawQuery),
		canonicalHeaders,
		signedHeaders,
		payloadHash,
	}, "\n")
	scope := day + "/" + region + "/" + service + "/aws4_request"
	stringToSign := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(canonicalRequest))

	key := hmacSHA256([]byte("AWS4"+keys.secretKey), day)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	signature := hex.EncodeToString(hmacSHA256(key, stringToSign))

	req.Header.Set(headerAmzDate, amzDate)
	if keys.sessionToken != "" {
		req.Header.Set(headerAmzToken, keys.sessionToken)
	}
	if isS3 && !callerSetPayloadHash {
		req.Header.Set(headerAmzSHA256, payloadHash)
	}
	req.Header.Set(headerAuthorize, sigV4Algorithm+" Credential="+keys.accessKey+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+signature)
}

// firstHeader returns the first value of a header (any case of its name).
func firstHeader(h http.Header, name string) (string, bool) {
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0], true
		}
	}
	return "", false
}

// signingHost is the Host the request will carry: an explicit Host header (a Header["Host"]
// entry, or req.Host set to something other than the URL's host) as given, else the URL's host
// lower-cased with a default port (80 for http, 443 for https) dropped, as HTTP clients send it.
func signingHost(req *http.Request) string {
	if h, ok := firstHeader(req.Header, "Host"); ok {
		return h
	}
	if req.Host != "" && req.Host != req.URL.Host {
		return req.Host
	}
	host := strings.ToLower(req.URL.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	port := req.URL.Port()
	if port == "" || (req.URL.Scheme == "http" && port == "80") || (req.URL.Scheme == "https" && port == "443") {
		return host
	}
	return host + ":" + port
}

// canonicalHeaderBlock returns the CanonicalHeaders block and the SignedHeaders list: names
// sorted, values trimmed with inner runs of whitespace collapsed to one space, repeated names
// joined by commas in their original order.
func canonicalHeaderBlock(headers map[string][]string) (block, signed string) {
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headers[name] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.Join(strings.Fields(v), " "))
		}
		b.WriteByte('\n')
	}
	return b.String(), strings.Join(names, ";")
}

// canonicalURI: see signSigV4.
func canonicalURI(wirePath string, isS3 bool) string {
	if isS3 {
		if wirePath == "" {
			return "/"
		}
		return wirePath
	}
	var segments []string
	for _, seg := range strings.Split(wirePath, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(segments) > 0 {
				segments = segments[:len(segments)-1]
			}
		default:
			segments = append(segments, uriEncode(seg, true))
		}
	}
	uri := "/" + strings.Join(segments, "/")
	if len(segments) > 0 && strings.HasSuffix(wirePath, "/") {
		uri += "/"
	}
	return uri
}

// canonicalQuery: see signSigV4.
func canonicalQuery(rawQuery string) string {
	type pair struct{ name, value string }
	var pairs []pair
	for _, piece := range strings.Split(rawQuery, "&") {
		if piece == "" {
			continue
		}
		name, value, _ := strings.Cut(piece, "=")
		pairs = append(pairs, pair{uriEncode(percentDecode(name), true), uriEncode(percentDecode(value), true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].name != pairs[j].name {
			return pairs[i].name < pairs[j].name
		}
		return pairs[i].value < pairs[j].value
	})
	encoded := make([]string, len(pairs))
	for i, p := range pairs {
		encoded[i] = p.name + "=" + p.value
	}
	return strings.Join(encoded, "&")
}

// uriEncode is SigV4's UriEncode: unreserved characters (A-Z a-z 0-9 - . _ ~) stay, "/" stays
// unless encodeSlash, every other byte becomes %XX with upper-case hex.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

func hexSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}
