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

// Error codes the contract gives a meaning to. Codes from the service are
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

	// Codes the client sets itself (never sent by the service).
	CodeTransport       = "Transport"        // no reply: see Error.Phase and Error.Err
	CodeInvalidResponse = "InvalidResponse"  // a reply that is not the documented JSON
	CodeSDKPanic        = "SDKPanic"         // the Alibaba SDK panicked while handling the reply
	CodeBeforeSend      = "BeforeSendFailed" // the caller's BeforeSend hook refused: nothing was sent
	CodeUnsuccessful    = "Unsuccessful"     // an HTTP 200 with Success:false and no code of its own
	CodeCanceled        = "Canceled"         // the caller's context was done before the call started
	CodeCredentials     = "Credentials"      // the credential provider could not sign the request
	CodeQPSCap          = "QPSCap"           // aliyun.Config.MaxQPS left no slot within RequestTimeout: nothing was sent
	CodeClientError     = "ClientError"      // the Alibaba SDK refused to build the request
	CodeInvalidInput    = "InvalidInput"     // the request failed validation; nothing was sent
	CodeUnsupported     = "Unsupported"      // the API version has no such call; nothing was sent
)

// clientRefusals are errors the client raises before any I/O that no retry
// can cure: the request itself must change.
var clientRefusals = map[string]bool{
	CodeInvalidInput: true,
	CodeUnsupported:  true,
}

// transientCodePrefixes are service codes that a later attempt can cure
// whatever status they arrive with (they have been seen inside HTTP 200
// envelopes too).
var transientCodePrefixes = []string{CodeServiceUnavailable, CodeInternalError}

func hasTransientPrefix(code string) bool {
	for _, p := range transientCodePrefixes {
		if code == p || strings.HasPrefix(code, p+".") {
			return true
		}
	}
	return false
}

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

// refusalCodes are the codes DataWorks documents as refusing a request
// before acting on it, whatever HTTP status they arrive with: credentials,
// signature and permission are checked by the API gateway before the API
// runs, 600011 is CreateManualDag's own Bizdate check (seen in an HTTP
// 200), and an unknown project or flow cannot have a run. Every "Forbidden." code counts too (see isRefusalCode). Only these
// make a business error inside a 2xx reply to a write safe to call "not
// acted on".
var refusalCodes = map[string]bool{
	CodeNotAuthorized:                true,
	CodeUnknownAccessKey:             true,
	"InvalidAccessKeyId.Inactive":    true,
	CodeBadSignature:                 true,
	CodeIncompleteSignature:          true,
	CodeNonceUsed:                    true,
	"InvalidSecurityToken.Expired":   true,
	"InvalidSecurityToken.Malformed": true,
	CodeBadBizdate:                   true,
	// The project or flow does not exist: no run of it can have started.
	"Invalid.Tenant.ProjectNotExist": true,
	"Invalid.Tenant.FlowNotExist":    true,
}

func isRefusalCode(code string) bool {
	return refusalCodes[code] || strings.HasPrefix(code, "Forbidden.")
}

// transientReplyCodes are error replies that a later attempt can cure even
// though they arrive with a 4xx status.
var transientReplyCodes = map[string]bool{
	CodeNonceUsed: true,
}

// Error is every error a call of the client (package aliyun) returns. It never holds a secret: the
// AccessKeyId names the identity, the secret stays in the credential provider.
type Error struct {
	Action     string // API action, e.g. "CreateManualDag"
	Phase      Phase
	HTTPStatus int // 0 when no reply came
	Code       string
	Message    string
	RequestID  string
	Recommend  string // the service's troubleshooting URL, when given
	// EnvelopeStatus is the HttpStatusCode a 2020-05-18 envelope carried
	// inside a 2xx reply with a business error; 0 when there was none.
	EnvelopeStatus int
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
		if e.EnvelopeStatus != 0 && e.EnvelopeStatus != e.HTTPStatus {
			fmt.Fprintf(&b, " (HttpStatusCode %d inside HTTP %d)", e.EnvelopeStatus, e.HTTPStatus)
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
		return "the AccessKey secret does not match the AccessKeyId; check ALIBABA_CLOUD_ACCESS_KEY_SECRET (or the configured credential) of the worker, and that its clock is right"
	case e.Code == CodeIncompleteSignature:
		return "the request's signature parameters are incomplete; check the worker's credential configuration"
	case e.Code == CodeCredentials:
		return "no credential could be obtained; set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or configure another provider of the credential chain"
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

// status is the HTTP status that classifies e: a 2xx reply whose 2020
// envelope says 5xx is a server error wrapped in a 200, and counts as that.
func (e *Error) status() int {
	if e.HTTPStatus >= 200 && e.HTTPStatus <= 299 && e.EnvelopeStatus >= 500 {
		return e.EnvelopeStatus
	}
	return e.HTTPStatus
}

// is2xx reports whether the error came inside a successful HTTP reply.
func (e *Error) is2xx() bool { return e.HTTPStatus >= 200 && e.HTTPStatus <= 299 }

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

// Permanent reports whether the call failed in a way no retry can cure:
// DataWorks refused it for bad credentials or signature, missing permission,
// an invalid parameter, an unknown DAG id, or with any other non-throttling
// error reply below 500 and any business error inside an HTTP 200; or the
// client refused it before sending (CodeInvalidInput, CodeUnsupported).
//
// A *Error that is neither Throttled nor Permanent may succeed on a later
// attempt: no reply at all (connection errors, timeouts, a credential
// provider that failed, a context that was done), a 5xx reply that is not a
// known-permanent code, an InternalError* or ServiceUnavailable* code
// whatever its status, or a reply that is not the documented JSON. For a
// write, that is not enough to resend: see NotSent.
func Permanent(err error) bool {
	e, ok := AsError(err)
	if !ok {
		return false
	}
	if e.Phase != PhaseReplied {
		return clientRefusals[e.Code]
	}
	switch {
	case permanentCodes[e.Code]:
		return true
	case Throttled(e), transientReplyCodes[e.Code], hasTransientPrefix(e.Code),
		e.Code == CodeInvalidResponse, e.Code == CodeSDKPanic:
		return false
	}
	return e.status() < 500
}

// NotSent reports whether the request provably had no effect in DataWorks, so
// that a write may be sent again: it never left (dial, DNS, TLS handshake, a
// context already done), or DataWorks refused it before processing with a
// throttling error reply. A throttling code inside a 2xx reply is not
// documented, and does not count.
func NotSent(err error) bool {
	e, ok := AsError(err)
	return ok && (e.Phase == PhaseNotSent || (Throttled(e) && !e.is2xx()))
}

// Refused reports whether DataWorks answered that it did not act on the
// request, so that a write (CreateManualDag) had no effect: an error reply
// from 400 to 499 in the common error shape (the gateway's and the service's
// refusals: throttling, an invalid parameter, an unknown flow), or a code
// DataWorks documents as a refusal (credentials, signature, permission,
// Forbidden.*, 600011) whatever the status. A business error inside a 2xx
// reply with any other code, or a 2020 envelope saying HttpStatusCode 5xx
// inside a 200, is not a refusal: DataWorks may have acted on the request.
// A refusal may still be retryable (SignatureNonceUsed) or Permanent.
func Refused(err error) bool {
	e, ok := AsError(err)
	switch {
	case !ok || e.Phase != PhaseReplied:
		return false
	case isRefusalCode(e.Code):
		return true
	case e.HTTPStatus < 400 || e.HTTPStatus > 499:
		return false
	}
	return !hasTransientPrefix(e.Code) && e.Code != CodeInvalidResponse && e.Code != CodeSDKPanic
}

// KnownPermanent reports whether err is a refusal that DataWorks documents as
// final (bad credentials or signature, missing permission, an invalid
// parameter or DAG id) or one the client raised before sending. Permanent
// also holds for any other error reply below 500, which a read may still
// retry: an undocumented code is no proof that the next call fails too.
func KnownPermanent(err error) bool {
	e, ok := AsError(err)
	if !ok {
		return false
	}
	if e.Phase != PhaseReplied {
		return clientRefusals[e.Code]
	}
	return permanentCodes[e.Code]
}
