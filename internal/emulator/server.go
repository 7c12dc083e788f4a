package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Options configure an Emulator. The zero value of every field but
// Definition and Credentials means its default.
type Options struct {
	// Definition is what is simulated. Required.
	Definition *Definition
	// Credentials maps AccessKeyId to its secret and flags. Required.
	Credentials map[string]Key
	// TimeScale divides every simulated duration: 60 runs a 30-minute flow
	// in 30 s of clock time. Default 1.
	TimeScale float64
	// Seed drives flaky outcomes and fault injection. Default 0 (a fixed
	// seed too: runs are reproducible unless the caller varies it).
	Seed int64
	// Now is the simulation clock: DAG progress, list windows, quota days
	// and the per-second call buckets follow it. Default time.Now. Tests
	// inject a fake one.
	Now func() time.Time
	// EmptyListFor is how long (clock time, not scaled) a new DAG's instance
	// list stays empty, as on the real service. Default 0.
	EmptyListFor time.Duration
	// PartialListFor is how long after EmptyListFor the list holds only the
	// first half of the nodes. Default 0.
	PartialListFor time.Duration
	// ReferenceFormat makes SearchManualDagNodeInstance answer as the
	// reference page shows (lower-case "data" array, times as strings)
	// instead of as the live service does. Default false.
	ReferenceFormat bool
	// Faults per action name; the key AllActions ("*") applies to actions
	// without their own entry. Default none.
	Faults map[string]Faults
	// DailyQuota is how many calls are answered before every call answers
	// Throttling.Api.Risk, until ResetQuota or the next day (China time).
	// Default 0: no quota.
	DailyQuota int
	// MaxClockSkew is how far a request's Timestamp may be from the wall
	// clock (not Now: the SDK stamps requests with the wall clock).
	// Default 15m, as the real service.
	MaxClockSkew time.Duration
	// CreatingFor is how long (clock time, not scaled) a 2024-05-18
	// CreateWorkflowInstances stays Creating: GetCreateWorkflowInstancesResult
	// answers Creating, and the instance is neither listed nor running, until
	// it has passed. Default 0: created at once.
	CreatingFor time.Duration
	// StopDelay is how long (DataWorks time, scaled) a stopped instance
	// takes to reach FAILURE. Default 5s.
	StopDelay time.Duration
	// Logger gets one line per RPC request, and one per event push that
	// failed. Default: no log.
	Logger *slog.Logger
	// Events push DataWorks OpenEvent status events to a receiver, as
	// EventBridge would. Default: none (no Events.URL).
	Events EventOptions
}

// Emulator is a local DataWorks RPC endpoint. It implements http.Handler:
// "/" serves the API, "/_emulator/" the inspection endpoints.
type Emulator struct {
	def         *Definition
	scale       float64
	now         func() time.Time
	emptyFor    time.Duration
	partFor     time.Duration
	stopDelay   time.Duration
	creatingFor time.Duration
	seed        int64
	log         *slog.Logger
	verifier    *verifier
	stats       *recorder
	mux         *http.ServeMux
	// referenceFormat is fixed by New, so it is read without mu.
	referenceFormat bool

	mu             sync.Mutex
	faults         map[string]Faults
	faultsSetAt    map[string]time.Time // when each entry was set (emulator clock), for BusinessErrorFor
	sources        map[string]*faultSource
	quotaLimit     int
	quotaUsed      int
	quotaDay       string
	sim            *rand.Rand
	requestSeq     uint64
	nextDagID      int64
	nextInstanceID int64
	dags           map[int64]*dagRun
	dagOrder       []*dagRun
	instances      map[int64]instanceRef
	operations     map[string]*operation // 2024-05-18 OperationId → its create
	operationSeq   uint64

	// events pushes the status events; nil when they are off. Its scan and
	// sender run until Close.
	events     *publisher
	stopEvents context.CancelFunc
	eventsDone sync.WaitGroup
}

type instanceRef struct {
	dag   *dagRun
	index int
}

var _ http.Handler = (*Emulator)(nil)

// First ids handed out; they look like the live service's.
const (
	firstDagID      = 700000100001
	firstInstanceID = 705000000001
)

// New validates the options and returns an Emulator.
func New(opts Options) (*Emulator, error) {
	if opts.Definition == nil {
		return nil, errors.New("emulator: Options.Definition is required")
	}
	if err := opts.Definition.Validate(); err != nil {
		return nil, fmt.Errorf("emulator: definition: %w", err)
	}
	if len(opts.Credentials) == 0 {
		return nil, errors.New("emulator: Options.Credentials needs at least one AccessKey pair")
	}
	for id, k := range opts.Credentials {
		if id == "" || k.Secret == "" {
			return nil, fmt.Errorf("emulator: access key %q has an empty id or secret", id)
		}
	}
	if opts.TimeScale < 0 {
		return nil, fmt.Errorf("emulator: TimeScale %v is negative", opts.TimeScale)
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxClockSkew <= 0 {
		opts.MaxClockSkew = 15 * time.Minute
	}
	if opts.StopDelay <= 0 {
		opts.StopDelay = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Emulator{
		def:             opts.Definition,
		scale:           opts.TimeScale,
		now:             opts.Now,
		emptyFor:        opts.EmptyListFor,
		partFor:         opts.PartialListFor,
		creatingFor:     opts.CreatingFor,
		operations:      map[string]*operation{},
		seed:            opts.Seed,
		log:             opts.Logger,
		verifier:        newVerifier(opts.Credentials, opts.MaxClockSkew),
		stats:           newRecorder(),
		referenceFormat: opts.ReferenceFormat,
		faults:          map[string]Faults{},
		faultsSetAt:     map[string]time.Time{},
		sources:         map[string]*faultSource{},
		quotaLimit:      opts.DailyQuota,
		sim:             rand.New(rand.NewPCG(uint64(opts.Seed), 0x6461_6777_6f72_6b73)),
		nextDagID:       firstDagID,
		nextInstanceID:  firstInstanceID,
		dags:            map[int64]*dagRun{},
		instances:       map[int64]instanceRef{},
	}
	e.stopDelay = e.scaled(opts.StopDelay)
	var err error
	for action, f := range opts.Faults {
		if err = f.validate(); err != nil {
			return nil, fmt.Errorf("emulator: faults of %s: %w", action, err)
		}
		e.faults[action] = f
		e.faultsSetAt[action] = opts.Now()
	}
	if opts.Events.URL != "" {
		if e.events, err = newPublisher(opts.Events, opts.Seed, opts.Now, opts.Logger); err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
		e.startEvents()
	}
	e.mux = e.routes()
	return e, nil
}

// ServeHTTP serves the API and the inspection endpoints.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

func (e *Emulator) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / e.scale)
}

// rpcCall is one API request being answered.
type rpcCall struct {
	params    map[string]string
	now       time.Time
	requestID string
	version   string
	action    string
	faultKey  string // the Faults entry in force: the action or AllActions
}

// reply is a handler's successful answer: HTTP 200 with body. outcome is
// OutcomeOK or the business code of a 200 that carries an error.
type reply struct {
	body    any
	outcome string
}

type handler func(e *Emulator, c *rpcCall) (reply, *apiError)

// maxBody bounds what a request body may hold.
const maxBody = 1 << 20

func (e *Emulator) serveRPC(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	c := &rpcCall{now: e.now(), requestID: e.newRequestID()}
	var (
		rep  reply
		aerr *apiError
		dec  decision
		f    Faults
	)
	c.params, aerr = readParams(w, r)
	if aerr == nil {
		c.action, c.version = c.params["Action"], c.params["Version"]
		c.faultKey, f = e.faultsFor(c.action)
		rep, dec, aerr = e.process(r, c, f)
	}
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
		}
	}
	status, outcome := http.StatusOK, rep.outcome
	switch {
	case dec.drop:
		outcome = OutcomeDropped
	case aerr != nil:
		status, outcome = aerr.status, aerr.code
	}
	// Count the call before the client can see its answer (or the dropped
	// connection): a caller reading Stats right after its call finds it.
	e.stats.record(c.now, c.action, outcome)
	switch {
	case dec.drop:
		dropConnection(w)
	case aerr != nil:
		writeJSON(w, aerr.status, e.errorBody(r, c, aerr, f.NumericCode))
	default:
		writeJSON(w, http.StatusOK, rep.body)
	}
	keyID := ""
	if c.params != nil {
		keyID = c.params["AccessKeyId"]
	}
	e.log.Info("rpc", "action", c.action, "version", c.version, "accessKeyId", keyID,
		"status", status, "outcome", outcome, "requestId", c.requestID, "elapsed", time.Since(started))
}

// process runs the gates in the order the real service does (signature,
// API lookup, quota and throttling, permission) and then the handler.
func (e *Emulator) process(r *http.Request, c *rpcCall, f Faults) (reply, decision, *apiError) {
	key, aerr := e.verifier.verify(r.Method, c.params)
	if aerr != nil {
		return reply{}, decision{}, aerr
	}
	if c.action == "" {
		return reply{}, decision{}, errMissingParameter("Action")
	}
	h := lookupHandler(c.version, c.action)
	if h == nil {
		return reply{}, decision{}, newAPIError(http.StatusNotFound, "InvalidAction.NotFound",
			"Specified api is not found, please check your url and method: "+c.action+" version "+c.version+".")
	}
	if !e.takeQuota(c.now) {
		return reply{}, decision{}, newAPIError(http.StatusBadRequest, CodeQuotaExhausted,
			"The daily quota of API calls is used up; it resets tomorrow or after a quota reset.")
	}
	dec := e.decide(c.action, f)
	switch dec.before {
	case faultThrottle:
		return reply{}, dec, newAPIError(http.StatusBadRequest, CodeThrottlingUser, "Request was denied due to user flow control.")
	case faultUnavailable:
		return reply{}, dec, newAPIError(http.StatusServiceUnavailable, CodeServiceUnavailable, "The request has failed due to a temporary failure of the server.")
	case faultInternal:
		return reply{}, dec, newAPIError(http.StatusInternalServerError, CodeInternalError, "An internal error occurred; try again later.")
	}
	if key.NoPermission {
		return reply{}, dec, newAPIError(http.StatusInternalServerError, CodeNoPermission,
			"You have no permission on this project; ask its administrator to add your account to the workspace.")
	}
	if !f.BusinessErrorAfterProcessing && e.takeBusinessError(c) {
		return businessErrorReply(c, f), dec, nil
	}
	rep, aerr := h(e, c)
	if aerr != nil {
		return rep, dec, aerr
	}
	switch {
	case f.BusinessErrorAfterProcessing && e.takeBusinessError(c):
		rep = businessErrorReply(c, f)
	case searchActions[c.action] && e.take(c, emptyReplies):
		rep = emptyReply(c, f, e.referenceFormat)
	case e.take(c, dropReplies):
		dec.drop = true
	}
	return rep, dec, nil
}

// readParams merges the query string and the form body; a body value wins,
// as in the SDK's own string to sign.
func readParams(w http.ResponseWriter, r *http.Request) (map[string]string, *apiError) {
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return params, newAPIError(http.StatusBadRequest, CodeInvalidParameter, "The request body is not a valid form: "+err.Error())
	}
	for k, v := range r.PostForm {
		params[k] = v[0]
	}
	return params, nil
}

func (e *Emulator) newRequestID() string {
	e.mu.Lock()
	e.requestSeq++
	n := e.requestSeq
	e.mu.Unlock()
	return fmt.Sprintf("%08X-E4A1-4D0C-9B5E-%012X", uint32(e.seed), n)
}

func (e *Emulator) errorBody(r *http.Request, c *rpcCall, aerr *apiError, numeric bool) errorBody {
	b := errorBody{
		RequestID: c.requestID,
		HostID:    r.Host,
		Code:      aerr.code,
		Message:   aerr.message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + aerr.code + "&product=dataworks-public",
	}
	if numeric {
		b.Code = aerr.status
	}
	if c.version == version2024 {
		b.HTTPStatusCode = aerr.status
	}
	if c.version == version2020 {
		f := false
		b.Success, b.HTTPStatusCode, b.ErrorCode, b.ErrorMessage = &f, aerr.status, aerr.code, aerr.message
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the service sends "&" as is, in Recommend URLs
	if err := enc.Encode(body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// dropConnection closes the connection without a response. Where the
// connection cannot be hijacked (HTTP/2), aborting the handler resets the
// stream, which the client sees the same way.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// faultsFor returns the faults in force for action, and their key.
func (e *Emulator) faultsFor(action string) (string, Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f, ok := e.faults[action]; ok {
		return action, f
	}
	return AllActions, e.faults[AllActions]
}

// decide draws the fault decision for one call of action.
func (e *Emulator) decide(action string, f Faults) decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sources[action]
	if !ok {
		s = newFaultSource(e.seed, action)
		e.sources[action] = s
	}
	return s.decide(f)
}

// takeQuota counts a call against the daily quota, which, as on the real
// service, renews each day in China time.
func (e *Emulator) takeQuota(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if day := now.In(chinaTime).Format(time.DateOnly); day != e.quotaDay {
		e.quotaDay, e.quotaUsed = day, 0
	}
	if e.quotaLimit > 0 && e.quotaUsed >= e.quotaLimit {
		return false
	}
	e.quotaUsed++
	return true
}

// chinaTime is UTC+8, where DataWorks business dates and quotas live. A
// fixed zone needs no tzdata.
var chinaTime = time.FixedZone("CST", 8*3600)
