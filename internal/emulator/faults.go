package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"time"
)

// Faults are injected into the calls of one action. Rates are fractions
// of calls (0..1), decided by a random source seeded from Options.Seed and
// the action name, so a given sequence of calls of one action meets the
// same faults on every run whatever other actions do in between.
type Faults struct {
	// ThrottleRate answers Throttling.User (HTTP 400) without processing.
	ThrottleRate float64 `json:"throttleRate,omitempty"`
	// ServerErrorRate answers ServiceUnavailable (503) or
	// InternalError.System (500), half each, without processing.
	ServerErrorRate float64 `json:"serverErrorRate,omitempty"`
	// DropRate processes the call (a create is recorded), then closes the
	// connection without answering: the caller cannot tell what happened.
	DropRate float64 `json:"dropRate,omitempty"`
	// Latency is added before answering (real time, not scaled).
	Latency time.Duration `json:"-"`
	// NumericCode sends error bodies with a JSON number as Code, which the
	// Alibaba SDK cannot decode (it panics): for hostile-response tests.
	NumericCode bool `json:"numericCode,omitempty"`

	// The faults below are counted or timed rather than drawn at random, so
	// that a test can produce exactly one of them at a chosen moment (one
	// empty reply after nodes were listed, say). They apply after the
	// signature, quota, rate faults and permission gates, like the real
	// business errors they model.

	// EmptyReplies answers the next N searches that would have succeeded
	// (SearchManualDagNodeInstance, GetManualDagInstances,
	// ListManualDagInstances; other actions ignore it) with HTTP 200, a
	// success envelope and no node list, however many nodes are visible.
	// Each such reply uses one up; Faults() shows how many are left.
	EmptyReplies int `json:"emptyReplies,omitempty"`
	// EmptyReplyForm is how an empty reply looks: EmptyFormMissing (the
	// default) leaves the list out (2018: no Data; 2020: no Instances),
	// EmptyFormEmpty sends an empty one (2018: Data {"NodeInsInfo":[]};
	// 2020: "Instances":[]).
	EmptyReplyForm string `json:"emptyReplyForm,omitempty"`
	// BusinessErrors answers the next N calls with an HTTP 200 business
	// error: 2018 Success:false with ErrCode (searches) or ReturnCode
	// (creates) BusinessErrorCode; 2020 the envelope Success:false,
	// ErrorCode BusinessErrorCode, HttpStatusCode BusinessErrorStatus. Each
	// such reply uses one up.
	BusinessErrors int `json:"businessErrors,omitempty"`
	// BusinessErrorFor answers every call with that business error for this
	// long (emulator clock) after the faults were set, whatever
	// BusinessErrors says.
	BusinessErrorFor time.Duration `json:"-"`
	// BusinessErrorCode is the code of those errors. Default
	// DefaultBusinessErrorCode, a code DataWorks does not document.
	BusinessErrorCode string `json:"businessErrorCode,omitempty"`
	// BusinessErrorStatus is the HttpStatusCode a 2020 envelope carries
	// inside the HTTP 200 (500 models a server error wrapped in a 200).
	// Default 200.
	BusinessErrorStatus int `json:"businessErrorStatus,omitempty"`
	// BusinessErrorAfterProcessing processes the call before answering the
	// business error: a create starts its DAG run (inspection shows it, and
	// it runs), only the reply says it failed. Default: the error answers
	// instead of processing.
	BusinessErrorAfterProcessing bool `json:"businessErrorAfterProcessing,omitempty"`
	// DropReplies processes the next N calls that would have succeeded,
	// then closes the connection without answering, as DropRate does at
	// random. Each dropped reply uses one up.
	DropReplies int `json:"dropReplies,omitempty"`
	// CreateFailures makes the next N CreateWorkflowInstances (2024-05-18)
	// that would have succeeded fail inside DataWorks: the reply carries an
	// OperationId as usual, but no workflow instance is made, and once the
	// Creating window has passed GetCreateWorkflowInstancesResult answers
	// Status CreateFailure with CreateFailureMessage. Other actions ignore
	// it. Each such create uses one up.
	CreateFailures int `json:"createFailures,omitempty"`
	// CreateFailureMessage is the FailureMessage of those results. Default
	// DefaultCreateFailureMessage.
	CreateFailureMessage string `json:"createFailureMessage,omitempty"`
	// DagID limits EmptyReplies, DropReplies and the business errors to
	// calls whose DagId (or WorkflowInstanceId) parameter is this id
	// (creates and GetCreateWorkflowInstancesResult have none). Default 0:
	// any call.
	DagID int64 `json:"dagId,omitempty"`
}

// Values of Faults.EmptyReplyForm.
const (
	EmptyFormMissing = "missing"
	EmptyFormEmpty   = "empty"
)

// DefaultBusinessErrorCode is the code of an injected business error when
// Faults.BusinessErrorCode is empty: one DataWorks does not document, so a
// client cannot know whether the call took effect.
const DefaultBusinessErrorCode = "9990001"

// DefaultCreateFailureMessage is the FailureMessage of an injected
// CreateFailure when Faults.CreateFailureMessage is empty.
const DefaultCreateFailureMessage = "injected CreateFailure: the workflow instance could not be created"

// validate refuses values that would silently inject something else.
func (f Faults) validate() error {
	switch {
	case f.EmptyReplies < 0 || f.BusinessErrors < 0 || f.DropReplies < 0 || f.CreateFailures < 0:
		return errors.New("faults: emptyReplies, businessErrors, dropReplies and createFailures must not be negative")
	case f.BusinessErrorFor < 0:
		return errors.New("faults: businessErrorFor must not be negative")
	case f.BusinessErrorStatus != 0 && (f.BusinessErrorStatus < 100 || f.BusinessErrorStatus > 599):
		return fmt.Errorf("faults: businessErrorStatus %d is not an HTTP status", f.BusinessErrorStatus)
	}
	switch f.EmptyReplyForm {
	case "", EmptyFormMissing, EmptyFormEmpty:
		return nil
	}
	return fmt.Errorf("faults: emptyReplyForm %q is neither %q nor %q", f.EmptyReplyForm, EmptyFormMissing, EmptyFormEmpty)
}

func (f Faults) businessCode() string {
	if f.BusinessErrorCode == "" {
		return DefaultBusinessErrorCode
	}
	return f.BusinessErrorCode
}

func (f Faults) createFailureMessage() string {
	if f.CreateFailureMessage == "" {
		return DefaultCreateFailureMessage
	}
	return f.CreateFailureMessage
}

func (f Faults) businessStatus() int {
	if f.BusinessErrorStatus == 0 {
		return 200
	}
	return f.BusinessErrorStatus
}

// faultsJSON writes the durations as duration strings.
type faultsJSON struct {
	faultsAlias
	Latency          Duration `json:"latency,omitempty"`
	BusinessErrorFor Duration `json:"businessErrorFor,omitempty"`
}

type faultsAlias Faults

// MarshalJSON writes Latency and BusinessErrorFor as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{faultsAlias(f), Duration(f.Latency), Duration(f.BusinessErrorFor)})
}

// UnmarshalJSON reads Latency and BusinessErrorFor as Go duration strings
// ("250ms"). Unknown fields and invalid values are refused: a misspelt rate
// would silently inject nothing.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var v faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	*f = Faults(v.faultsAlias)
	f.Latency = time.Duration(v.Latency)
	f.BusinessErrorFor = time.Duration(v.BusinessErrorFor)
	return f.validate()
}

// AllActions is the Faults key that applies to actions without their own.
const AllActions = "*"

type faultKind int

const (
	faultNone faultKind = iota
	faultThrottle
	faultUnavailable
	faultInternal
)

// decision is what the fault injector decided for one call.
type decision struct {
	before faultKind // answer with an error instead of processing
	drop   bool      // process, then drop the connection
}

// faultSource draws decisions for one action. It always draws the same
// number of values per call, so changing one rate does not shift the
// decisions of the others.
type faultSource struct{ rng *rand.Rand }

func newFaultSource(seed int64, action string) *faultSource {
	h := fnv.New64a()
	h.Write([]byte(action))
	return &faultSource{rng: rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

func (s *faultSource) decide(f Faults) decision {
	u, which, drop := s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
	var d decision
	switch {
	case u < f.ThrottleRate:
		d.before = faultThrottle
	case u < f.ThrottleRate+f.ServerErrorRate:
		d.before = faultUnavailable
		if which < 0.5 {
			d.before = faultInternal
		}
	}
	d.drop = d.before == faultNone && drop < f.DropRate
	return d
}

// searchActions list node instances: the calls EmptyReplies applies to.
var searchActions = map[string]bool{
	"SearchManualDagNodeInstance": true,
	"GetManualDagInstances":       true,
	"ListManualDagInstances":      true,
	"ListTaskInstances":           true,
}

// matchesDag reports whether f's DagID scope covers call c.
func (f Faults) matchesDag(c *rpcCall) bool {
	id := strconv.FormatInt(f.DagID, 10)
	return f.DagID == 0 || c.params["DagId"] == id || c.params["WorkflowInstanceId"] == id
}

// takeBusinessError decides whether c is answered with a business error,
// using up one of BusinessErrors unless a BusinessErrorFor window is open.
// It reads the live entry, not the caller's snapshot, so that concurrent
// calls never use up more than the count.
func (e *Emulator) takeBusinessError(c *rpcCall) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.faults[c.faultKey]
	if !ok || !f.matchesDag(c) {
		return false
	}
	if f.BusinessErrorFor > 0 && c.now.Before(e.faultsSetAt[c.faultKey].Add(f.BusinessErrorFor)) {
		return true
	}
	if f.BusinessErrors <= 0 {
		return false
	}
	f.BusinessErrors--
	e.faults[c.faultKey] = f
	return true
}

// The counted faults take uses up.
func emptyReplies(f *Faults) *int   { return &f.EmptyReplies }
func dropReplies(f *Faults) *int    { return &f.DropReplies }
func createFailures(f *Faults) *int { return &f.CreateFailures }

// take decides whether call c meets the counted fault that count picks
// (emptyReplies, dropReplies, createFailures), using up one of it. Like
// takeBusinessError it reads the live entry, not the caller's snapshot, so
// that concurrent calls never use up more than the count.
func (e *Emulator) take(c *rpcCall, count func(*Faults) *int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.faults[c.faultKey]
	n := count(&f)
	if !ok || *n <= 0 || !f.matchesDag(c) {
		return false
	}
	*n--
	e.faults[c.faultKey] = f
	return true
}

// businessErrorReply is an HTTP 200 that says the call failed, in the shape
// of c's version and action.
func businessErrorReply(c *rpcCall, f Faults) reply {
	code := f.businessCode()
	const msg = "injected business error: the service did not say whether it acted on the request"
	var body any
	switch {
	case c.version == version2024:
		// 2024-05-18 documents no business error inside a 200: this is
		// the gateway's error shape with Success false, in a 200.
		body = businessError2024{RequestID: c.requestID, Success: false, HTTPStatusCode: f.businessStatus(), Code: code, Message: msg}
	case c.version == version2020:
		body = envelope2020{RequestID: c.requestID, HTTPStatusCode: f.businessStatus(), ErrorCode: code, ErrorMessage: msg}
	case c.action == "CreateManualDag":
		body = createReply2018{RequestID: c.requestID, ReturnCode: code, ReturnMessage: msg}
	default:
		body = searchReply2018{RequestID: c.requestID, ErrCode: code, ErrMsg: msg}
	}
	return reply{body: body, outcome: code}
}

type businessError2024 struct {
	RequestID      string `json:"RequestId"`
	Success        bool   `json:"Success"`
	HTTPStatusCode int    `json:"HttpStatusCode"`
	Code           string `json:"Code"`
	Message        string `json:"Message"`
}

// emptyReply is a successful search that lists no node instance.
func emptyReply(c *rpcCall, f Faults, reference bool) reply {
	empty := f.EmptyReplyForm == EmptyFormEmpty
	var body any
	switch {
	case c.version == version2024 && empty:
		body = pagedReply2024{RequestID: c.requestID, PagingInfo: pagingInfo{PageNumber: 1, PageSize: 10, TaskInstances: []taskInstance2024{}}}
	case c.version == version2024:
		body = struct {
			RequestID string `json:"RequestId"`
		}{c.requestID}
	case c.version == version2020 && empty:
		body = instancesReply2020{okEnvelope(c), []instance2020{}}
	case c.version == version2020:
		body = okEnvelope(c)
	case empty && reference:
		body = searchReplyReference{RequestID: c.requestID, ErrCode: "0", Success: true, Data: []instanceReference{}}
	case empty:
		body = searchReply2018{RequestID: c.requestID, ErrCode: "0", Success: true, Data: nodeInsInfo{NodeInsInfo: []instance2018{}}}
	default:
		body = searchReply2018{RequestID: c.requestID, ErrCode: "0", Success: true}
	}
	return reply{body: body, outcome: OutcomeEmpty}
}
