package openevent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test keys are made once per run (RSA key generation is slow under -race)
// and never leave the process.
var (
	keysOnce            sync.Once
	trustedKey, evilKey *rsa.PrivateKey
)

func keys(t testing.TB) (trusted, evil *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if trustedKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if evilKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return trustedKey, evilKey
}

var testNow = time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

const (
	targetURL = "https://events.example.com/dataworks"
	certURL   = "https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/x509_public_certificate_2024010101.pem"
	testToken = "0123456789abcdef0123456789abcdef"
)

// signedRequest is a request to target as the receiver sees it (no
// scheme in its URL, the host in Host), signed as EventBridge would.
func signedRequest(t *testing.T, s *Signer, target string, body []byte) *http.Request {
	t.Helper()
	out, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sign(out, body); err != nil {
		t.Fatal(err)
	}
	in := httptest.NewRequest(http.MethodPost, out.URL.RequestURI(), bytes.NewReader(body))
	in.Host = out.URL.Host
	in.Header = out.Header.Clone()
	return in
}

func pinnedVerifier(t *testing.T, mode Mode, now time.Time, mod func(*VerifierOptions)) *Verifier {
	t.Helper()
	trusted, _ := keys(t)
	o := VerifierOptions{Mode: mode, PublicKey: &trusted.PublicKey, Now: fixedClock(now)}
	if mod != nil {
		mod(&o)
	}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignVerifyRoundTrip(t *testing.T) {
	trusted, _ := keys(t)
	body := []byte(dagEventBody)
	for _, tc := range []struct {
		version Version
		mode    Mode
		token   string
	}{
		{V1, ModeV1, ""}, {V1, ModeAny, ""}, {V2, ModeV2, ""}, {V2, ModeAny, ""},
		{V1, ModeAny, testToken}, {V2, ModeV2, testToken},
	} {
		t.Run(string(tc.version)+"/"+string(tc.mode)+"/token="+strconv.FormatBool(tc.token != ""), func(t *testing.T) {
			s := &Signer{Key: trusted, CertURL: certURL, Version: tc.version, Token: tc.token, Now: fixedClock(testNow)}
			req := signedRequest(t, s, targetURL, body)
			v := pinnedVerifier(t, tc.mode, testNow.Add(59*time.Second), func(o *VerifierOptions) { o.Token = tc.token })
			if err := v.Verify(req, body); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

// Each part the signature covers, changed, fails it; so do the other
// key, the other version and a missing header.
func TestVerifyRefusesTampering(t *testing.T) {
	trusted, evil := keys(t)
	body := []byte(dagEventBody)
	for _, version := range []Version{V1, V2} {
		sigHeader := map[Version]string{V1: HeaderSignature, V2: HeaderSignatureV2}[version]
		for _, tc := range []struct {
			name   string
			signer Signer
			target string
			tamper func(r *http.Request) []byte
			mode   Mode
			want   error
			says   string
		}{
			{name: "body", tamper: func(*http.Request) []byte {
				return bytes.Replace(body, []byte(`"status": 6`), []byte(`"status": 5`), 1)
			}, says: "does not match"},
			{name: "timestamp header", tamper: func(r *http.Request) []byte {
				r.Header.Set(HeaderTimestamp, strconv.FormatInt(testNow.Add(time.Second).UnixMilli(), 10))
				return body
			}, says: "does not match"},
			{name: "version header", tamper: func(r *http.Request) []byte { r.Header.Set(HeaderVersion, "2.0"); return body }, says: "does not match"},
			{name: "token header added", tamper: func(r *http.Request) []byte { r.Header.Set(HeaderToken, "x"); return body }, says: "does not match"},
			{name: "URL path", tamper: func(r *http.Request) []byte { r.URL.Path = "/other"; r.RequestURI = "/other"; return body }, says: "does not match"},
			{name: "URL host", tamper: func(r *http.Request) []byte { r.Host = "attacker.example.com"; return body }, says: "does not match"},
			{name: "URL query", tamper: func(r *http.Request) []byte { r.URL.RawQuery = "a=1"; return body }, says: "does not match"},
			{name: "wrong key", signer: Signer{Key: evil}, says: map[Version]string{V1: "does not open", V2: "does not match"}[version]},
			{name: "missing signature", tamper: func(r *http.Request) []byte { r.Header.Del(sigHeader); return body }, says: "no EventBridge signature"},
			{name: "missing timestamp", tamper: func(r *http.Request) []byte { r.Header.Del(HeaderTimestamp); return body }, says: "no " + HeaderTimestamp},
			{name: "timestamp not a number", tamper: func(r *http.Request) []byte { r.Header.Set(HeaderTimestamp, "yesterday"); return body }, says: "not epoch"},
			{name: "signature not base64", tamper: func(r *http.Request) []byte { r.Header.Set(sigHeader, "%%%"); return body }, says: "Base64"},
			{name: "other version only", mode: map[Version]Mode{V1: ModeV2, V2: ModeV1}[version], says: "no x-eventbridge-signature"},
		} {
			t.Run(string(version)+"/"+tc.name, func(t *testing.T) {
				s := tc.signer
				if s.Key == nil {
					s.Key = trusted
				}
				s.CertURL, s.Version, s.Now = certURL, version, fixedClock(testNow)
				req := signedRequest(t, &s, targetURL, body)
				got := body
				if tc.tamper != nil {
					got = tc.tamper(req)
				}
				mode := tc.mode
				if mode == "" {
					mode = ModeAny
				}
				err := pinnedVerifier(t, mode, testNow, nil).Verify(req, got)
				if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tc.says) {
					t.Errorf("Verify = %v, want unauthorized saying %q", err, tc.says)
				}
			})
		}
	}
}

func TestVerifyTimeWindow(t *testing.T) {
	trusted, _ := keys(t)
	body := []byte(dagEventBody)
	for _, tc := range []struct {
		name string
		now  time.Time
		ok   bool
		says string
	}{
		{"just sent", testNow, true, ""},
		{"60s old", testNow.Add(60 * time.Second), true, ""},
		{"61s old", testNow.Add(61 * time.Second), false, "stale: older than 60s"},
		{"a day old", testNow.Add(24 * time.Hour), false, "stale: older than 60s"},
		{"59s ahead", testNow.Add(-59 * time.Second), true, ""},
		{"61s ahead", testNow.Add(-61 * time.Second), false, "ahead of this clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Signer{Key: trusted, CertURL: certURL, Version: V2, Now: fixedClock(testNow)}
			err := pinnedVerifier(t, ModeAny, tc.now, nil).Verify(signedRequest(t, s, targetURL, body), body)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Verify = %v, want stale saying %q", err, tc.says)
			}
		})
	}
}

// Some verifiers send seconds; Alibaba's SDK milliseconds. Both are read.
func TestVerifyTimestampInSeconds(t *testing.T) {
	v := pinnedVerifier(t, ModeToken, testNow, func(o *VerifierOptions) { o.PublicKey, o.Token = nil, testToken })
	for ts, ok := range map[string]bool{
		strconv.FormatInt(testNow.Unix(), 10):                          true,
		strconv.FormatInt(testNow.UnixMilli(), 10):                     true,
		strconv.FormatInt(testNow.Add(-2*time.Minute).Unix(), 10):      false,
		strconv.FormatInt(testNow.Add(-2*time.Minute).UnixMilli(), 10): false,
	} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set("Authorization", "Bearer "+testToken)
		if err := v.Verify(req, nil); (err == nil) != ok {
			t.Errorf("timestamp %s: %v, want ok=%v", ts, err, ok)
		}
	}
}

// The readings the sources disagree on all verify: no trailing newline,
// no token line, a bare "?", and the https URL EventBridge signed seen as
// http behind a TLS-terminating proxy.
func TestVerifyAcceptsEveryDocumentedReading(t *testing.T) {
	trusted, _ := keys(t)
	body := []byte(instanceEventBody)
	for _, tc := range []struct {
		name      string
		signedURL string
		withToken bool
		trailing  bool
	}{
		{"SDK form", targetURL, true, true},
		{"no trailing newline", targetURL, true, false},
		{"no token line", targetURL, false, true},
		{"neither", targetURL, false, false},
		{"bare question mark", targetURL + "?", true, true},
		{"query", targetURL + "?rule=dw", true, true},
	} {
		for _, version := range []Version{V1, V2} {
			t.Run(string(version)+"/"+tc.name, func(t *testing.T) {
				h := http.Header{}
				h.Set(HeaderTimestamp, strconv.FormatInt(testNow.UnixMilli(), 10))
				h.Set(HeaderVersion, "1.0")
				h.Set(HeaderURL, certURL)
				if version == V1 {
					h.Set(HeaderMethod, "HMAC-SHA1")
				} else {
					h.Set(HeaderHashMethod, "SHA256")
				}
				signManually(t, trusted, version, h, stringToSign(tc.signedURL, h, headersOf(version), tc.withToken, body, tc.trailing))
				u, _ := url.Parse(strings.TrimSuffix(tc.signedURL, "?"))
				// The receiver behind a proxy: plain http, same host and path.
				req := httptest.NewRequest(http.MethodPost, "http://"+u.Host+u.RequestURI(), bytes.NewReader(body))
				req.Header = h
				if err := pinnedVerifier(t, ModeAny, testNow, nil).Verify(req, body); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func headersOf(v Version) []string {
	if v == V1 {
		return v1Headers
	}
	return v2Headers
}

// signManually signs sts as EventBridge's docs describe, without Signer;
// h already holds the signed headers.
func signManually(t *testing.T, key *rsa.PrivateKey, v Version, h http.Header, sts []byte) {
	t.Helper()
	if v == V2 {
		sum := sha256.Sum256(sts)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		h.Set(HeaderSignatureV2, base64.StdEncoding.EncodeToString(sig))
		return
	}
	secret := []byte("a-temporary-secret")
	wrapped, err := rsa.SignPKCS1v15(nil, key, crypto.Hash(0), secret)
	if err != nil {
		t.Fatal(err)
	}
	h.Set(HeaderSecret, base64.StdEncoding.EncodeToString(wrapped))
	mac := hmac.New(sha1.New, secret)
	mac.Write(sts)
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

// With -events-url the configured target is what is signed, whatever
// Host the proxy passes on.
func TestVerifyConfiguredURL(t *testing.T) {
	trusted, _ := keys(t)
	body := []byte(dagEventBody)
	s := &Signer{Key: trusted, CertURL: certURL, Version: V2, Now: fixedClock(testNow)}
	req := signedRequest(t, s, "https://public.example.com/hooks/dataworks", body)
	req.Host, req.URL.Path, req.RequestURI = "worker-7:8443", "/", "/"
	if err := pinnedVerifier(t, ModeAny, testNow, nil).Verify(req, body); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("without the URL option: %v, want unauthorized", err)
	}
	v := pinnedVerifier(t, ModeAny, testNow, func(o *VerifierOptions) { o.URL = "https://public.example.com/hooks/dataworks" })
	if err := v.Verify(req, body); err != nil {
		t.Fatal(err)
	}
}

// A request that carries both signatures passes in ModeAny when either
// verifies, and a v2 mode never falls back to v1.
func TestVerifyBothSignatures(t *testing.T) {
	trusted, _ := keys(t)
	body := []byte(dagEventBody)
	req := signedRequest(t, &Signer{Key: trusted, CertURL: certURL, Version: V1, Now: fixedClock(testNow)}, targetURL, body)
	req.Header.Set(HeaderSignatureV2, base64.StdEncoding.EncodeToString([]byte("not a signature")))
	if err := pinnedVerifier(t, ModeAny, testNow, nil).Verify(req, body); err != nil {
		t.Errorf("any: %v", err)
	}
	if err := pinnedVerifier(t, ModeV2, testNow, nil).Verify(req, body); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("v2: %v, want unauthorized", err)
	}
}

func TestVerifyTokenMode(t *testing.T) {
	v := pinnedVerifier(t, ModeToken, testNow, func(o *VerifierOptions) { o.PublicKey, o.Token = nil, testToken })
	for _, tc := range []struct {
		name   string
		header string
		value  string
		ts     time.Time
		want   error
	}{
		{"bearer", "Authorization", "Bearer " + testToken, time.Time{}, nil},
		{"bearer, lower case", "Authorization", "bearer " + testToken, time.Time{}, nil},
		{"manualdag header", HeaderManualdagToken, testToken, time.Time{}, nil},
		{"EventBridge token header", HeaderToken, testToken, time.Time{}, nil},
		{"fresh timestamp", HeaderManualdagToken, testToken, testNow.Add(-10 * time.Second), nil},
		{"stale timestamp", HeaderManualdagToken, testToken, testNow.Add(-2 * time.Minute), ErrStale},
		{"wrong token", "Authorization", "Bearer " + strings.Repeat("x", len(testToken)), time.Time{}, ErrUnauthorized},
		{"token prefix", HeaderManualdagToken, testToken[:20], time.Time{}, ErrUnauthorized},
		{"basic auth", "Authorization", "Basic " + testToken, time.Time{}, ErrUnauthorized},
		{"none", "X-Other", testToken, time.Time{}, ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			req.Header.Set(tc.header, tc.value)
			if !tc.ts.IsZero() {
				req.Header.Set(HeaderTimestamp, strconv.FormatInt(tc.ts.UnixMilli(), 10))
			}
			err := v.Verify(req, []byte("{}"))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), testToken[:8]) {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

// In a signature mode a configured token must come too: a signature only
// proves that some EventBridge rule sent the request.
func TestVerifySignatureWithToken(t *testing.T) {
	trusted, _ := keys(t)
	body := []byte(dagEventBody)
	v := pinnedVerifier(t, ModeAny, testNow, func(o *VerifierOptions) { o.Token = testToken })
	someoneElses := signedRequest(t, &Signer{Key: trusted, CertURL: certURL, Version: V2, Now: fixedClock(testNow)}, targetURL, body)
	if err := v.Verify(someoneElses, body); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "token") {
		t.Errorf("a signed request without the token: %v, want unauthorized (token)", err)
	}
	ours := signedRequest(t, &Signer{Key: trusted, CertURL: certURL, Version: V2, Token: testToken, Now: fixedClock(testNow)}, targetURL, body)
	if err := v.Verify(ours, body); err != nil {
		t.Errorf("a signed request with the token: %v", err)
	}
}

func TestNewVerifierRefusals(t *testing.T) {
	trusted, _ := keys(t)
	for _, tc := range []struct {
		name string
		o    VerifierOptions
		says string
	}{
		{"unknown mode", VerifierOptions{Mode: "v3", PublicKey: &trusted.PublicKey}, "not a signature mode"},
		{"token mode without token", VerifierOptions{Mode: ModeToken}, "needs a token"},
		{"short token", VerifierOptions{Mode: ModeToken, Token: "secret"}, "at least 16"},
		{"token mode with a key", VerifierOptions{Mode: ModeToken, Token: testToken, PublicKey: &trusted.PublicKey}, "uses none"},
		{"no key source", VerifierOptions{Mode: ModeV2}, "need a public key"},
		{"bad URL", VerifierOptions{PublicKey: &trusted.PublicKey, URL: "/dataworks"}, "absolute"},
		{"small key", VerifierOptions{PublicKey: &rsa.PublicKey{N: big.NewInt(1 << 40), E: 65537}}, "1024 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("NewVerifier = %v, want an error saying %q", err, tc.says)
			}
			if err != nil && strings.Contains(err.Error(), "secret") && tc.name == "short token" {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

// certPEM is a self-signed certificate of key, as EventBridge's URL
// serves one.
func certPEM(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "eventbridge test"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Without a pinned key, the certificate is fetched from an allowed host
// only, once per URL.
func TestVerifyFetchesAllowedCertificateOnce(t *testing.T) {
	trusted, _ := keys(t)
	cert := certPEM(t, trusted)
	var fetches atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		switch r.URL.Path {
		case "/cert.pem":
			_, _ = w.Write(cert)
		case "/down.pem":
			http.Error(w, "down", http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	hostname := strings.Split(host, ":")[0]
	newVerifier := func(hosts []string) *Verifier {
		v, err := NewVerifier(VerifierOptions{KeyHosts: hosts, HTTPClient: srv.Client(), Now: fixedClock(testNow)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	body := []byte(dagEventBody)
	sign := func(cert string, version Version) *http.Request {
		return signedRequest(t, &Signer{Key: trusted, CertURL: cert, Version: version, Now: fixedClock(testNow)}, targetURL, body)
	}
	// The test server listens on a port; the allow-list names hosts, and
	// only 443 is allowed, so this URL is refused before any fetch.
	v := newVerifier([]string{hostname})
	if err := v.Verify(sign(srv.URL+"/cert.pem", V2), body); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "not on an allowed") {
		t.Fatalf("a non-443 port: %v", err)
	}
	if fetches.Load() != 0 {
		t.Fatal("fetched from a refused URL")
	}
	// Allow the port by fetching through a client that dials the server
	// whatever the port: the URL names port 443.
	v = newVerifier([]string{"cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com"})
	v.o.HTTPClient = clientTo(srv, host)
	allowed := "https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/cert.pem"
	for i := 0; i < 3; i++ {
		for _, version := range []Version{V1, V2} {
			if err := v.Verify(sign(allowed, version), body); err != nil {
				t.Fatalf("%s: %v", version, err)
			}
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for six requests, want 1 (cached)", n)
	}
	// Each further URL is fetched a second after the last fetch at the
	// earliest; the timestamps stay within the window.
	clock := testNow
	v.o.Now = func() time.Time { return clock }
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"https://evil-eventbridge.oss-accelerate.aliyuncs.com/cert.pem", ErrUnauthorized},
		{"http://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/cert.pem", ErrUnauthorized},
		{"https://user@cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/cert.pem", ErrUnauthorized},
		{"https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/missing.pem", ErrUnauthorized},
		{"https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/down.pem", ErrKeyUnavailable},
	} {
		clock = clock.Add(minFetchInterval)
		before := fetches.Load()
		if err := v.Verify(sign(tc.url, V2), body); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.url, err, tc.want)
		}
		if strings.Contains(tc.url, "evil") || strings.HasPrefix(tc.url, "http:") || strings.Contains(tc.url, "user@") {
			if fetches.Load() != before {
				t.Errorf("%s was fetched", tc.url)
			}
		}
	}
	// A failed URL is not fetched again at once.
	clock = clock.Add(minFetchInterval)
	before := fetches.Load()
	if err := v.Verify(sign("https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/down.pem", V2), body); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("again: %v", err)
	}
	if fetches.Load() != before {
		t.Error("a URL that failed moments ago was fetched again")
	}
	// Forged requests naming ever new paths cost one fetch a second.
	before = fetches.Load()
	for i := 0; i < 5; i++ {
		_ = v.Verify(sign(fmt.Sprintf("https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/new%d.pem", i), V2), body)
	}
	if n := fetches.Load() - before; n != 1 {
		t.Errorf("%d fetches for five new URLs within a second, want 1", n)
	}
}

// clientTo is srv's client, dialling srv whatever host and port the URL
// names, and trusting srv's certificate for any name.
func clientTo(srv *httptest.Server, addr string) *http.Client {
	c := srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig.InsecureSkipVerify = true // the test server's certificate names 127.0.0.1
	c.Transport = tr
	return c
}

func TestKeyHosts(t *testing.T) {
	got := KeyHosts(" CN-Hangzhou ")
	want := []string{"cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com", "cn-hangzhou-eventbridge.oss-cn-hangzhou.aliyuncs.com"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("KeyHosts = %v, want %v", got, want)
	}
	if KeyHosts("") != nil {
		t.Error("KeyHosts of no region allows hosts")
	}
}

func TestParsePublicKey(t *testing.T) {
	trusted, evil := keys(t)
	pkix, err := x509.MarshalPKIXPublicKey(&trusted.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"certificate":    certPEM(t, trusted),
		"PKIX":           pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
		"PKCS1":          pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&trusted.PublicKey)}),
		"after a header": append([]byte("# EventBridge\n"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})...),
	} {
		k, err := ParsePublicKey(b)
		if err != nil || !k.Equal(&trusted.PublicKey) || k.Equal(&evil.PublicKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"private key": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(trusted)}),
		"garbage":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}),
	} {
		if _, err := ParsePublicKey(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestSignerRefusals(t *testing.T) {
	trusted, _ := keys(t)
	abs, _ := http.NewRequest(http.MethodPost, targetURL, nil)
	rel := httptest.NewRequest(http.MethodPost, "/x", nil)
	for name, tc := range map[string]struct {
		s   Signer
		req *http.Request
	}{
		"no key":       {Signer{CertURL: certURL}, abs},
		"no cert URL":  {Signer{Key: trusted}, abs},
		"relative URL": {Signer{Key: trusted, CertURL: certURL}, rel},
		"bad version":  {Signer{Key: trusted, CertURL: certURL, Version: "v3"}, abs},
	} {
		if err := tc.s.Sign(tc.req, nil); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"v1": ModeV1, "V2": ModeV2, " any ": ModeAny, "token": ModeToken} {
		if m, err := ParseMode(s); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := ParseMode("hmac"); err == nil {
		t.Error("ParseMode(hmac) passed")
	}
}
