package emulator

import (
	"fmt"
	"net/http"
)

// apiError is an answer in the common Alibaba Cloud error shape. The SDK
// turns any non-2xx answer into *errors.ServerError from these fields.
type apiError struct {
	status  int
	code    string
	message string
}

func newAPIError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

// Error codes the emulator answers with, grouped as the real service does.
const (
	CodeThrottlingUser     = "Throttling.User"
	CodeQuotaExhausted     = "Throttling.Api.Risk"
	CodeServiceUnavailable = "ServiceUnavailable"
	CodeInternalError      = "InternalError.System"
	CodeNoPermission       = "Forbidden.Wkbench.ProjectNoPermission"
	CodeBizdateFormat      = "600011"      // 2018 ReturnCode, HTTP 200
	CodeInvalidDagID       = "11020293069" // 2018 ErrCode, HTTP 200
	CodeProjectNotExist    = "Invalid.Tenant.ProjectNotExist"
	CodeFlowNotExist       = "Invalid.Tenant.FlowNotExist"
	// CodeDagNotExist answers a 2020 call about an unknown DAG; the 2018
	// API answers CodeInvalidDagID with HTTP 200 instead.
	CodeDagNotExist         = "Invalid.Tenant.DagNotExist"
	CodeInstanceNotExist    = "Invalid.Tenant.InstanceNotExist"
	CodeInstanceStatus      = "Invalid.Tenant.InstanceStatusNotSupport"
	CodeInvalidParameter    = "InvalidParameter"
	CodeMissingParameter    = "MissingParameter"
	CodeIncompleteSignature = "IncompleteSignature"
)

func errMissingParameter(name string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeMissingParameter,
		"The input parameter \""+name+"\" that is mandatory for processing this request is not supplied.")
}

func errIncompleteSignature(name string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeIncompleteSignature,
		"The request signature does not conform to Aliyun standards: "+name+" is missing.")
}

func errInvalidParameter(name, why string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidParameter,
		"The specified parameter \""+name+"\" is not valid: "+why)
}

// errorBody is the common error body. Code is any, so that the
// numeric-code fault can send a number (which makes the SDK panic).
type errorBody struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      any    `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
	// The 2020-05-18 envelope fields, so a typed caller sees them too.
	Success        *bool  `json:"Success,omitempty"`
	HTTPStatusCode int    `json:"HttpStatusCode,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

func newDagNotExist(id int64) *apiError {
	return newAPIError(http.StatusBadRequest, CodeDagNotExist, fmt.Sprintf("The DAG %d does not exist in this project; check DagId and ProjectName.", id))
}
