package policybench

import (
	"fmt"
	"time"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// Outcome is how one policy followed one run.
type Outcome struct {
	// Polls is the number of searches; Calls the DataWorks calls for the
	// DAG: the polls and the create.
	Polls, Calls int
	// Returns is the number of times a search activity returned to the
	// workflow (a repeat window returns once): what the history grows by.
	Returns int
	// Final is when the nodes stopped changing; Detected the first poll at
	// or after it, Delay the difference.
	Final, Detected time.Time
	Delay           time.Duration
}

// maxPolls bounds a simulation, against a policy that never lets the
// clock move.
const maxPolls = 1_000_000

// Simulate follows run as RunManualDag's watch loop does: a poll at the
// trigger, then after each poll whose picture is not final the wait the
// policy picks from the Observation the workflow builds. A policy that is
// workflows.Windowed turns a short wait into a repeat window, polled as the
// search activity does (activities.SearchInput.WindowEnds): the workflow
// sees only the window's last poll. The picture is final when every node is
// final, or when a failure blocks the rest and nothing is active; Decide's
// grace periods (blockedGrace) are left out: they would add the same time
// to every policy. Polls take no time.
func Simulate(run *Run, policy workflows.PollPolicy) (Outcome, error) {
	tl := &run.Timeline
	trigger := run.TriggeredAt()
	seed := workflows.JitterSeed(run.WorkflowID)
	windowed, _ := policy.(workflows.Windowed)
	var cur, seen []dag.Node
	var statuses []dag.Status
	var search activities.SearchInput // what the workflow asks of the next poll
	now := trigger
	unchanged, polls, returns := 0, 0, 0
	for polls < maxPolls {
		// One search activity: a single poll, or a repeat window.
		for attempt := 1; ; attempt++ {
			polls++
			cur = tl.Snapshot(floorUnix(now), cur)
			if Settled(cur) {
				final := time.Unix(tl.Final(), 0).UTC()
				return Outcome{Polls: polls, Calls: polls + 1, Returns: returns + 1, Final: final, Detected: now, Delay: now.Sub(final)}, nil
			}
			statuses = statuses[:0]
			for _, n := range cur {
				statuses = append(statuses, n.Status)
			}
			if search.WindowEnds(statuses, int32(attempt)) || polls >= maxPolls {
				break
			}
			now = now.Add(search.RepeatEvery)
		}
		returns++
		changed := returns == 1 || !samePicture(cur, seen)
		if changed {
			unchanged = 0
		} else {
			unchanged++
		}
		seen = append(seen[:0], cur...)
		active, failed := tally(statuses)
		wait := policy.Next(workflows.Observation{
			Polls:        polls,
			SinceTrigger: now.Sub(trigger),
			Changed:      changed,
			Unchanged:    unchanged,
			Active:       active,
			Total:        len(cur),
			Seed:         seed,
			Now:          now,
			TriggeredAt:  trigger,
			Nodes:        cur,
			Profile:      run.Profile,
		})
		if wait <= 0 {
			return Outcome{}, fmt.Errorf("%s: the policy waits %v after poll %d", run.WorkflowID, wait, polls)
		}
		search = activities.SearchInput{KnownDigest: "known", KnownNodes: len(cur), KnownFailed: failed}
		if windowed != nil {
			search.RepeatEvery, search.RepeatPolls = windowed.Window(wait)
		}
		now = now.Add(wait)
	}
	return Outcome{}, fmt.Errorf("%s: not final after %d polls", run.WorkflowID, maxPolls)
}

// tally counts the active and the failed nodes of a poll.
func tally(statuses []dag.Status) (active, failed int) {
	for _, st := range statuses {
		switch {
		case st.Active():
			active++
		case st == dag.StatusFailure:
			failed++
		}
	}
	return active, failed
}

// Settled reports whether the picture can no longer change: Decide's
// SUCCEEDED and FAILED rules without their grace periods.
func Settled(nodes []dag.Node) bool {
	if len(nodes) == 0 {
		return false
	}
	failure := false
	for _, n := range nodes {
		switch {
		case n.Status == dag.StatusFailure:
			failure = true
		case n.Status == dag.StatusSuccess:
		case n.Status == dag.StatusNotRun:
		default:
			return false // active, or unknown
		}
	}
	for _, n := range nodes {
		if n.Status == dag.StatusNotRun && !failure {
			return false
		}
	}
	return true
}

// samePicture compares what the workflow's digest covers that the
// simulator can change: statuses, begin and finish times.
func samePicture(a, b []dag.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Status != b[i].Status || a[i].Begin != b[i].Begin || a[i].Finish != b[i].Finish {
			return false
		}
	}
	return true
}

// floorUnix is the unix second a search at t reports on: DataWorks times
// are whole seconds, so a node that changed at second s shows from s on.
func floorUnix(t time.Time) int64 {
	return t.Unix() // Unix truncates toward the past for times after 1970
}
