package activities

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dataworks"
)

// Error types of every temporal.ApplicationError raised by manualdag, the
// activities' and the workflow's alike, so that the whole list lives in one
// place (docs/design.md has the table: who raises each, whether it is retried,
// what the user sees). Package workflows re-exports the ones a caller of the
// workflow meets.
const (
	// ErrInvalidInput: the input can never succeed. Final.
	ErrInvalidInput = "InvalidInput"
	// ErrPermanent: DataWorks refused the call in a way no retry cures
	// (permission, credentials, a bad parameter, an unknown DAG id). Final.
	ErrPermanent = "DataWorksPermanent"
	// ErrThrottled: DataWorks rate-limited the call. Retried after a
	// NextRetryDelay that backs off with jitter.
	ErrThrottled = "DataWorksThrottled"
	// ErrQuotaExhausted: the account's daily API quota is spent. Retried after
	// a long NextRetryDelay (QuotaRetryDelay); never final on its own.
	ErrQuotaExhausted = "DataWorksQuotaExhausted"
	// ErrDagNotFound: the search does not know the DAG id (DataWorks code
	// 11020293069). Not retried by the activity; the workflow treats it like
	// an empty node list, which is tolerated for a while after the trigger.
	ErrDagNotFound = "DagNotFound"
	// ErrNothingYet: a search with a repeat window (SearchInput.RepeatEvery)
	// saw nothing the workflow must act on yet. Retried after RepeatEvery;
	// benign (logged at debug, not counted as a failure). Retries write no
	// history, which is why the workflow polls this way.
	ErrNothingYet = "NothingYet"
	// ErrTransient: no reply, a 5xx, an undecodable reply on a read. Retried.
	ErrTransient = "DataWorksTransient"
	// ErrUnexpectedReply: a read was refused with a code DataWorks does not
	// document as permanent (a business error inside an HTTP 200, an
	// unknown 4xx code). Not retried by the activity: the workflow repeats
	// the read with its own bounded back-off, keeping its last snapshot.
	ErrUnexpectedReply = "DataWorksUnexpectedReply"
	// ErrCreateNotSent: a CreateManualDag request provably never took effect
	// in DataWorks. The only create failure that is retried.
	ErrCreateNotSent = "CreateNotSent"
	// ErrTriggerOutcomeUnknown: a CreateManualDag request may have started a
	// DAG run, and its id is unknown. Final: sending again could start a
	// second run.
	ErrTriggerOutcomeUnknown = "TriggerOutcomeUnknown"

	// Raised by the workflow, never by an activity.

	// ErrDagFailed: the DAG run failed (a node failed, or no node appeared).
	// Final; the details carry the report.
	ErrDagFailed = "DagFailed"
	// ErrDagTimedOut: the overall deadline passed before the DAG finished.
	// Final; the details carry the report.
	ErrDagTimedOut = "DagTimedOut"
	// ErrNotTriggered: every attempt to send the trigger failed in a way
	// that proves nothing was started (unreachable, throttled, quota spent),
	// until the retries or the deadline ran out. Final.
	ErrNotTriggered = "NotTriggered"
	// ErrDagNotListed: no node of the DAG run was listed within the
	// workflow's emptyListGrace. No verdict; final.
	ErrDagNotListed = "DagNotListed"
	// ErrWatchLost: the searches stayed unusable for the workflow's bounded
	// time. No verdict; final.
	ErrWatchLost = "WatchLost"
	// ErrDuplicateRefused: the workflow did not trigger, because another
	// run of its bizdate forbids it (Runs.GuardTrigger). Final.
	ErrDuplicateRefused = "DuplicateRefused"
)

// createRetryable are the only error types a create may be retried on: each
// proves that no DAG run was started. Timeouts and crashes are retried too
// (Temporal decides that), and the next attempt resolves them from the
// heartbeat details; see CreateManualDag.
var createRetryable = map[string]bool{
	ErrCreateNotSent:  true,
	ErrThrottled:      true,
	ErrQuotaExhausted: true,
}

// SearchNonRetryableErrorTypes lists every error type the search activity
// may raise that must not be retried, for the workflow's retry policy.
func SearchNonRetryableErrorTypes() []string {
	return []string{ErrInvalidInput, ErrPermanent, ErrDagNotFound, ErrUnexpectedReply}
}

// Backoff after throttling: ThrottleBaseDelay doubled per attempt up to
// ThrottleMaxDelay, each delay with up to ±25% jitter so that many workflows
// throttled together do not retry together. A spent daily quota waits
// QuotaRetryDelay plus up to QuotaRetryJitter.
const (
	ThrottleBaseDelay = 5 * time.Second
	ThrottleMaxDelay  = 5 * time.Minute
	QuotaRetryDelay   = 30 * time.Minute
	QuotaRetryJitter  = 30 * time.Minute
)

// ThrottleDelay is the NextRetryDelay after attempt (1-based) was throttled.
// rnd returns a float in [0,1).
func ThrottleDelay(attempt int32, rnd func() float64) time.Duration {
	d := ThrottleBaseDelay
	for i := int32(1); i < attempt && d < ThrottleMaxDelay; i++ {
		d *= 2
	}
	d = min(d, ThrottleMaxDelay)
	jitter := time.Duration((rnd()*0.5 - 0.25) * float64(d))
	return d + jitter
}

// QuotaDelay is the NextRetryDelay after the daily quota was found spent.
func QuotaDelay(rnd func() float64) time.Duration {
	return QuotaRetryDelay + time.Duration(rnd()*float64(QuotaRetryJitter))
}

// errorMapper turns dataworks errors into typed application errors.
type errorMapper struct {
	attempt int32
	rnd     func() float64
	// quota, when set, replaces QuotaRetryDelay (Activities.QuotaBackoff).
	quota time.Duration
	// window is the search's RepeatEvery (0: not a repeat window).
	window time.Duration
}

// quotaDelay is QuotaDelay, or quota plus up to as much again of jitter.
func (m errorMapper) quotaDelay() time.Duration {
	if m.quota > 0 {
		return m.quota + time.Duration(m.rnd()*float64(m.quota))
	}
	return QuotaDelay(m.rnd)
}

// mapRead maps the error of a read (a search): safe to repeat.
func (m errorMapper) mapRead(err error) error {
	switch {
	case dataworks.QuotaExhausted(err):
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrQuotaExhausted, temporal.ApplicationErrorOptions{
			NextRetryDelay: m.quotaDelay(),
		})
	case dataworks.Throttled(err):
		if m.window > 0 {
			// In a repeat window the attempt counts the window's polls,
			// not throttled ones in a row: no back-off from it, and never
			// sooner than the window's own cadence.
			return temporal.NewApplicationErrorWithOptions(err.Error(), ErrThrottled, temporal.ApplicationErrorOptions{
				NextRetryDelay: max(m.window, ThrottleDelay(1, m.rnd)),
			})
		}
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrThrottled, temporal.ApplicationErrorOptions{
			NextRetryDelay: ThrottleDelay(m.attempt, m.rnd),
		})
	case dataworks.KnownPermanent(err):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrPermanent, nil)
	case dataworks.Permanent(err):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrUnexpectedReply, nil)
	}
	// Anything else, retryable or not recognised here: a read may
	// always be repeated; in a repeat window at the window's cadence rather
	// than the retry policy's back-off by attempt.
	if m.window > 0 {
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrTransient, temporal.ApplicationErrorOptions{NextRetryDelay: m.window})
	}
	return temporal.NewApplicationError(err.Error(), ErrTransient)
}

// defaultRand is the jitter source when none is injected. Jitter needs no
// determinism: activities are not replayed.
func defaultRand() float64 { return rand.Float64() }

// describe names the DataWorks code of err, if any, for messages.
func describe(err error) string {
	var e *dataworks.Error
	if errors.As(err, &e) && e.Code != "" {
		return fmt.Sprintf("DataWorks code %s", e.Code)
	}
	return "no DataWorks code"
}
