package openevent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/dag"
)

// ErrNoRun is RunFinder's answer when no open run watches the DAG: the
// account has DAGs that manualdag does not run, and a run that has just
// started may not be indexed yet.
var ErrNoRun = errors.New("no open run")

// ErrRunClosed is RunFinder's answer when no open run watches the DAG but
// one did: the event came after the run's verdict. It wraps ErrNoRun.
var ErrRunClosed = fmt.Errorf("%w: the run has closed", ErrNoRun)

// RunFinder finds the open RunManualDag run of a DAG run id.
type RunFinder interface {
	// FindRun returns the run's workflow id and run id, ErrNoRun when there
	// is none, or another error when it could not look (the receiver then
	// answers 503 so that EventBridge retries).
	FindRun(ctx context.Context, dagID int64) (workflowID, runID string, err error)
}

// Signaler delivers a signal; client.Client is one. A NotFound error
// (serviceerror.NotFound) means the run has closed.
type Signaler interface {
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

var _ Signaler = client.Client(nil)

// Outcomes of one pushed request: the outcome tag of MetricEvents.
const (
	OutcomeSignaled     = "signaled"     // 200: the run was signalled
	OutcomeDuplicate    = "duplicate"    // 200: this event id was signalled already
	OutcomeIgnored      = "ignored"      // 200: an event manualdag does not use
	OutcomeUnknownRun   = "unknown_run"  // 202: no open run watches the DAG (or it just closed)
	OutcomeNotYet       = "not_yet"      // 503: no open run watches the DAG yet, and the event is recent: EventBridge retries
	OutcomeMalformed    = "malformed"    // 400, 405, 415: not a POSTed CloudEvent manualdag can read
	OutcomeUnauthorized = "unauthorized" // 401: no valid signature or token
	OutcomeStale        = "stale"        // 401: the timestamp is outside the window
	OutcomeTooLarge     = "too_large"    // 413: the body is over the limit
	OutcomeUnavailable  = "unavailable"  // 503: Temporal or the key URL did not answer; EventBridge retries
)

// Outcomes lists every outcome, in the order above.
func Outcomes() []string {
	return []string{OutcomeSignaled, OutcomeDuplicate, OutcomeIgnored, OutcomeUnknownRun, OutcomeNotYet, OutcomeMalformed,
		OutcomeUnauthorized, OutcomeStale, OutcomeTooLarge, OutcomeUnavailable}
}

// The receiver's metrics (exported with the worker's, Prometheus names
// in the comments).
const (
	// MetricEvents counts pushed requests by outcome
	// (manualdag_events_received_total{outcome="signaled"}).
	MetricEvents = "manualdag_events_received"
	// MetricDedupeIDs is the gauge of event ids the de-duplication holds
	// (manualdag_events_dedupe_ids).
	MetricDedupeIDs = "manualdag_events_dedupe_ids"
)

// Defaults of ReceiverOptions.
const (
	DefaultMaxBodyBytes = 256 << 10
	DefaultDedupeSize   = 100_000
	DefaultIndexGrace   = time.Minute
)

// temporalTimeout bounds one request's look-up and signal: EventBridge
// waits for the answer, and retries a 503.
const temporalTimeout = 5 * time.Second

// ReceiverOptions configure a Receiver; zero fields take their default.
type ReceiverOptions struct {
	// Verifier checks each request. Required.
	Verifier *Verifier
	// Finder finds the run of a DAG (TemporalFinder). Required.
	Finder RunFinder
	// Signaler signals it (the worker's client.Client). Required.
	Signaler Signaler
	// Metrics receives MetricEvents and MetricDedupeIDs. Default none.
	Metrics client.MetricsHandler
	// Logger says what happened to each request (debug), and why Temporal
	// could not be reached (warn). Default none.
	Logger *zap.Logger
	// MaxBodyBytes is the largest body read; larger ones are answered 413.
	// Default DefaultMaxBodyBytes (256 KiB: a DataWorks event is under 2 KiB).
	MaxBodyBytes int64
	// DedupeSize is how many signalled event ids are remembered. Default
	// DefaultDedupeSize.
	DedupeSize int
	// IndexGrace: an event about a DAG that no open run watches is
	// answered 503 (OutcomeNotYet), so that EventBridge retries it, while
	// the event (its CloudEvent time) is at most this old; 202 after. A
	// run's DAG id becomes searchable only after its trigger returns and
	// the run records it, and DataWorks sends the DAG's first event at
	// once: without the retry that event would be lost every time, and
	// the flow's next runs would read the loss as an unreliable event
	// feed. The cost is a few more deliveries (and look-ups) of each event
	// about a DAG manualdag does not watch. Default DefaultIndexGrace.
	IndexGrace time.Duration
	// Now is the clock IndexGrace is measured on. Default time.Now.
	Now func() time.Time
}

// Receiver is the http.Handler EventBridge pushes DataWorks events to. It
// verifies, parses and de-duplicates each request and signals the run that
// watches the event's DAG with dag.SignalEvent; see Outcomes for its
// answers. An event id counts as seen only once its signal was delivered,
// so that EventBridge's retry after a 503 gets through. Safe for
// concurrent use; two deliveries of one id at the same moment may both
// signal, which costs the run one look, never a verdict.
type Receiver struct {
	verifier *Verifier
	finder   RunFinder
	signaler Signaler
	logger   *zap.Logger
	maxBody  int64
	grace    time.Duration
	now      func() time.Time
	seen     *seenIDs
	counters map[string]client.MetricsCounter
	dedupe   client.MetricsGauge
}

// NewReceiver checks o and returns its Receiver.
func NewReceiver(o ReceiverOptions) (*Receiver, error) {
	if o.Verifier == nil || o.Finder == nil || o.Signaler == nil {
		return nil, errors.New("a Receiver needs a Verifier, a RunFinder and a Signaler")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.DedupeSize <= 0 {
		o.DedupeSize = DefaultDedupeSize
	}
	if o.Metrics == nil {
		o.Metrics = client.MetricsNopHandler
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.IndexGrace <= 0 {
		o.IndexGrace = DefaultIndexGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Receiver{
		verifier: o.Verifier, finder: o.Finder, signaler: o.Signaler, logger: o.Logger,
		maxBody: o.MaxBodyBytes, grace: o.IndexGrace, now: o.Now, seen: newSeenIDs(o.DedupeSize),
		counters: map[string]client.MetricsCounter{},
		dedupe:   o.Metrics.Gauge(MetricDedupeIDs),
	}
	for _, outcome := range Outcomes() {
		r.counters[outcome] = o.Metrics.WithTags(map[string]string{"outcome": outcome}).Counter(MetricEvents)
	}
	return r, nil
}

// Seen is how many event ids the de-duplication holds.
func (r *Receiver) Seen() int { return r.seen.len() }

// answer is what one request gets.
type answer struct {
	status  int
	outcome string
	message string
	event   dag.Event
	err     error // logged, never sent
}

// ServeHTTP answers one pushed request with a status and a one-line reason.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	a := r.handle(w, req)
	r.counters[a.outcome].Inc(1)
	r.log(req, a)
	h := w.Header()
	switch a.status {
	case http.StatusMethodNotAllowed:
		h.Set("Allow", http.MethodPost)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.message+"\n")
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) answer {
	if req.Method != http.MethodPost {
		return answer{status: http.StatusMethodNotAllowed, outcome: OutcomeMalformed, message: "method not allowed: EventBridge pushes with POST"}
	}
	if !jsonContentType(req.Header.Get("Content-Type")) {
		return answer{status: http.StatusUnsupportedMediaType, outcome: OutcomeMalformed,
			message: "unsupported content type: send a structured-mode CloudEvent as JSON"}
	}
	tooLarge := answer{status: http.StatusRequestEntityTooLarge, outcome: OutcomeTooLarge,
		message: fmt.Sprintf("too large: the body is over %d bytes", r.maxBody)}
	if req.ContentLength > r.maxBody {
		return tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return tooLarge
	case err != nil:
		return answer{status: http.StatusBadRequest, outcome: OutcomeMalformed, message: "malformed: the body could not be read", err: err}
	}
	if err := r.verifier.Verify(req, body); err != nil {
		switch {
		case errors.Is(err, ErrStale):
			return answer{status: http.StatusUnauthorized, outcome: OutcomeStale, message: err.Error()}
		case errors.Is(err, ErrKeyUnavailable):
			return answer{status: http.StatusServiceUnavailable, outcome: OutcomeUnavailable,
				message: "unavailable: EventBridge's public key could not be fetched; retry", err: err}
		}
		return answer{status: http.StatusUnauthorized, outcome: OutcomeUnauthorized, message: err.Error()}
	}
	ev, err := Parse(body)
	switch {
	case errors.Is(err, ErrIgnored):
		return answer{status: http.StatusOK, outcome: OutcomeIgnored, message: err.Error()}
	case err != nil:
		return answer{status: http.StatusBadRequest, outcome: OutcomeMalformed, message: shorten(err.Error(), 300)}
	}
	key := keyOf(ev.ID)
	if r.seen.has(key) {
		return answer{status: http.StatusOK, outcome: OutcomeDuplicate, message: "duplicate", event: ev}
	}
	return r.signal(req.Context(), ev, key)
}

// signal finds the run of ev's DAG and signals it.
func (r *Receiver) signal(ctx context.Context, ev dag.Event, key idKey) answer {
	ctx, cancel := context.WithTimeout(ctx, temporalTimeout)
	defer cancel()
	unavailable := answer{status: http.StatusServiceUnavailable, outcome: OutcomeUnavailable,
		message: "unavailable: Temporal did not answer; retry", event: ev}
	workflowID, _, err := r.finder.FindRun(ctx, ev.DagID)
	switch {
	case errors.Is(err, ErrRunClosed):
		return answer{status: http.StatusAccepted, outcome: OutcomeUnknownRun, message: fmt.Sprintf("the run for DAG %d has closed", ev.DagID), event: ev}
	case errors.Is(err, ErrNoRun) && r.recent(ev):
		return answer{status: http.StatusServiceUnavailable, outcome: OutcomeNotYet,
			message: fmt.Sprintf("no open run for DAG %d yet (a run's DAG id is searchable a moment after its trigger returns); retry", ev.DagID), event: ev}
	case errors.Is(err, ErrNoRun):
		return answer{status: http.StatusAccepted, outcome: OutcomeUnknownRun, message: fmt.Sprintf("no open run for DAG %d", ev.DagID), event: ev}
	case err != nil:
		unavailable.err = fmt.Errorf("find the run of DAG %d: %w", ev.DagID, err)
		return unavailable
	}
	// The run id is left out on purpose: a run that continued as new since
	// the look-up still gets the signal, and the event names its DAG, so a
	// later run of the id on another DAG can tell that it is not about it.
	err = r.signaler.SignalWorkflow(ctx, workflowID, "", dag.SignalEvent, ev)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		if f, ok := r.finder.(interface{ Forget(dagID int64) }); ok {
			f.Forget(ev.DagID)
		}
		return answer{status: http.StatusAccepted, outcome: OutcomeUnknownRun, message: fmt.Sprintf("the run for DAG %d has just closed", ev.DagID), event: ev}
	case err != nil:
		unavailable.err = fmt.Errorf("signal workflow %s: %w", workflowID, err)
		return unavailable
	}
	r.dedupe.Update(float64(r.seen.add(key)))
	return answer{status: http.StatusOK, outcome: OutcomeSignaled, message: "signaled", event: ev}
}

// recent reports whether ev is young enough that its run may not be
// searchable yet (IndexGrace); an event without a time, or one dated
// further ahead than that, is not.
func (r *Receiver) recent(ev dag.Event) bool {
	age := r.now().Sub(ev.Time)
	return !ev.Time.IsZero() && age <= r.grace && age >= -r.grace
}

func (r *Receiver) log(req *http.Request, a answer) {
	level := zap.DebugLevel
	if a.outcome == OutcomeUnavailable {
		level = zap.WarnLevel
	}
	ce := r.logger.Check(level, "DataWorks event "+a.outcome)
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.Int("status", a.status), zap.String("remote", req.RemoteAddr)}
	if a.event.ID != "" {
		fields = append(fields, zap.String("eventId", a.event.ID), zap.String("kind", a.event.Kind),
			zap.Int64("dagId", a.event.DagID), zap.String("eventStatus", string(a.event.Status)))
	}
	if a.err != nil {
		fields = append(fields, zap.Error(a.err))
	} else if a.status >= 400 {
		fields = append(fields, zap.String("reason", a.message))
	}
	ce.Write(fields...)
}

// jsonContentType is lenient: no type, text/plain, or any JSON type
// (application/json, application/cloudevents+json, …) passes; a form, a
// multipart body or a binary type does not.
func jsonContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case mt == "application/json", mt == "text/json", mt == "text/plain", strings.HasSuffix(mt, "+json"):
		return true
	}
	return false
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
