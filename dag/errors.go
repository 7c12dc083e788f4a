package dag

// Error types of every temporal.ApplicationError raised by manualdag, the
// activities' and the workflow's alike, so that the whole list lives in one
// place (docs/design.md has the table: who raises each, whether it is retried,
// what the user sees). A caller of RunManualDag meets ErrInvalidInput,
// ErrPermanent, ErrTriggerOutcomeUnknown and those raised by the workflow;
// every one of those is final.
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
	// a long NextRetryDelay (activities.QuotaRetryDelay); never final on its own.
	ErrQuotaExhausted = "DataWorksQuotaExhausted"
	// ErrDagNotFound: the search does not know the DAG id (DataWorks code
	// 11020293069). Not retried by the activity; the workflow treats it like
	// an empty node list, which is tolerated for a while after the trigger.
	ErrDagNotFound = "DagNotFound"
	// ErrNothingYet: a search with a repeat window (activities.SearchInput.RepeatEvery)
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
	// second run; check DataWorks before starting again. The workflow's
	// error details carry the DagReport.
	ErrTriggerOutcomeUnknown = "TriggerOutcomeUnknown"

	// Raised by the workflow, never by an activity.

	// ErrDagFailed: the DAG run failed (a node failed, or no node appeared).
	// Final; the details carry the report.
	ErrDagFailed = "DagFailed"
	// ErrDagTimedOut: the overall deadline passed before the DAG finished.
	// Final; the details carry the report. (A trigger not sent before the
	// deadline is ErrNotTriggered.)
	ErrDagTimedOut = "DagTimedOut"
	// ErrNotTriggered: every attempt to send the trigger failed in a way
	// that proves nothing was started (unreachable, throttled, quota spent),
	// until the retries or the deadline ran out. Final.
	ErrNotTriggered = "NotTriggered"
	// ErrDagNotListed: no node of the DAG run was listed within the
	// workflow's emptyListGrace; the DAG run may exist. No verdict; final;
	// the details carry the report.
	ErrDagNotListed = "DagNotListed"
	// ErrWatchLost: the searches stayed unusable (an empty list after nodes
	// were listed, an undocumented business error) for the workflow's
	// bounded time while the DAG run may go on. No verdict; final; the
	// details carry the report.
	ErrWatchLost = "WatchLost"
	// ErrDuplicateRefused: the workflow did not trigger, because another
	// run of its bizdate is going on, has succeeded, or may have left a DAG
	// run behind (activities.Runs.GuardTrigger); the message says which and what to
	// do. Final; the details carry the report (OutcomeRefused).
	ErrDuplicateRefused = "DuplicateRefused"
)
