package workflows

import (
	"fmt"
	"time"

	"github.com/manualdag/manualdag/dag"
)

// Timing is what Decide needs to know about time.
type Timing struct {
	Now         time.Time
	TriggeredAt time.Time
	Deadline    time.Time
	// StableSince is when the last poll that saw a change happened (or the
	// trigger): a blocked picture counts from there, or from the last
	// change DataWorks reports when that is earlier (blockedSince).
	StableSince    time.Time
	BlockedGrace   time.Duration
	EmptyListGrace time.Duration
	// FailFast calls the DAG failed at its first failed node (input
	// failFast), whatever else is still running.
	FailFast bool
	// WaitForRecovery keeps a DAG with failed nodes open this long after
	// StableSince (failurePolicy.waitForRecovery); 0 = none.
	WaitForRecovery time.Duration

	// The evidence that the node list is complete (see listSettled): right
	// after the trigger DataWorks may list only part of a DAG's nodes.
	//
	// ListSettle is how long after the trigger no verdict is given at all;
	// CountPolls is how many searches in a row saw the current node count;
	// ExpectedNodes is the fewest nodes the flow's earlier runs had (0 =
	// no history), and a run listing fewer waits until PartialListWait
	// after the trigger before it is judged on what it lists.
	ListSettle      time.Duration
	CountPolls      int
	ExpectedNodes   int
	PartialListWait time.Duration
	// Stale: the latest searches gave nothing to judge on (an empty list
	// after nodes were listed, an undocumented error), so the snapshot may
	// be out of date and is not judged, not even at the deadline.
	Stale bool
}

// Decision is Decide's verdict.
type Decision struct {
	Outcome dag.Outcome
	// Reason explains a FAILED or TIMED_OUT outcome, or what a RUNNING one
	// waits for.
	Reason string
	// RecheckAt is when a grace period runs out, for a RUNNING outcome that
	// waits on one (zero otherwise): the poll loop should look again then.
	RecheckAt time.Time
	// Unlisted: DataWorks has listed no node of the DAG for EmptyListGrace
	// after the trigger. No verdict can be given, and the watch ends without
	// one (the DAG run may exist and go on).
	Unlisted bool
}

// Decide is the outcome rule of docs/design.md, pure:
//
//   - no verdict before the node list is settled (listSettled): ListSettle
//     after the trigger, the node count unchanged over the last two
//     searches, and no fewer nodes than the flow's earlier runs had (or
//     PartialListWait after the trigger);
//   - SUCCEEDED: the list is non-empty and every node is SUCCESS;
//   - FAILED: every node is final and one is FAILURE; or the DAG is blocked
//     (no node active, at least one FAILURE, every other node SUCCESS or
//     NOT_RUN) and has not changed for BlockedGrace (blockedSince); or,
//     with FailFast, a node is FAILURE;
//   - an empty list EmptyListGrace after the trigger is Unlisted: no verdict;
//   - TIMED_OUT: none of the above, and the deadline has passed;
//   - RUNNING otherwise. Unknown statuses are never final.
//
// With WaitForRecovery, a FAILED verdict on a DAG with failed nodes is
// RUNNING until StableSince+WaitForRecovery (or the deadline, when it comes
// first: then FAILED, not TIMED_OUT), so that a rerun can still save it.
func Decide(nodes []dag.Node, t Timing) Decision {
	d := decide(nodes, t)
	if d.Outcome == dag.OutcomeFailed && t.WaitForRecovery > 0 && hasFailure(nodes) {
		until := t.StableSince.Add(t.WaitForRecovery)
		if !t.Deadline.IsZero() && t.Deadline.Before(until) {
			until = t.Deadline
		}
		if t.Now.Before(until) {
			return Decision{Outcome: dag.OutcomeRunning, RecheckAt: until, Reason: fmt.Sprintf(
				"failed (%s); waiting until %s for a rerun of the failed nodes (failurePolicy.waitForRecovery)", d.Reason, until.UTC().Format(time.RFC3339))}
		}
		return d
	}
	if !d.Outcome.Final() && !t.Deadline.IsZero() && !t.Now.Before(t.Deadline) {
		return Decision{Outcome: dag.OutcomeTimedOut, Reason: "the deadline passed at " + t.Deadline.UTC().Format(time.RFC3339) + "; " + d.Reason}
	}
	return d
}

func decide(nodes []dag.Node, t Timing) Decision {
	d := judge(nodes, t)
	if !d.Outcome.Final() {
		return d
	}
	if wait := listSettled(nodes, t); wait != nil {
		return *wait
	}
	return d
}

// listSettled returns nil when the node list may be judged, else the
// RUNNING decision that waits for it. A final verdict on a partial list is
// the one wrong answer this rule exists to prevent: DataWorks lists a DAG's
// nodes gradually after the trigger, and a list whose listed nodes all
// succeeded says nothing of the ones not listed yet. The evidence, in order:
//
//   - time: ListSettle after the trigger; HistorySettle (or ListSettle if
//     shorter) when the list already has as many nodes as every earlier
//     run of the flow had, which is the strongest evidence there is;
//   - the count: two searches in a row saw as many nodes;
//   - history: a list with fewer nodes than every earlier run had waits
//     until PartialListWait after the trigger, and is then judged as it is
//     (the flow may have lost nodes; the report says so).
func listSettled(nodes []dag.Node, t Timing) *Decision {
	if t.Stale {
		return &Decision{Outcome: dag.OutcomeRunning, Reason: "no verdict on a snapshot DataWorks' latest replies could not confirm"}
	}
	settle := t.ListSettle
	if t.ExpectedNodes > 0 && len(nodes) >= t.ExpectedNodes {
		settle = min(settle, HistorySettle)
	}
	if settled := t.TriggeredAt.Add(settle); t.Now.Before(settled) {
		return &Decision{Outcome: dag.OutcomeRunning, RecheckAt: settled, Reason: fmt.Sprintf(
			"%d nodes listed; waiting until %s for DataWorks to list every node of the DAG", len(nodes), settled.UTC().Format(time.RFC3339))}
	}
	if t.CountPolls < 2 {
		return &Decision{Outcome: dag.OutcomeRunning, RecheckAt: t.Now.Add(DefaultInitialInterval), Reason: fmt.Sprintf(
			"%d nodes listed; looking once more to see that the list is complete", len(nodes))}
	}
	if len(nodes) < t.ExpectedNodes {
		if until := t.TriggeredAt.Add(t.PartialListWait); t.Now.Before(until) {
			return &Decision{Outcome: dag.OutcomeRunning, RecheckAt: until, Reason: fmt.Sprintf(
				"%d nodes listed, but every earlier run of the flow had at least %d; waiting until %s for the rest", len(nodes), t.ExpectedNodes, until.UTC().Format(time.RFC3339))}
		}
	}
	return nil
}

// judge is the verdict on the nodes as listed.
func judge(nodes []dag.Node, t Timing) Decision {
	if len(nodes) == 0 {
		until := t.TriggeredAt.Add(t.EmptyListGrace)
		if !t.Now.Before(until) {
			return Decision{Outcome: dag.OutcomeRunning, Unlisted: true, Reason: fmt.Sprintf(
				"DataWorks listed no node instances within %v of the trigger; check the DAG run in Operation Center (is the flow empty, or were its nodes frozen?)", t.EmptyListGrace)}
		}
		return Decision{Outcome: dag.OutcomeRunning, Reason: "waiting for DataWorks to list the node instances", RecheckAt: until}
	}
	var success, failure, notRun, active int
	for _, n := range nodes {
		switch {
		case n.Status == dag.StatusSuccess:
			success++
		case n.Status == dag.StatusFailure:
			failure++
		case n.Status == dag.StatusNotRun:
			notRun++
		case n.Status.Active():
			active++
		}
	}
	other := len(nodes) - success - failure - notRun - active // unknown statuses
	switch {
	case success == len(nodes):
		return Decision{Outcome: dag.OutcomeSucceeded}
	case failure > 0 && success+failure == len(nodes):
		return Decision{Outcome: dag.OutcomeFailed, Reason: "every node finished and some failed"}
	case failure > 0 && t.FailFast:
		return Decision{Outcome: dag.OutcomeFailed, Reason: "a node failed and failFast ends the run at the first failure"}
	case failure > 0 && active == 0 && other == 0:
		until := blockedSince(nodes, t).Add(t.BlockedGrace)
		if !t.Now.Before(until) {
			return Decision{Outcome: dag.OutcomeFailed, Reason: fmt.Sprintf(
				"blocked: nodes that have not run wait on failed ones, and nothing changed for %v", t.BlockedGrace)}
		}
		return Decision{Outcome: dag.OutcomeRunning, RecheckAt: until, Reason: fmt.Sprintf(
			"blocked behind failed nodes; it counts as failed at %s unless someone reruns them", until.UTC().Format(time.RFC3339))}
	case other > 0:
		return Decision{Outcome: dag.OutcomeRunning, Reason: fmt.Sprintf("%d nodes have a status DataWorks does not document; they are not taken as final", other)}
	}
	return Decision{Outcome: dag.OutcomeRunning}
}

// clockSkew is how far DataWorks' clock may be from the workflow's before
// its times are no longer trusted to say when the DAG last changed.
const clockSkew = time.Minute

// blockedSince is when a blocked DAG last changed: the latest begin or
// finish time DataWorks reports for its nodes, which is when the failure
// (or the last success) happened, rather than when a poll first saw it.
// A failure seen late is then not held for the whole grace again. Times
// from a clock that disagrees with the workflow's (before the trigger by
// more than clockSkew, or after the poll that saw the change) are not
// trusted, and the poll's time is used.
func blockedSince(nodes []dag.Node, t Timing) time.Time {
	var last int64
	for _, n := range nodes {
		last = max(last, n.Begin, n.Finish)
	}
	at := time.Unix(last, 0)
	if last == 0 || at.Before(t.TriggeredAt.Add(-clockSkew)) || at.After(t.StableSince) {
		return t.StableSince
	}
	return at
}

func hasFailure(nodes []dag.Node) bool {
	for _, n := range nodes {
		if n.Status == dag.StatusFailure {
			return true
		}
	}
	return false
}
