package dag

import "time"

// SignalEvent is the signal through which the OpenEvent receiver
// (package openevent) tells a RunManualDag run that DataWorks pushed an
// event about its DAG run. The workflow treats it as a hint to look now:
// only its own search decides a verdict, so a forged, stale or misrouted
// event can cost a call but never a wrong verdict.
const SignalEvent = "dataworks-event"

// Kinds of Event.
const (
	// EventDag is dataworks:DagStatusChanges (the whole DAG run changed).
	EventDag = "dag"
	// EventInstance is dataworks:InstanceStatusChanges (one node instance).
	EventInstance = "instance"
)

// Event is SignalEvent's payload: what the receiver read from one pushed
// CloudEvent, reduced to what a run may use as a hint. It carries no
// secret and nothing the verdict depends on.
type Event struct {
	// ID is the CloudEvent id (the receiver de-duplicates on it).
	ID string `json:"id"`
	// Kind is EventDag or EventInstance.
	Kind string `json:"kind"`
	// DagID is the DAG run the event is about.
	DagID int64 `json:"dagId"`
	// NodeID is the node, for EventInstance; 0 otherwise.
	NodeID int64 `json:"nodeId,omitempty"`
	// InstanceID is the node instance (the event's taskId), for
	// EventInstance: what a search lists (Node.ID), so what a look can
	// confirm the event by; 0 otherwise.
	InstanceID int64 `json:"instanceId,omitempty"`
	// Status is the pushed status as a Status (StatusRunning, ...), or ""
	// when the code was not one the receiver knows.
	Status Status `json:"status,omitempty"`
	// Final says the pushed status is final (DAG succeeded or failed; node
	// succeeded or failed).
	Final bool `json:"final,omitempty"`
	// Time is the event's own time (CloudEvent time), for the run's status.
	Time time.Time `json:"time"`
}
