package workflows

// The endings: a verdict, a cancel, a watch that stops with no verdict,
// and continue-as-new.

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/dag"
)

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
	if d.Outcome == dag.OutcomeFailed && r.s.failFast {
		r.failFast(ctx)
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

// failFast stops the instances a FAILED run leaves unfinished (failFast
// "stop"), or says that they run on ("leave").
func (r *run) failFast(ctx workflow.Context) {
	if countNodes(r.st.Nodes, func(s dag.Status) bool { return !s.Terminal() }) == 0 {
		return
	}
	if r.s.stopOnFailFast {
		r.stopUnfinished(ctx, "failFast: a node failed")
		r.report.FinishedAt = workflow.Now(ctx)
		return
	}
	r.note("failFast is %q: the unfinished instances run on in DataWorks; stop them in %s if they should not", OnDeadlineLeave, r.operationsRef())
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
