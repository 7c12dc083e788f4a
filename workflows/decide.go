package workflows

import (
	"fmt"
	"time"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dataworks"
)

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

// Timing is what Decide needs to know about time.
type Timing struct {
	Now         time.Time
	TriggeredAt time.Time
	Deadline    time.Time
	// StableSince is when the last poll that saw a change happened (or the
	// trigger): a blocked picture counts from there.
	StableSince    time.Time
	BlockedGrace   time.Duration
	EmptyListGrace time.Duration
	// WaitForRecovery keeps a DAG with failed nodes open this long after
	// StableSince (failurePolicy.waitForRecovery); 0 = none.
	WaitForRecovery time.Duration
}

// Decision is Decide's verdict.
type Decision struct {
	Outcome Outcome
	// Reason explains a FAILED or TIMED_OUT outcome, or what a RUNNING one
	// waits for.
	Reason string
	// RecheckAt is when a grace period runs out, for a RUNNING outcome that
	// waits on one (zero otherwise): the poll loop should look again then.
	RecheckAt time.Time
}

// Decide is the outcome rule of docs/design.md, pure:
//
//   - SUCCEEDED: the list is non-empty and every node is SUCCESS;
//   - FAILED: every node is final and one is FAILURE; or the DAG is blocked
//     (no node active, at least one FAILURE, every other node SUCCESS or
//     NOT_RUN) and has not changed for BlockedGrace; or the list is still
//     empty EmptyListGrace after the trigger;
//   - TIMED_OUT: none of the above, and the deadline has passed;
//   - RUNNING otherwise. Unknown statuses are never final.
//
// With WaitForRecovery, a FAILED verdict on a DAG with failed nodes is
// RUNNING until StableSince+WaitForRecovery (or the deadline, when it comes
// first: then FAILED, not TIMED_OUT), so that a rerun can still save it.
func Decide(nodes []activities.Node, t Timing) Decision {
	d := decide(nodes, t)
	if d.Outcome == OutcomeFailed && t.WaitForRecovery > 0 && hasFailure(nodes) {
		until := t.StableSince.Add(t.WaitForRecovery)
		if !t.Deadline.IsZero() && t.Deadline.Before(until) {
			until = t.Deadline
		}
		if t.Now.Before(until) {
			return Decision{Outcome: OutcomeRunning, RecheckAt: until, Reason: fmt.Sprintf(
				"failed (%s); waiting until %s for a rerun of the failed nodes (failurePolicy.waitForRecovery)", d.Reason, until.UTC().Format(time.RFC3339))}
		}
		return d
	}
	if !d.Outcome.Final() && !t.Deadline.IsZero() && !t.Now.Before(t.Deadline) {
		return Decision{Outcome: OutcomeTimedOut, Reason: "the deadline passed at " + t.Deadline.UTC().Format(time.RFC3339) + "; " + d.Reason}
	}
	return d
}

func decide(nodes []activities.Node, t Timing) Decision {
	if len(nodes) == 0 {
		until := t.TriggeredAt.Add(t.EmptyListGrace)
		if !t.Now.Before(until) {
			return Decision{Outcome: OutcomeFailed, Reason: fmt.Sprintf(
				"DataWorks listed no node instances within %v of the trigger; check the flow in Operation Center (is it empty, or were its nodes frozen?)", t.EmptyListGrace)}
		}
		return Decision{Outcome: OutcomeRunning, Reason: "waiting for DataWorks to list the node instances", RecheckAt: until}
	}
	var success, failure, notRun, active int
	for _, n := range nodes {
		switch {
		case n.Status == dataworks.StatusSuccess:
			success++
		case n.Status == dataworks.StatusFailure:
			failure++
		case n.Status == dataworks.StatusNotRun:
			notRun++
		case n.Status.Active():
			active++
		}
	}
	other := len(nodes) - success - failure - notRun - active // unknown statuses
	switch {
	case success == len(nodes):
		return Decision{Outcome: OutcomeSucceeded}
	case failure > 0 && success+failure == len(nodes):
		return Decision{Outcome: OutcomeFailed, Reason: "every node finished and some failed"}
	case failure > 0 && active == 0 && other == 0:
		until := t.StableSince.Add(t.BlockedGrace)
		if !t.Now.Before(until) {
			return Decision{Outcome: OutcomeFailed, Reason: fmt.Sprintf(
				"blocked: nodes that have not run wait on failed ones, and nothing changed for %v", t.BlockedGrace)}
		}
		return Decision{Outcome: OutcomeRunning, RecheckAt: until, Reason: fmt.Sprintf(
			"blocked behind failed nodes; it counts as failed at %s unless someone reruns them", until.UTC().Format(time.RFC3339))}
	case other > 0:
		return Decision{Outcome: OutcomeRunning, Reason: fmt.Sprintf("%d nodes have a status DataWorks does not document; they are not taken as final", other)}
	}
	return Decision{Outcome: OutcomeRunning}
}

func hasFailure(nodes []activities.Node) bool {
	for _, n := range nodes {
		if n.Status == dataworks.StatusFailure {
			return true
		}
	}
	return false
}
