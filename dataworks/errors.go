package dataworks

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Phase says how far a call got before it failed. For a write such as
// CreateManualDag, which carries no idempotency token, it decides whether the
// call may be sent again.
type Phase int

const (
	// PhaseNotSent: the request provably never reached DataWorks (a dial,
	// DNS or TLS-handshake error, or a context that was already done).
	PhaseNotSent Phase = iota + 1
	// PhaseUnknown: the request was, or may have been, written, and no reply
	// came back (a timeout or a reset after writing).
	PhaseUnknown
	// PhaseReplied: DataWorks (or something in front of it) replied with an
	// error.
	PhaseReplied
)

func (p Phase) String() string {
	switch p {
	case PhaseNotSent:
		return "not sent"
	case PhaseUnknown:
		return "outcome unknown"
	case PhaseReplied:
		return "replied"
	}
	return "phase(" + fmt.Sprint(int(p)) + ")"
}

// Error codes this package gives a meaning to. Codes from the service are
// kept verbatim in Error.Code; these are the ones the predicates know.
const (
	CodeThrottlingPrefix    = "Throttling"
	CodeDailyQuotaSpent     = "Throttling.Api.Risk"
	CodeServiceUnavailable  = "ServiceUnavailable"
	CodeInternalError       = "InternalError"
	CodeProjectNoPermission = "Forbidden.Wkbench.ProjectNoPermission"
	CodeForbiddenAccess     = "Forbidden.Access"
	CodeNotAuthorized       = "ResourceNotAuthorized.Api"
	CodeUnknownAccessKey    = "InvalidAccessKeyId.NotFound"
	CodeBadSignature        = "SignatureDoesNotMatch"
	CodeIncompleteSignature = "IncompleteSignature"
	CodeNonceUsed           = "SignatureNonceUsed"
	CodeBadBizdate          = "600011"      // CreateManualDag: Bizdate not "yyyy-MM-dd 00:00:00"
	CodeInvalidDagID        = "11020293069" // SearchManualDagNodeInstance: unknown DagId

	// Codes this package sets itself (never sent by the service).
	CodeTransport       = "Transport"       // no reply: see Error.Phase and Error.Err
	CodeInvalidResponse = "InvalidResponse" // a reply that is not the documented JSON
	CodeSDKPanic        = "SDKPanic"        // the Alibaba SDK panicked while handling the reply
)

// permanentCodes are refusals that no retry can cure, whatever HTTP status
// they arrive with (ProjectNoPermission comes as a 500).
var permanentCodes = map[string]bool{
	CodeProjectNoPermission:          true,
	CodeForbiddenAccess:              true,
	CodeNotAuthorized:                true,
	CodeUnknownAccessKey:             true,
	"InvalidAccessKeyId.Inactive":    true,
	CodeBadSignature:                 true,
	CodeIncompleteSignature:          true,
	"InvalidSecurityToken.Expired":   true,
	"InvalidSecurityToken.Malformed": true,
	CodeBadBizdate:                   true,
	CodeInvalidDagID:                 true,
}

// transientReplyCodes are error replies that a later attempt can cure even
// though they arrive with a 4xx status.
var transientReplyCodes = map[string]bool{
	CodeNonceUsed: true,
}

// Error is every error a Client call returns. It never holds a secret: the
// AccessKeyId names the identity, the secret stays in the credential provider.
type Error struct {
	Action     string // API action, e.g. "CreateManualDag"
	Phase      Phase
	HTTPStatus int // 0 when no reply came
	Code       string
	Message    string
	RequestID  string
	Recommend  string // the service's troubleshooting URL, when given
	// AccessKeyID is the identity the call was signed with, when known, so
	// that a permission or credential error can say which key to look at.
	AccessKeyID string
	Err         error // underlying transport or decoding error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "DataWorks %s: ", e.Action)
	switch e.Phase {
	case PhaseNotSent:
		b.WriteString("request not sent")
	case PhaseUnknown:
		b.WriteString("no reply (the request may have reached DataWorks)")
	default:
		b.WriteString(e.Code)
		if e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK {
			fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil && e.Phase != PhaseReplied {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.AccessKeyID != "" && (e.credentialProblem() || e.permissionProblem()) {
		fmt.Fprintf(&b, " [AccessKeyId %s]", e.AccessKeyID)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [RequestId %s]", e.RequestID)
	}
	if h := e.hint(); h != "" {
		b.WriteString(": ")
		b.WriteString(h)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) credentialProblem() bool {
	switch e.Code {
	case CodeUnknownAccessKey, "InvalidAccessKeyId.Inactive", CodeBadSignature, CodeIncompleteSignature,
		"InvalidSecurityToken.Expired", "InvalidSecurityToken.Malformed":
		return true
	}
	return false
}

func (e *Error) permissionProblem() bool {
	switch e.Code {
	case CodeProjectNoPermission, CodeForbiddenAccess, CodeNotAuthorized:
		return true
	}
	return false
}

// hint says, in a user's words, what to do about the error.
func (e *Error) hint() string {
	switch {
	case e.Code == CodeUnknownAccessKey || e.Code == "InvalidAccessKeyId.Inactive":
		return "the AccessKeyId is unknown or disabled; check ALIBABA_CLOUD_ACCESS_KEY_ID (or the credential chain) of the worker"
	case e.Code == CodeBadSignature:
		return "the AccessKey secret does not match the AccessKeyId; check ALIBABA_CLOUD_ACCESS_KEY_SECRET of the worker"
	case e.permissionProblem():
		return "the identity lacks permission on this DataWorks project or API; grant it in RAM and the DataWorks workspace members"
	case e.Code == CodeDailyQuotaSpent:
		return "the account's daily DataWorks API quota is spent; calls resume when it resets"
	case Throttled(e):
		return "DataWorks is rate-limiting this account; retry later"
	case e.Code == CodeBadBizdate:
		return "Bizdate must be yyyy-MM-dd 00:00:00"
	case e.Code == CodeInvalidDagID:
		return "DataWorks does not know this DAG id in this project"
	}
	return ""
}

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Throttled reports whether DataWorks refused the call for rate or quota
// reasons (every Throttling* code). The request was not processed.
func Throttled(err error) bool {
	e, ok := AsError(err)
	return ok && e.Phase == PhaseReplied && strings.HasPrefix(e.Code, CodeThrottlingPrefix)
}

// QuotaExhausted reports whether the account's daily API quota is spent
// (Throttling.Api.Risk): retrying within seconds is pointless, hours are not.
func QuotaExhausted(err error) bool {
	e, ok := AsError(err)
	return ok && e.Phase == PhaseReplied && e.Code == CodeDailyQuotaSpent
}

// Transient reports whether a later attempt may succeed: no reply at all
// (connection errors, timeouts), a 5xx reply that is not a known-permanent
// code, or a reply that is not the documented JSON. Throttling is reported by
// Throttled, not here.
func Transient(err error) bool {
	e, ok := AsError(err)
	if !ok {
		return false
	}
	switch {
	case e.Phase != PhaseReplied:
		return true
	case Throttled(e), permanentCodes[e.Code]:
		return false
	case transientReplyCodes[e.Code], e.Code == CodeInvalidResponse, e.Code == CodeSDKPanic:
		return true
	}
	return e.HTTPStatus >= 500
}

// Permanent reports whether DataWorks refused the call in a way no retry can
// cure: bad credentials or signature, missing permission, an invalid parameter,
// an unknown DAG id, or any other non-throttling error reply below 500 and any
// business error inside an HTTP 200.
func Permanent(err error) bool {
	e, ok := AsError(err)
	if !ok || e.Phase != PhaseReplied {
		return false
	}
	switch {
	case permanentCodes[e.Code]:
		return true
	case Throttled(e), transientReplyCodes[e.Code], e.Code == CodeInvalidResponse, e.Code == CodeSDKPanic:
		return false
	}
	return e.HTTPStatus < 500
}

// NotSent reports whether the request provably had no effect in DataWorks, so
// that a write may be sent again: it never left (dial, DNS, TLS handshake, a
// context already done), or DataWorks refused it before processing (a
// throttling reply).
func NotSent(err error) bool {
	e, ok := AsError(err)
	return ok && (e.Phase == PhaseNotSent || Throttled(e))
}
