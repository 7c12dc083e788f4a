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
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EventBridge's signature headers
// (https://www.alibabacloud.com/help/en/eventbridge/user-guide/signature-algorithm),
// and the header names the token mode reads.
const (
	HeaderTimestamp   = "x-eventbridge-signature-timestamp"
	HeaderMethod      = "x-eventbridge-signature-method" // v1: HMAC-SHA1
	HeaderVersion     = "x-eventbridge-signature-version"
	HeaderURL         = "x-eventbridge-signature-url" // the certificate's URL
	HeaderToken       = "x-eventbridge-signature-token"
	HeaderSecret      = "x-eventbridge-signature-secret" // v1: the RSA-wrapped HMAC key
	HeaderSignature   = "x-eventbridge-signature"        // v1
	HeaderHashMethod  = "x-eventbridge-hash-method"      // v2: SHA256
	HeaderSignatureV2 = "x-eventbridge-signature-v2"
	// HeaderManualdagToken carries the shared token in ModeToken, for a
	// sender that cannot set Authorization.
	HeaderManualdagToken = "x-manualdag-token"
)

// Mode is what Verify accepts.
type Mode string

// The modes of a Verifier.
const (
	// ModeV1 accepts EventBridge's v1 signature (HMAC-SHA1 with an
	// RSA-wrapped temporary secret).
	ModeV1 Mode = "v1"
	// ModeV2 accepts EventBridge's v2 signature (RSA over SHA-256).
	ModeV2 Mode = "v2"
	// ModeAny accepts either signature (v2 is tried first).
	ModeAny Mode = "any"
	// ModeToken accepts a shared token instead of a signature, for a sender
	// on a private network: "Authorization: Bearer <token>",
	// x-manualdag-token or x-eventbridge-signature-token.
	ModeToken Mode = "token"
)

// ParseMode reads v1, v2, any or token.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeV1, ModeV2, ModeAny, ModeToken:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a signature mode: use v1, v2, any (either EventBridge signature) or token (a shared token, for private networks)", s)
}

// Version is the signature a Signer writes.
type Version string

// Signature versions.
const (
	V1 Version = "v1"
	V2 Version = "v2"
)

// Errors of Verify. The receiver answers ErrStale and ErrUnauthorized with
// 401, ErrKeyUnavailable with 503 (EventBridge then retries).
var (
	ErrUnauthorized = errors.New("unauthorized")
	// ErrStale: the timestamp is outside the window (older than MaxAge, or
	// more than MaxAge ahead of this clock).
	ErrStale = errors.New("stale")
	// ErrKeyUnavailable: the certificate URL is allowed but did not answer.
	ErrKeyUnavailable = errors.New("EventBridge public key unavailable")
)

// DefaultMaxAge is the documented window: "If the current time differs
// from the timestamp by more than 60 seconds, the event target considers
// the request expired".
const DefaultMaxAge = 60 * time.Second

// MinTokenLength is the shortest shared token NewVerifier takes.
const MinTokenLength = 16

// KeyHosts are the hosts the certificate for region may be fetched from.
//
// The docs allow any URL of the form https://[RegionId]-eventbridge.oss-accelerate.aliyuncs.com
// (the signature-algorithm page; Alibaba's own SDK tests use the bucket's
// regional endpoint, [RegionId]-eventbridge.oss-[RegionId].aliyuncs.com).
// That host is an OSS bucket, and bucket names are first come first served:
// "*-eventbridge" as a pattern would let anyone who registers a bucket such
// as "evil-eventbridge" serve a key of their own. So the allow-list is the
// one bucket of the worker's own region, on both endpoints.
func KeyHosts(region string) []string {
	region = strings.ToLower(strings.TrimSpace(region))
	if region == "" {
		return nil
	}
	return []string{
		region + "-eventbridge.oss-accelerate.aliyuncs.com",
		region + "-eventbridge.oss-" + region + ".aliyuncs.com",
	}
}

// VerifierOptions configure a Verifier. The zero value of each field is its
// default.
type VerifierOptions struct {
	// Mode is what is accepted. Default ModeAny.
	Mode Mode
	// Token is the shared token. Required in ModeToken. In a signature mode
	// it is optional and, when set, must also come with each request
	// (normally as EventBridge's own x-eventbridge-signature-token, which
	// the signature covers): a signature only proves that some EventBridge
	// rule sent the request, the token that it is yours. Compared in
	// constant time; never logged.
	Token string
	// PublicKey is EventBridge's key, pinned: the certificate URL of a
	// request is then never fetched. Default: fetch it (see KeyHosts).
	PublicKey *rsa.PublicKey
	// KeyHosts are the hosts a certificate may be fetched from (https only,
	// exact names). Default none: without a pinned key, set it (KeyHosts of
	// the region).
	KeyHosts []string
	// HTTPClient fetches certificates. Default: a 5s timeout, no redirects.
	HTTPClient *http.Client
	// URL is the target URL as configured in the EventBridge rule, which the
	// signature covers. Default: the request's own, http or https, from its
	// Host and request URI; set it when a proxy in front changes the host
	// or path.
	URL string
	// MaxAge is the timestamp window, both ways. Default DefaultMaxAge.
	MaxAge time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Verifier checks that a pushed request comes from EventBridge (or, in
// ModeToken, from whoever holds the token). Safe for concurrent use.
//
// # What is implemented, and from which sources
//
// Sources: Alibaba Cloud EventBridge, "Signature algorithm" (HTTP/HTTPS
// targets), https://www.alibabacloud.com/help/en/eventbridge/user-guide/signature-algorithm
// (v1) and https://help.aliyun.com/en/eventbridge/user-guide/signature-algorithm
// (v2), with the Chinese original https://help.aliyun.com/document_detail/207037.html;
// Alibaba's reference verifier, github.com/aliyun/alibabacloud-eventbridge-sdk,
// util/java/.../signature (StringToSignBuilder, SignatureVerify,
// PublicKeyBuilder, SignatureVerifyTest).
//
// The string to sign (both versions) is
//
//	URL "\n" H1 "\n" H2 "\n" H3 "\n" H4 ["\n" H5] "\n" body ["\n"]
//
// where URL is scheme://host/path?query of the target as configured, each
// Hn is "name: value" (a colon and one space), and the headers are, in this
// order, v1: timestamp, signature-method, signature-version, signature-url,
// signature-token; v2: timestamp, hash-method, signature-version,
// signature-url, signature-token.
//
//   - v1: x-eventbridge-signature = Base64(HMAC-SHA1(secret, string to
//     sign)), where secret is x-eventbridge-signature-secret, Base64 of the
//     temporary secret "encrypted" with EventBridge's RSA private key
//     (PKCS #1 v1.5, block type 1, as Java's Cipher "RSA" does): recovered
//     here by the raw public-key operation and unpadding.
//   - v2: x-eventbridge-signature-v2 = Base64(RSA PKCS #1 v1.5 signature of
//     SHA-256(string to sign)); x-eventbridge-hash-method SHA256.
//   - the public key is the X.509 certificate (or PEM public key) at
//     x-eventbridge-signature-url, fetched only from KeyHosts and cached, or
//     pinned.
//   - the timestamp is epoch milliseconds (the SDK's test vector,
//     1612167546574); a value below 10^12 is read as seconds, as some
//     third-party verifiers send. A request outside ±MaxAge is refused.
//
// Where the sources disagree, every reading is accepted (it costs a few
// more HMACs or RSA verifications, never a weaker check):
//   - the trailing "\n" after the body: the SDK appends it, the docs'
//     formula does not show it;
//   - the token line when no token was set: the SDK always writes
//     "x-eventbridge-signature-token: " (Apache's header formatting of a
//     missing value), the docs call the token optional;
//   - the "?" before an empty query: the docs' formula always shows it, the
//     SDK passes the URL "with query string";
//   - the scheme, when URL is not set: a TLS-terminating proxy turns the
//     https EventBridge signed into http here.
//
// The v2 page's header list is read from the same page's steps and from
// independent verifiers (hash-method in the place of signature-method):
// v2's string-to-sign section was not available to check word for word.
// In ModeAny a request carrying both signatures passes if either verifies.
type Verifier struct {
	o     VerifierOptions
	hosts map[string]bool
	keys  keyCache
}

// NewVerifier checks o and returns its Verifier.
func NewVerifier(o VerifierOptions) (*Verifier, error) {
	if o.Mode == "" {
		o.Mode = ModeAny
	}
	if _, err := ParseMode(string(o.Mode)); err != nil {
		return nil, err
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	switch {
	case o.Token != "" && len(o.Token) < MinTokenLength:
		return nil, fmt.Errorf("the events token is %d characters: use at least %d random ones (e.g. openssl rand -hex 32)", len(o.Token), MinTokenLength)
	case o.Mode == ModeToken && o.Token == "":
		return nil, errors.New("token mode needs a token (MANUALDAG_EVENTS_TOKEN)")
	case o.Mode == ModeToken && o.PublicKey != nil:
		return nil, errors.New("a public key verifies EventBridge signatures: token mode uses none")
	case o.Mode != ModeToken && o.PublicKey == nil && len(o.KeyHosts) == 0:
		return nil, errors.New("EventBridge signatures need a public key: pin one, or allow the hosts to fetch it from (KeyHosts of the region)")
	}
	if o.PublicKey != nil {
		if err := checkKey(o.PublicKey); err != nil {
			return nil, err
		}
	}
	if o.URL != "" {
		u, err := url.Parse(o.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("events URL %q is not an absolute http(s) URL such as https://events.example.com/dataworks", o.URL)
		}
	}
	v := &Verifier{o: o, hosts: map[string]bool{}}
	for _, h := range o.KeyHosts {
		v.hosts[strings.ToLower(h)] = true
	}
	return v, nil
}

// Mode is what v accepts.
func (v *Verifier) Mode() Mode { return v.o.Mode }

// MaxAge is v's timestamp window.
func (v *Verifier) MaxAge() time.Duration { return v.o.MaxAge }

// Verify checks req, whose body is body. The error wraps ErrStale,
// ErrUnauthorized or ErrKeyUnavailable and says briefly why; it never
// quotes a secret.
func (v *Verifier) Verify(req *http.Request, body []byte) error {
	h := req.Header
	if ts := h.Get(HeaderTimestamp); ts != "" || v.o.Mode != ModeToken {
		if err := v.checkTime(ts); err != nil {
			return err
		}
	}
	if v.o.Token != "" && !v.tokenMatches(h) {
		return fmt.Errorf("%w: missing or wrong token", ErrUnauthorized)
	}
	if v.o.Mode == ModeToken {
		return nil
	}
	hasV1, hasV2 := h.Get(HeaderSignature) != "", h.Get(HeaderSignatureV2) != ""
	var errV2 error
	if hasV2 && v.o.Mode != ModeV1 {
		if errV2 = v.verifyV2(req, body); errV2 == nil || !hasV1 || v.o.Mode == ModeV2 {
			return errV2
		}
	}
	if hasV1 && v.o.Mode != ModeV2 {
		err := v.verifyV1(req, body)
		if err != nil && errors.Is(errV2, ErrKeyUnavailable) {
			return errV2
		}
		return err
	}
	switch v.o.Mode {
	case ModeV1:
		return fmt.Errorf("%w: no %s header (v1 signature)", ErrUnauthorized, HeaderSignature)
	case ModeV2:
		return fmt.Errorf("%w: no %s header (v2 signature)", ErrUnauthorized, HeaderSignatureV2)
	}
	return fmt.Errorf("%w: no EventBridge signature (%s or %s)", ErrUnauthorized, HeaderSignatureV2, HeaderSignature)
}

func (v *Verifier) checkTime(ts string) error {
	if ts == "" {
		return fmt.Errorf("%w: no %s header", ErrUnauthorized, HeaderTimestamp)
	}
	t, ok := parseTimestamp(ts)
	if !ok {
		return fmt.Errorf("%w: %s is not epoch milliseconds", ErrUnauthorized, HeaderTimestamp)
	}
	age := v.o.Now().Sub(t)
	switch {
	case age > v.o.MaxAge:
		return fmt.Errorf("%w: older than %s", ErrStale, seconds(v.o.MaxAge))
	case -age > v.o.MaxAge:
		return fmt.Errorf("%w: timestamp more than %s ahead of this clock (check NTP)", ErrStale, seconds(v.o.MaxAge))
	}
	return nil
}

// seconds writes d as "60s" rather than "1m0s".
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s" }

// parseTimestamp reads epoch milliseconds, or seconds below 10^12.
func parseTimestamp(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	switch {
	case err != nil || n <= 0:
		return time.Time{}, false
	case n < 1e12:
		return time.Unix(n, 0), true
	}
	return time.UnixMilli(n), true
}

// tokenMatches compares in constant time (of the hashes, so that the length
// does not show either) every header that may carry the token.
func (v *Verifier) tokenMatches(h http.Header) bool {
	want := sha256.Sum256([]byte(v.o.Token))
	candidates := []string{h.Get(HeaderToken), h.Get(HeaderManualdagToken)}
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		candidates = append(candidates, strings.TrimSpace(a[7:]))
	}
	ok := 0
	for _, c := range candidates {
		got := sha256.Sum256([]byte(c))
		ok |= subtle.ConstantTimeCompare(got[:], want[:]) & boolInt(c != "")
	}
	return ok == 1
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (v *Verifier) verifyV1(req *http.Request, body []byte) error {
	h := req.Header
	if m := h.Get(HeaderMethod); m != "" && !strings.EqualFold(m, "HMAC-SHA1") {
		return fmt.Errorf("%w: signature method %q is not HMAC-SHA1", ErrUnauthorized, m)
	}
	sig, err := base64.StdEncoding.DecodeString(h.Get(HeaderSignature))
	if err != nil || len(sig) != sha1.Size {
		return fmt.Errorf("%w: %s is not a Base64 HMAC-SHA1", ErrUnauthorized, HeaderSignature)
	}
	wrapped, err := base64.StdEncoding.DecodeString(h.Get(HeaderSecret))
	if err != nil || len(wrapped) == 0 {
		return fmt.Errorf("%w: no Base64 %s", ErrUnauthorized, HeaderSecret)
	}
	key, err := v.publicKey(req.Context(), h.Get(HeaderURL))
	if err != nil {
		return err
	}
	secret, err := unwrapSecret(key, wrapped)
	if err != nil {
		return fmt.Errorf("%w: %s does not open with EventBridge's key", ErrUnauthorized, HeaderSecret)
	}
	for _, s := range v.stringsToSign(req, body, v1Headers) {
		mac := hmac.New(sha1.New, secret)
		mac.Write(s)
		if hmac.Equal(mac.Sum(nil), sig) {
			return nil
		}
	}
	return fmt.Errorf("%w: v1 signature does not match", ErrUnauthorized)
}

func (v *Verifier) verifyV2(req *http.Request, body []byte) error {
	h := req.Header
	if m := h.Get(HeaderHashMethod); m != "" && !strings.EqualFold(m, "SHA256") && !strings.EqualFold(m, "SHA-256") {
		return fmt.Errorf("%w: hash method %q is not SHA256", ErrUnauthorized, m)
	}
	sig, err := base64.StdEncoding.DecodeString(h.Get(HeaderSignatureV2))
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: %s is not Base64", ErrUnauthorized, HeaderSignatureV2)
	}
	key, err := v.publicKey(req.Context(), h.Get(HeaderURL))
	if err != nil {
		return err
	}
	for _, s := range v.stringsToSign(req, body, v2Headers) {
		sum := sha256.Sum256(s)
		if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: v2 signature does not match", ErrUnauthorized)
}

// The signed headers of each version, in order; the token comes last.
var (
	v1Headers = []string{HeaderTimestamp, HeaderMethod, HeaderVersion, HeaderURL}
	v2Headers = []string{HeaderTimestamp, HeaderHashMethod, HeaderVersion, HeaderURL}
)

// stringsToSign are the strings to sign under every reading the Verifier
// accepts (see Verifier).
func (v *Verifier) stringsToSign(req *http.Request, body []byte, names []string) [][]byte {
	var urls []string
	if v.o.URL != "" {
		urls = withEmptyQuery(v.o.URL)
	} else {
		for _, scheme := range []string{"https", "http"} {
			urls = append(urls, withEmptyQuery(scheme+"://"+req.Host+req.URL.RequestURI())...)
		}
	}
	h := req.Header
	token := h.Get(HeaderToken)
	tokenLines := []bool{true}
	if token == "" {
		tokenLines = []bool{true, false}
	}
	var out [][]byte
	for _, u := range urls {
		for _, withToken := range tokenLines {
			for _, trailing := range []bool{true, false} {
				out = append(out, stringToSign(u, h, names, withToken, body, trailing))
			}
		}
	}
	return out
}

// withEmptyQuery is u, and u with a bare "?" when it has no query.
func withEmptyQuery(u string) []string {
	if strings.Contains(u, "?") {
		return []string{u}
	}
	return []string{u, u + "?"}
}

func stringToSign(u string, h http.Header, names []string, withToken bool, body []byte, trailing bool) []byte {
	var b bytes.Buffer
	b.WriteString(u)
	b.WriteByte('\n')
	for _, n := range names {
		b.WriteString(n + ": " + h.Get(n) + "\n")
	}
	if withToken {
		b.WriteString(HeaderToken + ": " + h.Get(HeaderToken) + "\n")
	}
	b.Write(body)
	if trailing {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// unwrapSecret undoes Java's Cipher("RSA") encryption with a private key:
// the raw public-key operation, then PKCS #1 v1.5 unpadding (block type 1;
// type 2 is taken too).
func unwrapSecret(pub *rsa.PublicKey, c []byte) ([]byte, error) {
	k := (pub.N.BitLen() + 7) / 8
	if len(c) != k {
		return nil, errors.New("wrong length")
	}
	ci := new(big.Int).SetBytes(c)
	if ci.Cmp(pub.N) >= 0 {
		return nil, errors.New("out of range")
	}
	em := new(big.Int).Exp(ci, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, k))
	if em[0] != 0 || (em[1] != 1 && em[1] != 2) {
		return nil, errors.New("bad padding")
	}
	i := 2
	for ; i < k && em[i] != 0; i++ {
		if em[1] == 1 && em[i] != 0xff {
			return nil, errors.New("bad padding")
		}
	}
	if i-2 < 8 || i >= k-1 {
		return nil, errors.New("bad padding")
	}
	return em[i+1:], nil
}

// publicKey is the pinned key, or the one at certURL when its host is
// allowed.
func (v *Verifier) publicKey(ctx context.Context, certURL string) (*rsa.PublicKey, error) {
	if v.o.PublicKey != nil {
		return v.o.PublicKey, nil
	}
	u, err := url.Parse(certURL)
	if certURL == "" || err != nil {
		return nil, fmt.Errorf("%w: no certificate URL (%s)", ErrUnauthorized, HeaderURL)
	}
	if u.Scheme != "https" || u.User != nil || (u.Port() != "" && u.Port() != "443") || !v.hosts[strings.ToLower(u.Hostname())] {
		return nil, fmt.Errorf("%w: the certificate URL is not on an allowed EventBridge host", ErrUnauthorized)
	}
	return v.keys.get(ctx, u.String(), v.o.Now, func(ctx context.Context) (*rsa.PublicKey, error) {
		return fetchKey(ctx, v.o.HTTPClient, u.String())
	})
}

// maxCertBytes bounds a fetched certificate.
const maxCertBytes = 64 << 10

// fetchKey GETs a PEM certificate or public key. A transport failure or a
// 5xx is ErrKeyUnavailable (try again later); anything else that is not a
// key is ErrUnauthorized.
func fetchKey(ctx context.Context, c *http.Client, certURL string) (*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, certURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate URL: %v", ErrUnauthorized, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("%w: certificate URL answered %s", ErrKeyUnavailable, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: certificate URL answered %s", ErrUnauthorized, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCertBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyUnavailable, err)
	}
	if len(b) > maxCertBytes {
		return nil, fmt.Errorf("%w: certificate larger than %d bytes", ErrUnauthorized, maxCertBytes)
	}
	key, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	return key, nil
}

// ParsePublicKey reads an RSA public key from PEM: a CERTIFICATE (what
// EventBridge's certificate URL serves), a PUBLIC KEY (PKIX) or an RSA
// PUBLIC KEY (PKCS #1).
func ParsePublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE or PUBLIC KEY block")
		}
		var pub any
		var err error
		switch block.Type {
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %v", block.Type, err)
		}
		key, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("PEM %s holds a %T, not an RSA key", block.Type, pub)
		}
		return key, checkKey(key)
	}
}

// ParsePrivateKey reads the RSA private key a Signer signs with, from PEM
// ("RSA PRIVATE KEY", PKCS #1, or "PRIVATE KEY", PKCS #8): the emulator's
// stand-in for EventBridge's key. Its public half is what a receiver pins.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM RSA PRIVATE KEY or PRIVATE KEY block")
		}
		var key any
		var err error
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %v", block.Type, err)
		}
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PEM %s holds a %T, not an RSA key", block.Type, key)
		}
		return k, checkKey(&k.PublicKey)
	}
}

// checkKey refuses keys no signature should be trusted under. 1024 bits is
// allowed: the v1 secret of Alibaba's own test vector is 128 bytes.
func checkKey(k *rsa.PublicKey) error {
	if k.N == nil || k.N.BitLen() < 1024 || k.E < 3 || k.E%2 == 0 {
		return errors.New("not a usable RSA public key (at least 1024 bits, odd exponent ≥ 3)")
	}
	return nil
}

// keyCache keeps fetched keys by URL (EventBridge names each certificate
// file by its issue, so a URL's key does not change), remembers a failure
// for a few seconds so that a flood of requests naming one bad URL costs
// one fetch, and fetches at most once a second in all, so that forged
// requests naming ever new paths on the allowed host cannot turn the
// receiver into a downloader (a real new certificate waits at most that
// second: its push is answered 503 and retried). Bounded: it forgets
// everything when full.
type keyCache struct {
	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	failed    map[string]time.Time
	lastFetch time.Time
}

const (
	maxCachedKeys    = 16
	keyFailureHold   = 10 * time.Second
	minFetchInterval = time.Second
)

func (c *keyCache) get(ctx context.Context, u string, now func() time.Time, fetch func(context.Context) (*rsa.PublicKey, error)) (*rsa.PublicKey, error) {
	c.mu.Lock()
	if k, ok := c.keys[u]; ok {
		c.mu.Unlock()
		return k, nil
	}
	if until, ok := c.failed[u]; ok && now().Before(until) {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: the certificate URL failed moments ago", ErrKeyUnavailable)
	}
	t := now()
	if t.Sub(c.lastFetch) < minFetchInterval {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: another certificate was fetched moments ago", ErrKeyUnavailable)
	}
	c.lastFetch = t
	c.mu.Unlock()
	k, err := fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.failed == nil || len(c.failed) >= maxCachedKeys {
			c.failed = map[string]time.Time{}
		}
		c.failed[u] = now().Add(keyFailureHold)
		return nil, err
	}
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = map[string]*rsa.PublicKey{}
	}
	c.keys[u] = k
	delete(c.failed, u)
	return k, nil
}

// Signer signs a request exactly as EventBridge does, for the emulator and
// tests. It writes the canonical reading of Verifier: the token line always
// (empty without a token), the trailing newline, the timestamp in epoch
// milliseconds, the URL of req as it is.
type Signer struct {
	// Key is the private half of the key the receiver trusts. Required.
	Key *rsa.PrivateKey
	// CertURL goes to x-eventbridge-signature-url. Required.
	CertURL string
	// Version is V1 or V2. Default V2.
	Version Version
	// Token, when set, is sent as x-eventbridge-signature-token (and so
	// signed).
	Token string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand is v1's source of temporary secrets. Default crypto/rand.
	Rand io.Reader
}

// Sign sets req's signature headers for body. req.URL must be absolute: it
// is the target URL that is signed.
func (s *Signer) Sign(req *http.Request, body []byte) error {
	if s.Key == nil || s.CertURL == "" {
		return errors.New("a Signer needs a Key and a CertURL")
	}
	if req.URL == nil || req.URL.Scheme == "" || req.URL.Host == "" {
		return errors.New("sign: the request URL must be absolute (scheme://host/path)")
	}
	now, rnd := time.Now, s.Rand
	if s.Now != nil {
		now = s.Now
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	h := req.Header
	if h == nil {
		h = http.Header{}
		req.Header = h
	}
	h.Set(HeaderTimestamp, strconv.FormatInt(now().UnixMilli(), 10))
	h.Set(HeaderVersion, "1.0")
	h.Set(HeaderURL, s.CertURL)
	if s.Token != "" {
		h.Set(HeaderToken, s.Token)
	}
	target := req.URL.Scheme + "://" + req.URL.Host + req.URL.RequestURI()
	switch s.Version {
	case V1:
		h.Set(HeaderMethod, "HMAC-SHA1")
		raw := make([]byte, 16)
		if _, err := io.ReadFull(rnd, raw); err != nil {
			return fmt.Errorf("sign: temporary secret: %w", err)
		}
		secret := []byte(hex.EncodeToString(raw))
		// PKCS #1 v1.5 with no hash is the raw "private-key encryption"
		// (block type 1) that Java's Cipher("RSA") does.
		wrapped, err := rsa.SignPKCS1v15(nil, s.Key, crypto.Hash(0), secret)
		if err != nil {
			return fmt.Errorf("sign: wrap the secret: %w", err)
		}
		h.Set(HeaderSecret, base64.StdEncoding.EncodeToString(wrapped))
		mac := hmac.New(sha1.New, secret)
		mac.Write(stringToSign(target, h, v1Headers, true, body, true))
		h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	case V2, "":
		h.Set(HeaderHashMethod, "SHA256")
		sum := sha256.Sum256(stringToSign(target, h, v2Headers, true, body, true))
		sig, err := rsa.SignPKCS1v15(rnd, s.Key, crypto.SHA256, sum[:])
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		h.Set(HeaderSignatureV2, base64.StdEncoding.EncodeToString(sig))
	default:
		return fmt.Errorf("sign: version %q is not v1 or v2", s.Version)
	}
	return nil
}
