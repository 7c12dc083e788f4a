package dag

// Outcome is where a DAG run stands, as the report tells it.
type Outcome string

// Outcomes. SUCCEEDED, FAILED, TIMED_OUT and CANCELED are final.
const (
	OutcomeTriggering Outcome = "TRIGGERING"
	OutcomeRunning    Outcome = "RUNNING"
	OutcomeSucceeded  Outcome = "SUCCEEDED"
	OutcomeFailed     Outcome = "FAILED"
	OutcomeTimedOut   Outcome = "TIMED_OUT"
	OutcomeCanceled   Outcome = "CANCELED"
)

// Final reports whether the outcome ends the workflow.
func (o Outcome) Final() bool {
	switch o {
	case OutcomeSucceeded, OutcomeFailed, OutcomeTimedOut, OutcomeCanceled:
		return true
	}
	return false
}

// Outcomes of a bizdate in a BackfillReport besides the DAG outcomes
// (SUCCEEDED, FAILED, TIMED_OUT, CANCELED).
const (
	// OutcomeSkipped: an earlier run of the bizdate's workflow id succeeded
	// or is going on; nothing was started.
	OutcomeSkipped Outcome = "SKIPPED"
	// OutcomeRefused: an earlier run may have left a DAG run behind
	// (trigger outcome unknown, terminated, timed out or cancelled while
	// its DAG ran); a person checks DataWorks and starts the bizdate with
	// `starter run --allow-duplicate`.
	OutcomeRefused Outcome = "REFUSED"
	// OutcomeNotStarted: the backfill was cancelled first, or the earlier
	// runs could not be looked up.
	OutcomeNotStarted Outcome = "NOT_STARTED"
)
