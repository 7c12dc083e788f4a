package main

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// exitOutcomeUnknown: the trigger may or may not have started a DAG run.
// A pipeline must not simply retry on it; someone checks DataWorks first.
const exitOutcomeUnknown = 4

// checkPrevious refuses a start that could trigger a second DAG run for the
// same workflow id: the previous run ended without knowing whether it had
// triggered, or it ended (timed out, cancelled, terminated) while its DAG
// run may still be going on in DataWorks. The id reuse policy alone lets any
// of those start again, as it would after a DAG that really failed. The rule
// is the one a backfill applies to each bizdate (activities.Runs.LookUpRun).
func checkPrevious(ctx context.Context, c client.Client, namespace, id string) error {
	res, err := (&activities.Runs{Client: c, Namespace: namespace}).LookUpRun(ctx, activities.LookUpRunInput{WorkflowID: id})
	switch {
	case err != nil:
		return infraErr(fmt.Errorf("look up earlier runs of workflow %s: %w", id, err))
	case res.Refusal == "":
		return nil // a running or succeeded run is refused by the start itself, and alreadyStarted explains it
	case res.ErrorType == dag.ErrTriggerOutcomeUnknown || res.CreateMaySent:
		return &exitError{code: exitOutcomeUnknown, err: errors.New(res.Refusal)}
	}
	return usageErr("%s", res.Refusal)
}
