package oauthsdk

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// credentialFor builds a Credential from a resolve body, as the gateway would send it.
func credentialFor(t *testing.T, strategy string, fields map[string]any) *Credential {
	t.Helper()
	body, err := json.Marshal(map[string]any{"strategy": json.RawMessage(strategy), "credentials": fields})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := parseCredential(body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func applyTo(t *testing.T, cred *Credential, req *http.Request, body []byte, now time.Time) error {
	t.Helper()
	s, err := ParseStrategy(cred.Strategy)
	if err != nil {
		return err
	}
	return s.Apply(req, cred, body, now)
}

func errorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// AWS SigV4 test suite (aws-sig-v4-test-suite): credentials, clock and scope shared by every case.
var awsSuite = struct {
	fields map[string]any
	now    time.Time
}{
	fields: map[string]any{"access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
	now:    time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC),
}

func TestSigV4MatchesTheAWSTestSuite(t *testing.T) {
	cases := []struct {
		name, method, url, body string
		headers                 map[string]string
		signedHeaders, sig      string
	}{
		{"get-vanilla", "GET", "https://example.amazonaws.com/", "", nil,
			"host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", "POST", "https://example.amazonaws.com/", "", nil,
			"host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"get-vanilla-query-order-key-case", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "", nil,
			"host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"post-x-www-form-urlencoded", "POST", "https://example.amazonaws.com/", "Param1=value1",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			"content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
	}
	cred := credentialFor(t, `{"type":"aws_sigv4","config":{"region":"us-east-1","service":"service"}}`, awsSuite.fields)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			if err := applyTo(t, cred, req, []byte(tc.body), awsSuite.now); err != nil {
				t.Fatal(err)
			}
			want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=" +
				tc.signedHeaders + ", Signature=" + tc.sig
			if got := req.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization:\n got %s\nwant %s", got, want)
			}
			if got := req.Header.Get("X-Amz-Date"); got != "20150830T123600Z" {
				t.Errorf("X-Amz-Date: %s", got)
			}
		})
	}
}

func TestSigV4SignsTheHostItSends(t *testing.T) {
	cred := credentialFor(t, `{"type":"aws_sigv4","config":{"region":"us-east-1","service":"service"}}`, awsSuite.fields)
	// An explicit default port is not part of the signed host, and the request is sent with
	// the host that was signed; get-vanilla's signature proves the canonical form.
	req, err := http.NewRequest(http.MethodGet, "https://EXAMPLE.amazonaws.com:443/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyTo(t, cred, req, nil, awsSuite.now); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(req.Header.Get("Authorization"), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") {
		t.Errorf("Authorization %s", req.Header.Get("Authorization"))
	}
	if req.Host != "example.amazonaws.com" {
		t.Errorf("req.Host %q", req.Host)
	}
	// A non-default port is kept.
	req, _ = http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/", nil)
	if err := applyTo(t, cred, req, nil, awsSuite.now); err != nil {
		t.Fatal(err)
	}
	if req.Host != "127.0.0.1:9000" {
		t.Errorf("req.Host %q", req.Host)
	}
}

func TestApplyToAHandBuiltRequestWithoutHeaders(t *testing.T) {
	cred := credentialFor(t, `{"type":"oauth2"}`, map[string]any{"access_token": "t"})
	u, _ := url.Parse("https://api.example.com/")
	req := &http.Request{Method: http.MethodGet, URL: u}
	if err := applyTo(t, cred, req, nil, time.Now()); err != nil || req.Header.Get("Authorization") != "Bearer t" {
		t.Fatalf("err %v, headers %v", err, req.Header)
	}
	req = &http.Request{Method: "GET", URL: &url.URL{Path: "/relative"}}
	if code := errorCode(applyTo(t, cred, req, nil, time.Now())); code != CodeInvalidRequest {
		t.Fatalf("relative URL: %q", code)
	}
}
