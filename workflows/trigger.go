package workflows

// The trigger: the guard of the re-trigger rule, then the create, sent at
// most once over all its attempts (docs/design.md, "Never trigger twice").

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// refuseRetriedTrigger stops a workflow run that is a retry of an earlier
// one (the caller gave RunManualDag a retry policy): the earlier attempt may
// have triggered the DAG, and its heartbeat details died with it.
func (r *run) refuseRetriedTrigger(ctx workflow.Context) error {
	attempt := workflow.GetInfo(ctx).Attempt
	if attempt <= 1 {
		return nil
	}
	c := r.s.create
	msg := activities.OutcomeUnknownMessage(c.ProjectName, c.FlowName, c.Bizdate,
		fmt.Sprintf("this is attempt %d of the workflow (a workflow retry policy is set), and an earlier attempt may have triggered it; do not give RunManualDag a retry policy", attempt))
	r.report.Outcome, r.report.Message = dag.OutcomeFailed, msg
	r.report.FinishedAt = workflow.Now(ctx)
	r.logger.Error("Refusing to trigger in a retried workflow run", "attempt", attempt)
	return temporal.NewNonRetryableApplicationError(msg, dag.ErrTriggerOutcomeUnknown, nil, r.report)
}

// guard refuses to trigger when another run of the bizdate is going on, has
// succeeded, or may have left a DAG run behind: the re-trigger rule
// (activities.Runs.GuardTrigger), applied here so that every path that
// starts RunManualDag (a schedule, the Temporal CLI, any workflow id) obeys
// it. If the check itself cannot be made, nothing is sent either.
func (r *run) guard(ctx workflow.Context) error {
	if r.in.AllowDuplicate {
		r.logger.Warn("allowDuplicate: triggering without looking for other runs of this bizdate")
		return nil
	}
	// A scheduled run picks its bizdate itself: publishing it first lets
	// the guards of other runs of the bizdate see this one.
	r.publish(ctx)
	c := r.s.create
	info := workflow.GetInfo(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 3 * time.Minute,
		Summary:                fmt.Sprintf("look for other runs of %s/%s @ %s", c.ProjectName, c.FlowName, c.Bizdate),
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: 20 * time.Second},
	})
	var runs *activities.Runs
	var res activities.GuardTriggerResult
	err := workflow.ExecuteActivity(actx, runs.GuardTrigger, activities.GuardTriggerInput{
		WorkflowID:        info.WorkflowExecution.ID,
		RunID:             info.WorkflowExecution.RunID,
		BizdateWorkflowID: BizdateWorkflowID(c.ProjectName, c.FlowName, c.Bizdate),
		ProjectName:       c.ProjectName,
		FlowName:          c.FlowName,
		Bizdate:           c.Bizdate,
		WorkflowType:      WorkflowName,
	}).Get(ctx, &res)
	typ := dag.ErrDuplicateRefused
	switch {
	case ctx.Err() != nil:
		return r.canceled(ctx)
	case err != nil:
		typ = dag.ErrNotTriggered
		res.Refusal = fmt.Sprintf("DataWorks flow %s/%s (bizdate %s) was not triggered, and no run was started: the other runs of this bizdate could not be looked up in Temporal (%v)",
			c.ProjectName, c.FlowName, c.Bizdate, err)
	case res.Refusal == "":
		if res.Note != "" {
			r.logger.Warn("Other runs of this bizdate were only partly checked", "note", res.Note)
		}
		return nil
	case res.ErrorType == dag.ErrTriggerOutcomeUnknown:
		typ = dag.ErrTriggerOutcomeUnknown
	}
	r.report.Outcome, r.report.Message = dag.OutcomeRefused, fmt.Sprintf("DataWorks flow %s/%s (bizdate %s) was not triggered: %s", c.ProjectName, c.FlowName, c.Bizdate, res.Refusal)
	if typ == dag.ErrNotTriggered {
		r.report.Outcome, r.report.Message = dag.OutcomeFailed, res.Refusal
	}
	r.report.FinishedAt = workflow.Now(ctx)
	r.closed = true
	r.logger.Error("Not triggering", "reason", res.Refusal)
	return temporal.NewNonRetryableApplicationError(r.report.Message, typ, nil, r.report)
}

// follow takes an existing DAG run as this run's: nothing is sent. Its
// trigger time is unknown, so the watch counts from now, and its node
// timings are not kept for predictions (they would be offset).
func (r *run) follow(ctx workflow.Context, dagID int64) {
	r.note("this run follows DAG %d, which it did not trigger (input dagId)", dagID)
	r.watchDag(ctx, dagID, "Following an existing DAG run; nothing is triggered")
}

// watchDag makes dagID the run's DAG from now on: report, logger, memo and
// search attributes.
func (r *run) watchDag(ctx workflow.Context, dagID int64, logMsg string) {
	now := workflow.Now(ctx)
	r.report.DagID, r.report.TriggeredAt, r.report.Outcome = dagID, now, dag.OutcomeRunning
	r.report.Message = r.report.Summary("")
	r.st.StableSince = now
	r.logger = log.With(r.logger, "dagId", dagID)
	r.logger.Info(logMsg)
	r.takeHints(ctx)
	if err := workflow.UpsertMemo(ctx, map[string]any{"dagId": dagID}); err != nil {
		r.logger.Warn("Could not record the DAG id in the memo", "error", err)
	}
	r.publish(ctx)
}

// checkFollowed ends a run that follows a DAG (input dagId) of another
// business date than its own, as DataWorks reports it (2018-06-01 does;
// 2020-05-18 reports none, and then it cannot be checked): its verdict
// would be given for the wrong bizdate. Nothing was sent, and the DAG is
// not this bizdate's, so the report keeps no DAG id and the re-trigger rule
// is not held up by it.
func (r *run) checkFollowed(ctx workflow.Context, res activities.SearchResult) error {
	want := r.s.create.Bizdate
	if r.in.DagID == 0 || len(res.Bizdates) == 0 || len(res.Bizdates) == 1 && res.Bizdates[0] == want {
		return nil
	}
	c := r.s.create
	msg := fmt.Sprintf("dagId %d is a DAG run of bizdate %s in DataWorks, not of %s: follow the DAG run of %s/%s for bizdate %s (Operation Center > Manual Instances), or start it for its own bizdate",
		r.in.DagID, strings.Join(res.Bizdates, ", "), want, c.ProjectName, c.FlowName, want)
	r.report.DagID, r.report.Outcome, r.report.Message = 0, dag.OutcomeRefused, msg
	r.report.FinishedAt = workflow.Now(ctx)
	r.closed = true
	r.logger.Error("Not following a DAG run of another bizdate", "bizdates", res.Bizdates)
	return temporal.NewNonRetryableApplicationError(msg, dag.ErrInvalidInput, nil, r.report)
}

// trigger runs the create until it returns a DagID or a final error. Each
// attempt is an activity execution of its own (createAttempt), retried by
// the workflow, never by Temporal: the workflow then always knows what the
// last attempt left behind, and a cancel is honoured only once that is
// settled (docs/design.md, "Cancel during the trigger"). A cancelled workflow
// reports CANCELED with the DagID the create returned, CANCELED without one
// when no attempt can have reached DataWorks, and TriggerOutcomeUnknown
// when one may have.
func (r *run) trigger(ctx workflow.Context) error {
	dagID, err := r.create(ctx)
	if err != nil {
		var appErr *temporal.ApplicationError
		unknown := errors.As(err, &appErr) && appErr.Type() == dag.ErrTriggerOutcomeUnknown
		if ctx.Err() != nil && !unknown {
			return r.canceled(ctx) // nothing reached DataWorks
		}
		r.report.Outcome = dag.OutcomeFailed
		r.report.FinishedAt = workflow.Now(ctx)
		r.report.Message = err.Error()
		typ := dag.ErrTriggerOutcomeUnknown // an unforeseen error is treated as the worst case
		if errors.As(err, &appErr) {
			r.report.Message, typ = appErr.Message(), appErr.Type()
		}
		r.logger.Error("DAG run not triggered", "error", err, "canceled", ctx.Err() != nil)
		r.closed = true
		return temporal.NewNonRetryableApplicationError(r.report.Message, typ, nil, r.report)
	}

	r.watchDag(ctx, dagID, "DAG run triggered")
	if ctx.Err() != nil {
		return r.canceled(ctx)
	}
	return nil
}

// create runs createAttempt up to createMaxAttempts times, waiting
// createBackoff between attempts on a workflow timer. It retries only after
// an attempt that proved nothing reached DataWorks, and never once the
// workflow is cancelled. The error is final: an *ApplicationError of a type
// from errors.go, or a *CanceledError when the cancel came before an attempt
// started.
func (r *run) create(ctx workflow.Context) (int64, error) {
	var resume *activities.CreateProgress
	for attempt := int32(1); ; attempt++ {
		dagID, err := r.createAttempt(ctx, attempt, resume)
		if err == nil {
			return dagID, nil
		}
		dagID, retry, err := r.triggerError(err)
		if !retry {
			return dagID, err
		}
		resume = nil
		var timeoutErr *temporal.TimeoutError
		var p activities.CreateProgress
		if errors.As(err, &timeoutErr) && timeoutErr.LastHeartbeatDetails(&p) == nil && p.Resumable() {
			// A 2024-05-18 attempt died after sending: the next attempt
			// sends nothing, and settles it by its OperationId or marker.
			resume = &p
		}
		wait := createBackoff(attempt, err)
		if ctx.Err() != nil || attempt >= createMaxAttempts || !workflow.Now(ctx).Add(wait).Before(r.st.Deadline) {
			if resume != nil {
				return 0, r.unsettled(err)
			}
			return 0, r.notTriggered(err)
		}
		r.logger.Warn("Trigger not settled; another attempt", "attempt", attempt, "in", wait, "resume", resume != nil, "error", err)
		_ = workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{
			Summary: fmt.Sprintf("retry the trigger in %v (attempt %d of %d)", wait.Round(time.Second), attempt+1, createMaxAttempts),
		}).Get(ctx, nil)
		if ctx.Err() != nil {
			if resume != nil {
				return 0, r.unsettled(err)
			}
			return 0, r.notTriggered(err)
		}
	}
}

// unsettled is the final error of a 2024-05-18 create that was sent and
// could not be settled before the workflow stopped trying.
func (r *run) unsettled(last error) error {
	c := r.s.create
	return temporal.NewApplicationError(activities.OutcomeUnknownMessage(c.ProjectName, c.FlowName, c.Bizdate,
		fmt.Sprintf("an attempt sent it and stopped before it learned the reply (%v), and no later attempt could look its run up", last)), dag.ErrTriggerOutcomeUnknown)
}

// createAttempt runs one attempt of the create: an activity that Temporal
// does not retry. A cancel reaches it as Temporal delivers it: an attempt
// not started yet is dropped (it never ran, so it sent nothing); a started
// one is asked, and answers with what it did (its intent record fails once
// the cancel is requested, so it does not send after it).
func (r *run) createAttempt(ctx workflow.Context, attempt int32, resume *activities.CreateProgress) (int64, error) {
	c := r.s.create
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: r.st.Deadline.Sub(workflow.Now(ctx)),
		StartToCloseTimeout:    createStartToClose,
		HeartbeatTimeout:       heartbeatTimeout,
		WaitForCancellation:    true,
		Summary:                fmt.Sprintf("trigger %s/%s @ %s (attempt %d)", c.ProjectName, c.FlowName, c.Bizdate, attempt),
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var a *activities.Activities
	var res activities.CreateManualDagResult
	c.Resume = resume
	err := workflow.ExecuteActivity(actx, a.CreateManualDag, c).Get(ctx, &res)
	return res.DagID, err
}

// triggerError reads a failed create attempt. It returns the DagID that the
// last heartbeat of an attempt timed out after the reply holds; or, with
// retry, the reason an attempt proved that nothing reached DataWorks; or
// else the final error (an *ApplicationError of a type from errors.go, or
// the *CanceledError of an attempt cancelled before it started).
func (r *run) triggerError(err error) (dagID int64, retry bool, _ error) {
	c := r.s.create
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		if !timeoutErr.HasLastHeartbeatDetails() {
			// The intent is recorded before anything is sent.
			return 0, true, err
		}
		var p activities.CreateProgress
		switch {
		case timeoutErr.LastHeartbeatDetails(&p) != nil:
			return 0, false, temporal.NewApplicationError(activities.OutcomeUnknownMessage(c.ProjectName, c.FlowName, c.Bizdate, "the trigger's progress is unreadable"), dag.ErrTriggerOutcomeUnknown)
		case p.DagID > 0:
			return p.DagID, false, nil
		case p.Resumable():
			return 0, true, err
		case p.State != "not-sent":
			return 0, false, temporal.NewApplicationError(activities.OutcomeUnknownMessage(c.ProjectName, c.FlowName, c.Bizdate,
				fmt.Sprintf("the trigger timed out (%v) after it was sent", timeoutErr.TimeoutType())), dag.ErrTriggerOutcomeUnknown)
		}
		return 0, true, err
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		switch appErr.Type() {
		case dag.ErrTriggerOutcomeUnknown, dag.ErrInvalidInput, dag.ErrPermanent:
			return 0, false, temporal.NewApplicationError(appErr.Message(), appErr.Type())
		case dag.ErrCreateNotSent, dag.ErrThrottled, dag.ErrQuotaExhausted:
			return 0, true, appErr
		}
	}
	if temporal.IsCanceledError(err) {
		return 0, false, err
	}
	// A panic or anything unforeseen: it may have happened after sending.
	return 0, false, temporal.NewApplicationError(activities.OutcomeUnknownMessage(c.ProjectName, c.FlowName, c.Bizdate, err.Error()), dag.ErrTriggerOutcomeUnknown)
}

// notTriggered is the final error of a create whose every attempt proved
// that nothing reached DataWorks; last is the last attempt's reason.
func (r *run) notTriggered(last error) error {
	c := r.s.create
	msg := last.Error()
	var appErr *temporal.ApplicationError
	if errors.As(last, &appErr) {
		msg = appErr.Message()
	}
	return temporal.NewApplicationError(fmt.Sprintf("DataWorks flow %s/%s (bizdate %s) was not triggered, and no run was started: %s",
		c.ProjectName, c.FlowName, c.Bizdate, msg), dag.ErrNotTriggered)
}

// createBackoff is the wait before the attempt after attempt (1-based):
// the delay a throttled or quota-refused attempt asked for, or 5s doubled
// per attempt up to 2m.
func createBackoff(attempt int32, err error) time.Duration {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NextRetryDelay() > 0 {
		return appErr.NextRetryDelay()
	}
	d := createInitialBackoff
	for i := int32(1); i < attempt && d < createMaxBackoff; i++ {
		d *= 2
	}
	return min(d, createMaxBackoff)
}
