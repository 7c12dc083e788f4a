package activities

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// createRetryable are the only error types a create may be retried on: each
// proves that no DAG run was started. Timeouts and crashes are retried too
// (Temporal decides that), and the next attempt resolves them from the
// heartbeat details; see CreateManualDag.
var createRetryable = map[string]bool{
	dag.ErrCreateNotSent:  true,
	dag.ErrThrottled:      true,
	dag.ErrQuotaExhausted: true,
}

// SearchNonRetryableErrorTypes lists every error type the search activity
// may raise that must not be retried, for the workflow's retry policy.
func SearchNonRetryableErrorTypes() []string {
	return []string{dag.ErrInvalidInput, dag.ErrPermanent, dag.ErrDagNotFound, dag.ErrUnexpectedReply}
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
		return temporal.NewApplicationErrorWithOptions(err.Error(), dag.ErrQuotaExhausted, temporal.ApplicationErrorOptions{
			NextRetryDelay: m.quotaDelay(),
		})
	case dataworks.Throttled(err):
		if m.window > 0 {
			// In a repeat window the attempt counts the window's polls,
			// not throttled ones in a row: no back-off from it, and never
			// sooner than the window's own cadence.
			return temporal.NewApplicationErrorWithOptions(err.Error(), dag.ErrThrottled, temporal.ApplicationErrorOptions{
				NextRetryDelay: max(m.window, ThrottleDelay(1, m.rnd)),
			})
		}
		return temporal.NewApplicationErrorWithOptions(err.Error(), dag.ErrThrottled, temporal.ApplicationErrorOptions{
			NextRetryDelay: ThrottleDelay(m.attempt, m.rnd),
		})
	case dataworks.KnownPermanent(err):
		return temporal.NewNonRetryableApplicationError(err.Error(), dag.ErrPermanent, nil)
	case dataworks.Permanent(err):
		return temporal.NewNonRetryableApplicationError(err.Error(), dag.ErrUnexpectedReply, nil)
	}
	// Anything else, retryable or not recognised here: a read may
	// always be repeated; in a repeat window at the window's cadence rather
	// than the retry policy's back-off by attempt.
	if m.window > 0 {
		return temporal.NewApplicationErrorWithOptions(err.Error(), dag.ErrTransient, temporal.ApplicationErrorOptions{NextRetryDelay: m.window})
	}
	return temporal.NewApplicationError(err.Error(), dag.ErrTransient)
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
