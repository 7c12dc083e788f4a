package dataworks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// retried is how the activities read an error of this package: neither
// Throttled nor Permanent, so a later attempt may succeed.
func retried(err error) bool {
	_, ok := AsError(err)
	return ok && !Throttled(err) && !Permanent(err)
}

// TestClassification puts every code of the fact sheet, and every code the
// client sets itself, through the predicates.
func TestClassification(t *testing.T) {
	type want struct{ throttled, quota, transient, permanent, notSent bool }
	var (
		throttle  = want{throttled: true, notSent: true}
		quota     = want{throttled: true, quota: true, notSent: true}
		transient = want{transient: true}
		permanent = want{permanent: true}
	)
	replied := func(status int, code string) *Error {
		return &Error{Phase: PhaseReplied, HTTPStatus: status, Code: code}
	}
	tests := []struct {
		err  *Error
		want want
	}{
		{replied(400, "Throttling"), throttle},
		{replied(400, "Throttling.User"), throttle},
		{replied(429, "Throttling.Api"), throttle},
		{replied(400, "Throttling.System"), throttle},
		{replied(400, "Throttling.Resource"), throttle},
		{replied(400, CodeDailyQuotaSpent), quota},
		{replied(503, CodeServiceUnavailable), transient},
		{replied(200, CodeServiceUnavailable), transient},
		{replied(500, "InternalError.System"), transient},
		{replied(500, CodeInternalError), transient},
		{replied(502, "HTTP502"), transient},
		{replied(403, CodeForbiddenAccess), permanent},
		{replied(403, CodeNotAuthorized), permanent},
		{replied(500, CodeProjectNoPermission), permanent},
		{replied(404, CodeUnknownAccessKey), permanent},
		{replied(400, CodeBadSignature), permanent},
		{replied(400, CodeIncompleteSignature), permanent},
		{replied(400, "InvalidSecurityToken.Expired"), permanent},
		{replied(200, CodeBadBizdate), permanent},
		{replied(400, CodeBadBizdate), permanent},
		{replied(200, CodeInvalidDagID), permanent},
		{replied(200, CodeUnsuccessful), permanent},
		{replied(400, "InvalidParameter"), permanent},
		{replied(404, "HTTP404"), permanent},
		{replied(400, CodeNonceUsed), transient},
		{replied(200, CodeInvalidResponse), transient},
		{replied(400, CodeSDKPanic), transient},
		{&Error{Phase: PhaseNotSent, Code: CodeTransport}, want{transient: true, notSent: true}},
		{&Error{Phase: PhaseNotSent, Code: CodeCanceled, Err: context.Canceled}, want{transient: true, notSent: true}},
		{&Error{Phase: PhaseNotSent, Code: CodeCredentials}, want{transient: true, notSent: true}},
		{&Error{Phase: PhaseNotSent, Code: CodeClientError}, want{transient: true, notSent: true}},
		{&Error{Phase: PhaseNotSent, Code: CodeInvalidInput}, want{permanent: true, notSent: true}},
		{&Error{Phase: PhaseNotSent, Code: CodeUnsupported}, want{permanent: true, notSent: true}},
		{&Error{Phase: PhaseUnknown, Code: CodeTransport}, transient},
		{&Error{Phase: PhaseUnknown, HTTPStatus: 200, Code: CodeTransport}, transient},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%v/%d/%s", tt.err.Phase, tt.err.HTTPStatus, tt.err.Code)
		t.Run(name, func(t *testing.T) {
			// Wrapped, as an activity would see it.
			err := fmt.Errorf("activity: %w", tt.err)
			got := want{Throttled(err), QuotaExhausted(err), retried(err), Permanent(err), NotSent(err)}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	plain := errors.New("not ours")
	if Throttled(plain) || retried(plain) || Permanent(plain) || NotSent(plain) || QuotaExhausted(plain) {
		t.Error("a foreign error must match no predicate")
	}
}

// TestRefused: only a 4xx error reply or a code DataWorks documents as a
// refusal proves a write was not acted on; a business error inside a 2xx
// with another code, or a 2020 envelope saying 5xx, may have been.
func TestRefused(t *testing.T) {
	replied := func(status, envelope int, code string) *Error {
		return &Error{Phase: PhaseReplied, HTTPStatus: status, EnvelopeStatus: envelope, Code: code}
	}
	tests := []struct {
		err                *Error
		refused, transient bool
		permanent, notSent bool
		description        string
	}{
		{replied(200, 0, CodeBadBizdate), true, false, true, false, "600011 in a 200"},
		{replied(200, 0, "9990001"), false, false, true, false, "undocumented code in a 200"},
		{replied(200, 0, CodeUnsuccessful), false, false, true, false, "Success:false without a code"},
		{replied(200, 0, "Throttling.User"), false, false, false, false, "throttling inside a 200 is undocumented"},
		{replied(200, 500, "9990001"), false, true, false, false, "a 500 envelope inside a 200"},
		{replied(200, 500, CodeProjectNoPermission), true, false, true, false, "permission, documented as 500"},
		{replied(200, 403, "Forbidden.Other"), true, false, true, false, "any Forbidden.*"},
		{replied(200, 400, "9990001"), false, false, true, false, "a 4xx envelope inside a 200, unknown code"},
		{replied(200, 400, "Invalid.Tenant.FlowNotExist"), true, false, true, false, "no such flow, in a 200"},
		{replied(400, 0, "InvalidParameter"), true, false, true, false, "4xx error reply"},
		{replied(404, 0, CodeUnknownAccessKey), true, false, true, false, "credentials"},
		{replied(400, 0, CodeNonceUsed), true, true, false, false, "nonce reused: refused, retry cures"},
		{replied(429, 0, "Throttling.Api"), true, false, false, true, "throttled"},
		{replied(400, 0, "InternalError.Odd"), false, true, false, false, "an internal error is not a refusal"},
		{replied(503, 0, CodeServiceUnavailable), false, true, false, false, "5xx"},
		{replied(500, 0, CodeProjectNoPermission), true, false, true, false, "permission as a 500"},
		{replied(302, 0, "HTTP302"), false, false, true, false, "a redirect proves nothing"},
		{replied(200, 0, CodeInvalidResponse), false, true, false, false, "unreadable 200"},
		{&Error{Phase: PhaseUnknown, Code: CodeTransport}, false, true, false, false, "no reply"},
		{&Error{Phase: PhaseNotSent, Code: CodeTransport}, false, true, false, true, "never left"},
	}
	for _, tt := range tests {
		t.Run(tt.description, func(t *testing.T) {
			err := fmt.Errorf("activity: %w", tt.err)
			if got := Refused(err); got != tt.refused {
				t.Errorf("Refused = %v, want %v", got, tt.refused)
			}
			if got := retried(err); got != tt.transient {
				t.Errorf("retried = %v, want %v", got, tt.transient)
			}
			if got := Permanent(err); got != tt.permanent {
				t.Errorf("Permanent = %v, want %v", got, tt.permanent)
			}
			if got := NotSent(err); got != tt.notSent {
				t.Errorf("NotSent = %v, want %v", got, tt.notSent)
			}
		})
	}
	if Refused(errors.New("not ours")) {
		t.Error("a foreign error is no refusal")
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  *Error
		want []string
	}{
		{&Error{Action: "CreateManualDag", Phase: PhaseReplied, HTTPStatus: 400, Code: CodeBadSignature, RequestID: "R1", AccessKeyID: "LTAIx"},
			[]string{"CreateManualDag", CodeBadSignature, "HTTP 400", "LTAIx", "R1", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"}},
		{&Error{Action: "SearchManualDagNodeInstance", Phase: PhaseReplied, HTTPStatus: 200, Code: CodeInvalidDagID, Message: "bad"},
			[]string{"11020293069", "bad", "does not know this DAG id"}},
		{&Error{Action: "CreateManualDag", Phase: PhaseUnknown, Code: CodeTransport, Err: errors.New("EOF")},
			[]string{"may have reached DataWorks", "EOF"}},
		{&Error{Action: "CreateManualDag", Phase: PhaseNotSent, Code: CodeInvalidInput, Message: "FlowName is empty"},
			[]string{"not sent", "FlowName is empty"}},
		{&Error{Action: "CreateManualDag", Phase: PhaseNotSent, Code: CodeCredentials, Err: errors.New("no chain")},
			[]string{"not sent", "ALIBABA_CLOUD_ACCESS_KEY_ID"}},
		{&Error{Action: "CreateManualDag", Phase: PhaseReplied, HTTPStatus: 400, Code: CodeDailyQuotaSpent},
			[]string{"daily", "quota"}},
	}
	for _, tt := range tests {
		msg := tt.err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
	}
}
