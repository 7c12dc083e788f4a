// Package workflows holds RunManualDag, the durable workflow that triggers a
// DataWorks manual DAG once, follows it on timers and reports which nodes
// failed. docs/design.md explains the rules.
package workflows

import (
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
	heartbeatTimeout = 30 * time.Second
	// createStartToClose leaves a 2024-05-18 create room to resolve its
	// outcome (activities.ResolveWindow); a crash is noticed by the
	// heartbeat timeout all the same.
	createStartToClose = activities.ResolveWindow + 2*time.Minute
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
	r.listenForEvents(ctx)
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

	// DataWorks' pushed events (events.go): events asks for a look;
	// hints came before the DAG id was known, unchecked since the last
	// look began; eventLook is when events last caused a look (they cause
	// one per eventCoalesce at most), confirmDue says the coming look is
	// one into an unconfirmed final event; mode and silence are how events
	// steered the last wait.
	events     workflow.Channel
	hints      []dag.Event
	unchecked  []dag.Event
	eventLook  time.Time
	confirmDue bool
	replan     bool
	// compact: signals made the history long during a wait; the watch
	// wakes to continue as new. cutEvents are the events that cut a
	// repeat window short, for the look that follows to check.
	compact   bool
	cutEvents []dag.Event
	decision  Decision // of the last look, for a wait chosen again
	mode      eventMode
	silence   time.Time
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
