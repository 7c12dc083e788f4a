package workflows

import (
	"time"

	"github.com/manualdag/manualdag/dag"
)

// WatchState is everything a run hands to its continuation: the DAG run it
// watches, the last snapshot of its nodes and the evidence gathered about
// it, what the flow's earlier runs taught, and the operations' state. It is
// RunManualDagInput.Continued; a run that has one never triggers.
type WatchState struct {
	DagID       int64     `json:"dagId"`
	TriggeredAt time.Time `json:"triggeredAt"`
	// StartedAt is the first run's start, the origin of timeout; Deadline
	// is where the timeout (and any extendDeadline) put the end.
	StartedAt time.Time `json:"startedAt,omitzero"`
	Deadline  time.Time `json:"deadline"`
	// Polls counts the searches of every run so far; Runs the runs before
	// this one.
	Polls int `json:"polls"`
	Runs  int `json:"runs"`

	// The snapshot: the nodes, the digests the search activity echoes, and
	// what the outcome rules weigh (decide.go).
	Nodes       []dag.Node `json:"nodes,omitempty"`
	Digest      string     `json:"digest,omitempty"`
	Layout      string     `json:"layout,omitempty"`
	Errors      string     `json:"errors,omitempty"`
	StableSince time.Time  `json:"stableSince"`
	Unchanged   int        `json:"unchanged,omitempty"`
	CountPolls  int        `json:"countPolls,omitempty"`
	Trouble     trouble    `json:"trouble,omitzero"`

	// Profile is what the flow's earlier runs taught (predictive polling);
	// ProfileLoaded says it was looked up, found or not.
	Profile       *dag.Profile `json:"profile,omitempty"`
	ProfileLoaded bool         `json:"profileLoaded,omitempty"`

	// Events is what DataWorks' pushed events taught (events.go).
	Events EventState `json:"events,omitzero"`

	// Ops is the state of operations: log tails, reruns under way, and the
	// operations and notes of the report.
	Ops OpsState `json:"ops,omitzero"`
}

// carry is the state to hand over, with the report's part of it.
func (r *run) carry() *WatchState {
	st := r.st
	st.DagID, st.TriggeredAt, st.Polls = r.report.DagID, r.report.TriggeredAt, r.report.Polls
	st.Ops.Operations, st.Ops.Notes = r.report.Operations, r.report.Notes
	return &st
}

// resume takes over a predecessor's state.
func (r *run) resume(st WatchState) {
	r.st = st
	r.st.Runs++
	if r.st.StartedAt.IsZero() {
		r.st.StartedAt = st.Deadline.Add(-r.s.timeout)
	}
	if r.st.Ops.Logs == nil {
		r.st.Ops.Logs = map[int64]NodeLog{}
	}
	if r.st.Ops.Reruns == nil {
		r.st.Ops.Reruns = map[int64]PendingRerun{}
	}
	r.report.DagID, r.report.TriggeredAt, r.report.Polls = st.DagID, st.TriggeredAt, st.Polls
	r.report.Operations, r.report.Notes = st.Ops.Operations, st.Ops.Notes
	r.report.Outcome = dag.OutcomeRunning
	r.showNodes(st.Nodes)
}
