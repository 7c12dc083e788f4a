// Package workflows holds RunManualDag, the durable workflow that triggers a
// DataWorks manual DAG once, follows it on timers and reports which nodes
// failed. docs/design.md explains the rules.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

const (
	// TaskQueue is the task queue of the workflow and its activities.
	TaskQueue = "dataworks-manual-dag"
	// WorkflowName is the name RunManualDag is registered under.
	WorkflowName = "RunManualDag"
	// QueryStatus answers the live DagReport.
	QueryStatus = "status"
)

// Activity settings. heartbeatTimeout, of the create and the operations, is
// how soon a crashed worker is noticed; it must exceed one DataWorks call
// (10s by default), since an activity cannot heartbeat while the SDK call
// runs.
const (
	heartbeatTimeout   = 30 * time.Second
	createStartToClose = time.Minute
	createMaxAttempts  = 10
	// The create's retries: createInitialBackoff doubled per attempt up
	// to createMaxBackoff, unless the attempt asked for its own delay.
	createInitialBackoff = 5 * time.Second
	createMaxBackoff     = 2 * time.Minute
	searchStartToClose   = 30 * time.Second
)

// RunManualDag triggers a DataWorks manual DAG once, polls its node instances
// on workflow timers until Decide calls the outcome, and returns the report.
// With FailOnDagFailure (the default) an outcome other than SUCCEEDED fails
// the workflow with DagFailed or DagTimedOut, the report in the details.
func RunManualDag(ctx workflow.Context, in RunManualDagInput) (_ dag.DagReport, err error) {
	r := &run{logger: workflow.GetLogger(ctx)}
	r.report = dag.DagReport{ProjectName: in.ProjectName, FlowName: in.FlowName, Bizdate: in.Bizdate, Outcome: dag.OutcomeTriggering}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (dag.DagReport, error) { return r.report, nil }); err != nil {
		return r.report, err
	}
	r.vis = startVisibility(ctx)
	defer func() { r.ended(ctx, err) }()
	if err := r.setup(ctx, in); err != nil {
		r.report.Outcome = dag.OutcomeFailed
		r.report.Message = "invalid input: " + err.Error()
		return r.report, temporal.NewNonRetryableApplicationError(r.report.Message, dag.ErrInvalidInput, nil)
	}
	r.wake = workflow.NewBufferedChannel(ctx, 1)
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRerunFailed, r.rerunFailed,
		workflow.UpdateHandlerOptions{Validator: r.validateRerun}); err != nil {
		return r.report, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateExtendDeadline, r.extendDeadline,
		workflow.UpdateHandlerOptions{Validator: r.validateExtend}); err != nil {
		return r.report, err
	}
	switch {
	case in.Continued != nil:
	case in.DagID != 0:
		r.follow(ctx, in.DagID)
	default:
		if err := r.refuseRetriedTrigger(ctx); err != nil {
			return r.report, err
		}
		if err := r.guard(ctx); err != nil {
			return r.report, err
		}
		if err := r.trigger(ctx); err != nil {
			return r.report, err
		}
	}
	return r.watch(ctx)
}

// run is one workflow run. What it carries across continue-as-new is st;
// the rest is rebuilt by every run (settings, logger, timers, channels) or
// lives in the report.
type run struct {
	in     RunManualDagInput
	s      settings
	st     WatchState
	policy PollPolicy
	logger log.Logger
	report dag.DagReport
	seed   uint64 // of the poll jitter, from the workflow id
	polls  int    // searches of this run, for continue-as-new

	// Operations (operations.go).
	dl       *deadline // armed by watch
	wake     workflow.Channel
	stopping bool // stopping the DAG run: updates are refused
	closed   bool // the outcome is final: updates are refused

	vis visibility // search attributes and current details (visibility.go)

	// quotaUntil is set while DataWorks says the daily quota is spent
	// (quota.go); pollFloor is the least wait the worker's daily API budget
	// allows, from the last search; window is the next poll's repeat window
	// (predict.go).
	quotaUntil time.Time
	pollFloor  time.Duration
	window     window
}

func (r *run) setup(ctx workflow.Context, in RunManualDagInput) error {
	info := workflow.GetInfo(ctx)
	now := workflow.Now(ctx)
	origin := now // of the default bizdate (schedule.go)
	if in.Bizdate == "" && in.Continued == nil {
		origin = bizdateOrigin(ctx, now)
	}
	s, err := in.settings(origin)
	if err != nil {
		return err
	}
	r.in, r.s = in, s
	r.in.Bizdate = s.create.Bizdate // a continued run keeps the first run's date
	r.seed = JitterSeed(info.WorkflowExecution.ID)
	r.report.Bizdate = s.create.Bizdate
	r.logger = log.With(r.logger, "project", in.ProjectName, "flow", in.FlowName, "bizdate", s.create.Bizdate)
	if c := in.Continued; c != nil {
		r.resume(*c)
		r.logger = log.With(r.logger, "dagId", c.DagID)
		r.logger.Info("Continuing to watch the DAG run", "polls", c.Polls, "run", r.st.Runs)
		return nil
	}
	r.st.Ops = OpsState{Logs: map[int64]NodeLog{}, Reruns: map[int64]PendingRerun{}}
	r.st.StartedAt = now
	r.st.Deadline = now.Add(s.timeout)
	return nil
}

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
	now := workflow.Now(ctx)
	r.report.DagID, r.report.TriggeredAt, r.report.Outcome = dagID, now, dag.OutcomeRunning
	r.report.Message = r.report.Summary("")
	r.st.StableSince = now
	r.logger = log.With(r.logger, "dagId", dagID)
	r.logger.Info("Following an existing DAG run; nothing is triggered")
	r.note("this run follows DAG %d, which it did not trigger (input dagId)", dagID)
	if err := workflow.UpsertMemo(ctx, map[string]any{"dagId": dagID}); err != nil {
		r.logger.Warn("Could not record the DAG id in the memo", "error", err)
	}
	r.publish(ctx)
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

	now := workflow.Now(ctx)
	r.report.DagID, r.report.TriggeredAt, r.report.Outcome = dagID, now, dag.OutcomeRunning
	r.report.Message = r.report.Summary("")
	r.st.StableSince = now
	r.logger = log.With(r.logger, "dagId", dagID)
	r.logger.Info("DAG run triggered")
	if err := workflow.UpsertMemo(ctx, map[string]any{"dagId": dagID}); err != nil {
		r.logger.Warn("Could not record the DAG id in the memo", "error", err)
	}
	r.publish(ctx)
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
	for attempt := int32(1); ; attempt++ {
		dagID, err := r.createAttempt(ctx, attempt)
		if err == nil {
			return dagID, nil
		}
		dagID, retry, err := r.triggerError(err)
		if !retry {
			return dagID, err
		}
		wait := createBackoff(attempt, err)
		if ctx.Err() != nil || attempt >= createMaxAttempts || !workflow.Now(ctx).Add(wait).Before(r.st.Deadline) {
			return 0, r.notTriggered(err)
		}
		r.logger.Warn("Trigger not sent; retrying", "attempt", attempt, "in", wait, "error", err)
		_ = workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{
			Summary: fmt.Sprintf("retry the trigger in %v (attempt %d of %d)", wait.Round(time.Second), attempt+1, createMaxAttempts),
		}).Get(ctx, nil)
		if ctx.Err() != nil {
			return 0, r.notTriggered(err)
		}
	}
}

// createAttempt runs one attempt of the create: an activity that Temporal
// does not retry. A cancel reaches it as Temporal delivers it: an attempt
// not started yet is dropped (it never ran, so it sent nothing); a started
// one is asked, and answers with what it did (its intent record fails once
// the cancel is requested, so it does not send after it).
func (r *run) createAttempt(ctx workflow.Context, attempt int32) (int64, error) {
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

// watch polls until the outcome is final, the deadline passes, or the run
// continues as new.
func (r *run) watch(ctx workflow.Context) (dag.DagReport, error) {
	r.dl = newDeadline(ctx, "deadline", r.st.Deadline)
	defer r.dl.stop()
	r.policy = r.s.pollPolicy()
	r.loadProfile(ctx)

	for {
		if r.polls >= continueAsNewPolls || r.polls > 0 && (workflow.GetInfo(ctx).GetContinueAsNewSuggested() || r.historyFull(ctx)) {
			return r.report, r.continueAsNew(ctx)
		}
		changed, err := r.poll(ctx)
		if err != nil {
			return r.report, err
		}
		if ctx.Err() != nil {
			return r.report, r.canceled(ctx)
		}
		if wait, paused := r.quotaPause(ctx); paused {
			// Nothing was seen: no verdict on stale nodes.
			r.sleep(ctx, wait)
			if ctx.Err() != nil {
				return r.report, r.canceled(ctx)
			}
			if r.dl.passed(ctx) {
				return r.finish(ctx, Decide(r.st.Nodes, r.timing(ctx)))
			}
			continue
		}
		if r.st.Trouble.active() {
			// Nothing fit to judge on: no verdict on the last snapshot, which
			// may be stale, until a search lists the nodes again.
			if r.st.Trouble.expired(workflow.Now(ctx)) {
				return r.report, r.stopWatching(ctx, r.st.Trouble.err(r.report.DagID))
			}
			r.report.Message = r.report.Summary(r.st.Trouble.reason())
			r.publish(ctx)
			r.window = window{}
			r.sleep(ctx, r.st.Trouble.wait())
			if ctx.Err() != nil {
				return r.report, r.canceled(ctx)
			}
			if r.dl.passed(ctx) {
				return r.finish(ctx, Decide(r.st.Nodes, r.timing(ctx)))
			}
			continue
		}
		if changed {
			r.fetchLogs(ctx)
			if ctx.Err() != nil {
				return r.report, r.canceled(ctx)
			}
		}
		r.settleReruns(ctx)
		d := r.holdForReruns(Decide(r.st.Nodes, r.timing(ctx)))
		if d.Outcome.Final() {
			return r.finish(ctx, d)
		}
		if d.Unlisted {
			return r.report, r.stopWatching(ctx, temporal.NewApplicationError(d.Reason, dag.ErrDagNotListed))
		}
		r.report.Message = r.report.Summary(d.Reason)
		r.publish(ctx)

		wait := r.policy.Next(Observation{
			Polls:        r.report.Polls,
			SinceTrigger: workflow.Now(ctx).Sub(r.report.TriggeredAt),
			Changed:      changed,
			Unchanged:    r.st.Unchanged,
			Active:       countNodes(r.st.Nodes, dag.Status.Active),
			Total:        len(r.st.Nodes),
			Seed:         r.seed,
			Now:          workflow.Now(ctx),
			TriggeredAt:  r.report.TriggeredAt,
			Nodes:        r.st.Nodes,
			Profile:      r.st.Profile,
		})
		wait = max(wait, r.pollFloor)
		r.window = window{}
		if w, ok := r.policy.(Windowed); ok {
			r.window.every, r.window.polls = w.Window(wait)
		}
		if !d.RecheckAt.IsZero() {
			if recheck := max(d.RecheckAt.Sub(workflow.Now(ctx)), MinPollInterval); recheck < wait {
				// A grace period ends first: one poll then, not a window.
				wait, r.window = recheck, window{}
			}
		}
		r.sleep(ctx, wait)
		if ctx.Err() != nil {
			return r.report, r.canceled(ctx)
		}
		if r.dl.passed(ctx) {
			return r.finish(ctx, Decide(r.st.Nodes, r.timing(ctx)))
		}
	}
}

func (r *run) timing(ctx workflow.Context) Timing {
	return Timing{
		Now:            workflow.Now(ctx),
		TriggeredAt:    r.report.TriggeredAt,
		Deadline:       r.st.Deadline,
		StableSince:    r.st.StableSince,
		BlockedGrace:   r.s.blockedGrace,
		EmptyListGrace: r.s.emptyListGrace,

		WaitForRecovery: r.s.waitForRecovery,

		ListSettle:      r.s.listSettle,
		CountPolls:      r.st.CountPolls,
		ExpectedNodes:   r.st.Profile.MinNodes(),
		PartialListWait: 2 * r.s.listSettle,
		Stale:           r.st.Trouble.active(),
	}
}

// poll runs one search. It returns whether the snapshot changed; at the
// deadline it cancels the search and leaves the snapshot as it was.
func (r *run) poll(ctx workflow.Context) (bool, error) {
	in := r.searchInput()
	in.RepeatEvery, in.RepeatPolls = r.window.every, r.window.polls
	in.KnownNodes = len(r.st.Nodes)
	in.KnownFailed = countNodes(r.st.Nodes, func(s dag.Status) bool { return s == dag.StatusFailure })
	res, done, searchErr := r.search(ctx, in, r.dl, 0)
	if !done || ctx.Err() != nil {
		return false, nil // the deadline passed or the workflow was cancelled: the caller sees which
	}
	r.polls++
	if searchErr != nil && r.quotaSpent(ctx, searchErr) {
		return false, nil // refused before it looked: not a poll of the report
	}
	r.quotaUntil = time.Time{}
	if searchErr == nil {
		r.pollFloor = res.PollFloor
	}
	r.report.Polls += max(res.Polls, 1)
	now := workflow.Now(ctx)

	if searchErr != nil {
		var appErr *temporal.ApplicationError
		switch {
		case errors.As(searchErr, &appErr) && appErr.Type() == dag.ErrNothingYet:
			// A repeat window cut short (a timeout, an attempt limit such
			// as the SDK test environment's): its last poll saw nothing new.
			var polls int32
			if appErr.Details(&polls) == nil && polls > 1 {
				r.report.Polls += int(polls) - 1 // one is counted above
			}
			r.st.Unchanged++
			r.st.CountPolls++
			r.st.Trouble = trouble{}
			return false, nil
		case errors.As(searchErr, &appErr) && appErr.Type() == dag.ErrDagNotFound && len(r.st.Nodes) == 0:
			// Not listed yet: an empty list, which Decide tolerates for a while.
			r.logger.Info("DataWorks does not know the DAG id yet", "error", searchErr)
			res = activities.Compact(nil, 0, activities.Known{})
		case errors.As(searchErr, &appErr) && (appErr.Type() == dag.ErrDagNotFound || appErr.Type() == dag.ErrUnexpectedReply):
			// After nodes were listed, or a business error nobody
			// documented: a read has no side effect, so look again.
			r.troubled(ctx, searchErr.Error())
			return false, nil
		default:
			return false, r.stopWatching(ctx, searchErr)
		}
	}
	if len(r.st.Nodes) > 0 && res.Count < len(r.st.Nodes) {
		// Node instances do not vanish from a DAG run: a reply that lists
		// fewer (none at all, typically) is an anomaly of the reply, and
		// the last full snapshot stays the one judged.
		r.troubled(ctx, fmt.Sprintf("DataWorks listed %d node instances of DAG %d, after %d earlier", res.Count, r.report.DagID, len(r.st.Nodes)))
		return false, nil
	}
	nodes, err := res.Nodes(r.st.Nodes)
	if err != nil {
		// The digests fell out of step; ask for everything next time.
		r.logger.Warn("Search result does not fit the known snapshot", "error", err)
		r.st.Digest, r.st.Layout, r.st.Errors = "", "", ""
		return false, nil
	}
	r.st.Trouble = trouble{}
	if len(nodes) == len(r.st.Nodes) && r.st.CountPolls > 0 {
		r.st.CountPolls++
	} else {
		r.st.CountPolls = 1
	}
	changed := res.Digest != r.st.Digest
	r.st.Nodes, r.st.Digest, r.st.Layout, r.st.Errors = nodes, res.Digest, res.LayoutDigest, res.ErrorsDigest
	if changed {
		r.st.StableSince, r.st.Unchanged = now, 0
		r.report.SetNodes(nodes)
		r.logger.Debug("DAG run changed", "nodes", len(nodes), "counts", r.report.CountsByStatus)
	} else {
		r.st.Unchanged++
	}
	return changed, nil
}

// searchInput asks for the DAG run's nodes, echoing the digests of the
// snapshot the workflow holds.
func (r *run) searchInput() activities.SearchInput {
	return activities.SearchInput{
		ProjectName: r.s.create.ProjectName,
		DagID:       r.report.DagID,
		APIVersion:  r.s.create.APIVersion,
		ProjectEnv:  r.s.create.ProjectEnv,
		KnownDigest: r.st.Digest,
		KnownLayout: r.st.Layout,
		KnownErrors: r.st.Errors,
	}
}

// search runs the search activity. With stopAt it gives up when stopAt
// passes (done false), cancelling the activity; scheduleToClose, when not
// zero, bounds it with its retries.
func (r *run) search(ctx workflow.Context, in activities.SearchInput, stopAt *deadline, scheduleToClose time.Duration) (activities.SearchResult, bool, error) {
	actx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	actx = workflow.WithActivityOptions(actx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: scheduleToClose,
		StartToCloseTimeout:    searchStartToClose,
		Summary:                fmt.Sprintf("read the nodes of DAG %d", in.DagID),
		// No attempt limit: throttling and a spent quota come with their
		// own delays, and the deadline bounds the whole.
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: r.searchNonRetryable(),
		},
	})
	if in.RepeatEvery > 0 {
		actx = workflow.WithActivityOptions(actx, func() workflow.ActivityOptions {
			o := workflow.GetActivityOptions(actx)
			o.Summary = fmt.Sprintf("watch DAG %d: up to %d polls, one every %v, until something happens", in.DagID, in.RepeatPolls, in.RepeatEvery.Round(time.Second))
			return o
		}())
	}
	var a *activities.Activities
	fut := workflow.ExecuteActivity(actx, a.SearchManualDagNodeInstance, in)
	var res activities.SearchResult
	var err error
	done := false
	for {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(fut, func(f workflow.Future) { done, err = true, f.Get(ctx, &res) })
		if stopAt != nil {
			sel.AddFuture(stopAt.timer, func(workflow.Future) {})
		}
		sel.Select(ctx)
		// A deadline timer that fired early was re-armed by extendDeadline.
		if done || ctx.Err() != nil || stopAt == nil || stopAt.passed(ctx) {
			return res, done, err
		}
	}
}

// stopWatching ends the workflow after a search failed for good.
func (r *run) stopWatching(ctx workflow.Context, err error) error {
	typ, why := dag.ErrPermanent, err.Error()
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() != "" {
		typ, why = appErr.Type(), appErr.Message()
	}
	r.report.FinishedAt = workflow.Now(ctx)
	r.report.Message = fmt.Sprintf("manualdag stopped watching DataWorks DAG %d (%s/%s, bizdate %s) with no verdict: %s. "+
		"The DAG run may go on in DataWorks, so a new trigger of this bizdate is refused: follow this DAG run with `starter run --dag-id %d` (input dagId), or check it in Operation Center",
		r.report.DagID, r.report.ProjectName, r.report.FlowName, r.report.Bizdate, why, r.report.DagID)
	r.logger.Error("Stopped watching the DAG run", "error", err)
	r.closed = true
	return temporal.NewNonRetryableApplicationError(r.report.Message, typ, nil, r.report)
}

// sleep waits on a timer, or until the deadline fires, or until an update
// asks for a poll now (a rerun).
func (r *run) sleep(ctx workflow.Context, d time.Duration) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{
		Summary: fmt.Sprintf("next poll of DAG %d in %v", r.report.DagID, d.Round(time.Second)),
	})
	for {
		woke := false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(workflow.Future) {})
		sel.AddFuture(r.dl.timer, func(workflow.Future) {})
		sel.AddReceive(r.wake, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil); woke = true })
		sel.Select(ctx)
		// A deadline timer that fired early was re-armed by extendDeadline.
		if woke || timer.IsReady() || ctx.Err() != nil || r.dl.passed(ctx) {
			return
		}
	}
}

// awaitHandlers lets update handlers in flight finish before the run ends
// or continues as new.
func (r *run) awaitHandlers(ctx workflow.Context) {
	if !workflow.AllHandlersFinished(ctx) {
		_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	}
}

func (r *run) finish(ctx workflow.Context, d Decision) (dag.DagReport, error) {
	r.closed = true
	if d.Outcome == dag.OutcomeTimedOut {
		r.refresh(ctx)
		d = Decide(r.st.Nodes, r.timing(ctx))
	}
	r.awaitHandlers(ctx)
	r.report.Outcome = d.Outcome
	r.report.FinishedAt = workflow.Now(ctx)
	r.showNodes(r.st.Nodes)
	if d.Outcome == dag.OutcomeTimedOut {
		if r.s.stopOnDeadline {
			r.stopUnfinished(ctx, "the deadline passed")
			r.report.FinishedAt = workflow.Now(ctx)
		} else if r.report.DagID != 0 {
			r.note("onDeadline is %q: the unfinished instances run on in DataWorks; stop them in %s if they should not", OnDeadlineLeave, r.operationsRef())
		}
	}
	r.report.Message = r.report.Summary(d.Reason)
	if d.Outcome == dag.OutcomeSucceeded {
		r.keepTimings(ctx)
	}
	r.logger.Info("DAG run finished", "outcome", d.Outcome, "polls", r.report.Polls, "message", r.report.Message)
	if d.Outcome == dag.OutcomeSucceeded || !r.s.failOnDagFailure {
		return r.report, nil
	}
	typ := dag.ErrDagFailed
	if d.Outcome == dag.OutcomeTimedOut {
		typ = dag.ErrDagTimedOut
	}
	return r.report, temporal.NewNonRetryableApplicationError(r.report.Message, typ, nil, r.report)
}

// canceled ends a cancelled workflow with a CANCELED report in the details,
// after stopping the DAG's unfinished instances.
func (r *run) canceled(ctx workflow.Context) error {
	r.report.Outcome = dag.OutcomeCanceled
	r.stopping = true // updates are refused from here on, the refresh included
	r.refresh(ctx)
	r.stopUnfinished(ctx, "the workflow was cancelled")
	r.closed = true
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.awaitHandlers(dctx)
	r.report.FinishedAt = workflow.Now(ctx)
	r.report.Message = r.report.Summary("")
	if r.report.DagID == 0 {
		r.report.Message = fmt.Sprintf("DataWorks flow %s/%s (bizdate %s): canceled before a DAG run was triggered", r.report.ProjectName, r.report.FlowName, r.report.Bizdate)
	}
	r.logger.Info("Workflow canceled", "message", r.report.Message)
	return temporal.NewCanceledError(r.report)
}

// continueAsNew hands the watch to a fresh run, carrying what it knows; the
// continued run never triggers.
func (r *run) continueAsNew(ctx workflow.Context) error {
	r.awaitHandlers(ctx)
	next := r.in
	// The bizdate is fixed now; a timezone beside it would be refused.
	next.Timezone = ""
	next.Continued = r.carry()
	r.logger.Info("Continuing as new", "polls", r.report.Polls, "historyLength", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	return workflow.NewContinueAsNewError(ctx, WorkflowName, next)
}

// countNodes counts the nodes whose status is.
func countNodes(nodes []dag.Node, is func(dag.Status) bool) int {
	n := 0
	for _, x := range nodes {
		if is(x.Status) {
			n++
		}
	}
	return n
}
