package main

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/workflows"
)

// exitOutcomeUnknown: the trigger may or may not have started a DAG run.
// A pipeline must not simply retry on it; someone checks DataWorks first.
const exitOutcomeUnknown = 4

// checkPrevious refuses a start that could trigger a second DAG run for the
// same workflow id: the previous run ended without knowing whether it had
// triggered, or it ended (timed out, cancelled, terminated) while its DAG
// run may still be going on in DataWorks. The id reuse policy alone lets any
// of those start again, as it would after a DAG that really failed.
func checkPrevious(ctx context.Context, c client.Client, id string) error {
	desc, err := c.DescribeWorkflow(ctx, id, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return nil
	case err != nil:
		return infraErr(fmt.Errorf("look up earlier runs of workflow %s: %w", id, err))
	}
	info := desc.RawResponse.GetWorkflowExecutionInfo()
	status := info.GetStatus()
	switch status {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED,
		enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return nil // the start itself is refused, and alreadyStarted explains it
	case enums.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return usageErr("the last run of workflow %s was terminated, so whether its DAG run exists or still runs in DataWorks is unknown: check DataWorks Operation Center > Manual Instances, then pass --allow-duplicate to trigger again", id)
	}
	runErr := c.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if errors.As(runErr, &appErr) && appErr.Type() == workflows.TriggerOutcomeUnknown {
		return &exitError{code: exitOutcomeUnknown, err: fmt.Errorf("the last run of workflow %s could not tell whether it triggered the DAG: %s; pass --allow-duplicate only once DataWorks shows no run", id, appErr.Message())}
	}
	r, ok := workflows.ReportFromError(runErr)
	if ok && r.DagID != 0 && (r.Outcome == workflows.OutcomeTimedOut || r.Outcome == workflows.OutcomeCanceled) {
		return usageErr("the last run of workflow %s ended %s while DAG %d may still be running in DataWorks: check it there, then pass --allow-duplicate to trigger another run", id, r.Outcome, r.DagID)
	}
	return nil
}
