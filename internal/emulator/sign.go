package emulator

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Key is one configured AccessKey pair.
type Key struct {
	Secret string `json:"-"`
	// NoPermission makes every business call signed with this key answer
	// Forbidden.Wkbench.ProjectNoPermission with HTTP 500, as the real
	// service does for a RAM user without a workspace role.
	NoPermission bool `json:"noPermission,omitempty"`
}

// timestampLayout is the SDK's Timestamp format (always UTC).
const timestampLayout = "2006-01-02T15:04:05Z"

// stringToSign rebuilds the signature v1 string exactly as the SDK's
// buildRpcStringToSign does: every parameter but Signature, sorted,
// RFC 3986 encoded, joined, then encoded once more behind "METHOD&%2F&".
func stringToSign(method string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k))
		b.WriteByte('=')
		b.WriteString(percentEncode(params[k]))
	}
	return method + "&%2F&" + percentEncode(b.String())
}

// percentEncode is RFC 3986 encoding as Alibaba Cloud uses it.
func percentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

func sign(method string, params map[string]string, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// verifier checks signature v1 and remembers nonces for as long as a
// timestamp stays acceptable: an older nonce cannot be replayed anyway,
// because its timestamp would be rejected, so the store stays bounded.
//
// It reads the real wall clock, not Options.Now: the SDK stamps requests
// with the wall clock, and a test's simulated clock may be anywhere.
type verifier struct {
	keys    map[string]Key
	maxSkew time.Duration
	now     func() time.Time

	mu     sync.Mutex
	nonces map[string]time.Time // nonce → when it was first seen
	order  []nonceEntry         // in arrival order, for expiry
}

type nonceEntry struct {
	nonce string
	seen  time.Time
}

func newVerifier(keys map[string]Key, maxSkew time.Duration) *verifier {
	return &verifier{keys: keys, maxSkew: maxSkew, now: time.Now, nonces: map[string]time.Time{}}
}

// required signature parameters, in the order the missing one is reported.
var signatureParams = []string{
	"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp",
}

// verify returns the key used, or the API error to answer with.
func (v *verifier) verify(method string, params map[string]string) (Key, *apiError) {
	now := v.now()
	for _, p := range signatureParams {
		if _, ok := params[p]; !ok {
			if p == "Signature" || p == "AccessKeyId" {
				return Key{}, errIncompleteSignature(p)
			}
			return Key{}, errMissingParameter(p)
		}
	}
	if params["SignatureMethod"] != "HMAC-SHA1" {
		return Key{}, newAPIError(http.StatusBadRequest, "InvalidParameter.SignatureMethod",
			"Specified signature method "+params["SignatureMethod"]+" is not supported; use HMAC-SHA1.")
	}
	if params["SignatureVersion"] != "1.0" {
		return Key{}, newAPIError(http.StatusBadRequest, "InvalidParameter.SignatureVersion",
			"Specified signature version "+params["SignatureVersion"]+" is not supported; use 1.0.")
	}
	key, ok := v.keys[params["AccessKeyId"]]
	if !ok {
		return Key{}, newAPIError(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	ts, err := time.Parse(timestampLayout, params["Timestamp"])
	if err != nil {
		return Key{}, newAPIError(http.StatusBadRequest, "InvalidTimeStamp.Format",
			"Specified time stamp or date value is not well formatted; use "+timestampLayout+" in UTC.")
	}
	if skew := now.Sub(ts); skew > v.maxSkew || skew < -v.maxSkew {
		return Key{}, newAPIError(http.StatusBadRequest, "InvalidTimeStamp.Expired",
			"Specified time stamp or date value is expired; check the client clock.")
	}
	want := sign(method, params, key.Secret)
	if !hmac.Equal([]byte(want), []byte(params["Signature"])) {
		e := newAPIError(http.StatusBadRequest, "SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:"+stringToSign(method, params))
		return Key{}, e
	}
	// The nonce is checked last so that a rejected request does not burn it.
	if !v.useNonce(params["SignatureNonce"], now) {
		return Key{}, newAPIError(http.StatusBadRequest, "SignatureNonceUsed",
			"Specified signature nonce was used already.")
	}
	return key, nil
}

func (v *verifier) useNonce(nonce string, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	// Entries older than twice the skew can no longer match an acceptable
	// timestamp (the request's timestamp may lead or lag by maxSkew).
	cutoff := now.Add(-2 * v.maxSkew)
	i := 0
	for ; i < len(v.order) && v.order[i].seen.Before(cutoff); i++ {
		delete(v.nonces, v.order[i].nonce)
	}
	v.order = v.order[i:]
	if _, used := v.nonces[nonce]; used {
		return false
	}
	v.nonces[nonce] = now
	v.order = append(v.order, nonceEntry{nonce, now})
	return true
}

func (v *verifier) nonceCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.nonces)
}
