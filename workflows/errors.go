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
)
