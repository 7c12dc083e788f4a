package workflows

import "github.com/manualdag/manualdag/activities"

// Error types of the errors RunManualDag fails with. They are defined, with
// every other type, in package activities (activities/errors.go) and
// tabulated in docs/design.md; these are the ones a caller of the workflow
// meets. Every one is final.
const (
	// DagFailed: the DAG run failed; details carry the DagReport.
	DagFailed = activities.ErrDagFailed
	// DagTimedOut: the deadline passed before the DAG run finished; details
	// carry the DagReport. (A trigger not sent before the deadline is
	// NotTriggered.)
	DagTimedOut = activities.ErrDagTimedOut
	// TriggerOutcomeUnknown: the trigger may have started a run whose id is
	// unknown; check DataWorks before starting again. Details carry the
	// DagReport.
	TriggerOutcomeUnknown = activities.ErrTriggerOutcomeUnknown
	// InvalidInput: the input was refused before anything was sent.
	InvalidInput = activities.ErrInvalidInput
	// NotTriggered: the trigger was never sent successfully (DataWorks
	// unreachable, throttled or refusing it) and nothing was started.
	NotTriggered = activities.ErrNotTriggered
	// DataWorksPermanent: DataWorks refused a call for good (permission,
	// credentials, a bad parameter); the message has its code.
	DataWorksPermanent = activities.ErrPermanent
	// DagNotListed: DataWorks listed no node of the DAG run within
	// emptyListGrace of the trigger; the watch ended with no verdict and the
	// DAG run may exist. Details carry the DagReport.
	DagNotListed = activities.ErrDagNotListed
	// WatchLost: DataWorks' replies about the DAG run stayed unusable (an
	// empty list after nodes were listed, an undocumented business error)
	// for 30 minutes; the watch ended with no verdict while the DAG run may
	// go on. Details carry the DagReport.
	WatchLost = activities.ErrWatchLost
	// DuplicateRefused: the run did not trigger, because another run of the
	// same project, flow and bizdate is going on, has succeeded, or may have
	// left a DAG run behind; the message says which and what to do. Details
	// carry the DagReport (outcome REFUSED).
	DuplicateRefused = activities.ErrDuplicateRefused
)
