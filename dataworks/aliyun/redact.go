package aliyun

import (
	"net/url"
	"strings"
)

// secretParams are request parameters whose values must never reach an error
// message or a log: a Signature can be replayed within its nonce window, a
// SecurityToken is a credential.
var secretParams = []string{"Signature", "SecurityToken", "BearerToken", "AccessKeySecret"}

// separators between a parameter name and its value, raw, URL-encoded once
// (a string to sign) or twice, and JSON.
var separators = []string{"=", "%3D", "%253D", `":"`, `": "`}

// valueEnds end a parameter value in those forms.
var valueEnds = []string{"&", "%26", "%2526", `"`, " ", "\t", "\n", ",", ";"}

// redact replaces every value of a secret parameter in s, and every
// occurrence of the given secrets (raw or URL-encoded), by "***".
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, "***")
		if q := url.QueryEscape(sec); q != sec {
			s = strings.ReplaceAll(s, q, "***")
		}
	}
	for _, name := range secretParams {
		for _, sep := range separators {
			s = redactParam(s, name+sep)
		}
	}
	return s
}

func redactParam(s, prefix string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, prefix)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+len(prefix)])
		rest := s[i+len(prefix):]
		end := len(rest)
		for _, e := range valueEnds {
			if j := strings.Index(rest, e); j >= 0 && j < end {
				end = j
			}
		}
		if end > 0 {
			b.WriteString("***")
		}
		s = rest[end:]
	}
}

// redactedError shows a scrubbed message but keeps the original error for
// errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
