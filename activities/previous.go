package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// WorkflowLookup is what LookUpRun and FlowTimings need from a Temporal client;
// client.Client implements it.
type WorkflowLookup interface {
	DescribeWorkflow(ctx context.Context, workflowID, runID string) (*client.WorkflowExecutionDescription, error)
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
}

var _ WorkflowLookup = client.Client(nil)

// Runs looks up earlier workflow runs in Temporal, for BackfillManualDag
// (LookUpRun) and for RunManualDag's predictions (FlowTimings): a workflow
// cannot describe or list other workflows, an activity can. The worker
// registers it with its own client (worker.RegisterActivity(&Runs{...})).
type Runs struct {
	// Client is the worker's Temporal client. Required.
	Client WorkflowLookup
}

// Statuses of LookUpRunResult: the latest run's status, or RunNone.
const (
	RunNone           = ""
	RunRunning        = "RUNNING"
	RunCompleted      = "COMPLETED"
	RunFailed         = "FAILED"
	RunCanceled       = "CANCELED"
	RunTerminated     = "TERMINATED"
	RunContinuedAsNew = "CONTINUED_AS_NEW"
	RunTimedOut       = "TIMED_OUT"
)

// LookUpRunInput names the workflow id a RunManualDag would be started on.
type LookUpRunInput struct {
	WorkflowID string `json:"workflowId"`
}

// LookUpRunResult is the latest run of a workflow id, as far as deciding
// whether another may trigger the same DAG.
type LookUpRunResult struct {
	// Status is one of the Run… constants.
	Status string `json:"status,omitempty"`
	RunID  string `json:"runId,omitempty"`
	// Outcome, DagID and Message are read from the run's DagReport (its
	// result, or the details of its failure) when it has one.
	Outcome   string `json:"outcome,omitempty"`
	DagID     int64  `json:"dagId,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Message   string `json:"message,omitempty"`
	// Refusal, when set, says why no new run may be triggered for this id
	// without a person checking DataWorks first.
	Refusal string `json:"refusal,omitempty"`
}

// reportFields are the fields of workflows.DagReport the lookup reads
// (package workflows imports this one, not the other way round).
type reportFields struct {
	DagID   int64  `json:"dagId"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
}

// LookUpRun describes the latest run of a workflow id and says whether a new
// RunManualDag may be started on it. It applies the starter's rules
// (starter/previous.go): a run whose trigger outcome is unknown, one
// terminated, and one that timed out or was cancelled with a DAG that may
// still run in DataWorks all refuse a new trigger.
func (r *Runs) LookUpRun(ctx context.Context, in LookUpRunInput) (LookUpRunResult, error) {
	desc, err := r.Client.DescribeWorkflow(ctx, in.WorkflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return LookUpRunResult{}, nil
	case err != nil:
		return LookUpRunResult{}, fmt.Errorf("describe workflow %s: %w", in.WorkflowID, err)
	}
	info := desc.RawResponse.GetWorkflowExecutionInfo()
	res := LookUpRunResult{Status: runStatus(info.GetStatus()), RunID: info.GetExecution().GetRunId()}
	switch res.Status {
	case RunRunning, RunContinuedAsNew:
		return res, nil
	case RunTerminated:
		res.Refusal = fmt.Sprintf("the last run of workflow %s was terminated, so whether its DAG run exists or still runs in DataWorks is unknown: check DataWorks Operation Center > Manual Instances, then start this bizdate with `starter run --allow-duplicate`", in.WorkflowID)
		return res, nil
	}
	var rep reportFields
	runErr := r.Client.GetWorkflow(ctx, in.WorkflowID, res.RunID).Get(ctx, &rep)
	if res.Status == RunCompleted {
		if runErr != nil {
			return res, fmt.Errorf("read the result of workflow %s: %w", in.WorkflowID, runErr)
		}
		res.Outcome, res.DagID, res.Message = rep.Outcome, rep.DagID, rep.Message
		return res, nil
	}
	return judgeEnded(in.WorkflowID, res, runErr), nil
}

// judgeEnded reads the error a run ended with.
func judgeEnded(workflowID string, res LookUpRunResult, runErr error) LookUpRunResult {
	if runErr == nil {
		return res
	}
	res.Message = runErr.Error()
	var rep reportFields
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case errors.As(runErr, &appErr):
		res.ErrorType, res.Message = appErr.Type(), appErr.Message()
		if appErr.HasDetails() && appErr.Details(&rep) == nil {
			res.Outcome, res.DagID = rep.Outcome, rep.DagID
		}
	case errors.As(runErr, &canceled):
		if canceled.HasDetails() && canceled.Details(&rep) == nil {
			res.Outcome, res.DagID, res.Message = rep.Outcome, rep.DagID, rep.Message
		}
	}
	switch {
	case res.ErrorType == ErrTriggerOutcomeUnknown:
		res.Refusal = fmt.Sprintf("the last run of workflow %s could not tell whether it triggered the DAG (%s): once DataWorks shows no run, start this bizdate with `starter run --allow-duplicate`", workflowID, res.Message)
	case res.DagID != 0 && (res.Outcome == "TIMED_OUT" || res.Outcome == "CANCELED"):
		res.Refusal = fmt.Sprintf("the last run of workflow %s ended %s while DAG %d may still be running in DataWorks: check it there, then start this bizdate with `starter run --allow-duplicate`", workflowID, res.Outcome, res.DagID)
	}
	return res
}

func runStatus(s enums.WorkflowExecutionStatus) string {
	switch s {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return RunRunning
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return RunCompleted
	case enums.WORKFLOW_EXECUTION_STATUS_FAILED:
		return RunFailed
	case enums.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return RunCanceled
	case enums.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return RunTerminated
	case enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return RunContinuedAsNew
	case enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return RunTimedOut
	}
	return s.String()
}
