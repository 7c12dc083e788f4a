package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
)

// WorkflowLookup is what LookUpRun, GuardTrigger and FlowTimings need from a
// Temporal client; client.Client implements it.
type WorkflowLookup interface {
	DescribeWorkflow(ctx context.Context, workflowID, runID string) (*client.WorkflowExecutionDescription, error)
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
	GetWorkflowHistory(ctx context.Context, workflowID, runID string, isLongPoll bool, filterType enums.HistoryEventFilterType) client.HistoryEventIterator
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
}

// Runs looks up earlier workflow runs in Temporal, for BackfillManualDag
// (LookUpRun) and for RunManualDag's predictions (FlowTimings): a workflow
// cannot describe or list other workflows, an activity can. The worker
// registers it with its own client (worker.RegisterActivity(&Runs{...})).
type Runs struct {
	// Client is the worker's Temporal client. Required.
	Client WorkflowLookup
	// Namespace is the one to list runs in when a method is called outside
	// an activity (an activity lists in its own).
	Namespace string
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
	Outcome   dag.Outcome `json:"outcome,omitempty"`
	DagID     int64       `json:"dagId,omitempty"`
	ErrorType string      `json:"errorType,omitempty"`
	Message   string      `json:"message,omitempty"`
	// CreateMaySent: the run ended without a DAG id after its trigger was
	// scheduled, with no proof that it was not sent.
	CreateMaySent bool `json:"createMaySent,omitempty"`
	// Refusal, when set, says why no new run may be triggered for this id
	// without a person checking DataWorks first.
	Refusal string `json:"refusal,omitempty"`
}

// proofNotSent are the error types with which a run ends only when its
// trigger was provably never processed by DataWorks.
var proofNotSent = map[string]bool{dag.ErrNotTriggered: true, dag.ErrInvalidInput: true, dag.ErrPermanent: true, dag.ErrDuplicateRefused: true}

// LookUpRun describes the latest run of a workflow id and says whether a new
// RunManualDag may be started on it (Refusal): the one re-trigger rule of
// docs/design.md, which the starter, the backfill and RunManualDag itself
// (GuardTrigger) apply. A new trigger is refused while an earlier run may
// have a DAG run that is not over:
//
//   - its trigger's outcome is unknown (ErrTriggerOutcomeUnknown);
//   - it knows a DAG id, and its outcome is neither SUCCEEDED nor FAILED
//     (it timed out, was cancelled, or stopped watching with no verdict);
//   - it ended with no report (terminated, an execution timeout, an
//     unforeseen failure), or without a DAG id and with no proof that its
//     trigger was not sent, and its history shows a DAG id (a continued
//     run, a create that completed) or a create that was scheduled.
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
	if res.Status == RunRunning || res.Status == RunContinuedAsNew {
		return res, nil
	}
	if res, err = r.judgeRun(ctx, in.WorkflowID, res); err != nil || !sentNothing(res) {
		return res, err
	}
	// The latest run provably sent nothing (refused, not triggered, cancelled
	// before its trigger): it says nothing of the DAG an earlier run of the
	// id may have left, so the earlier runs decide.
	if unquotable(in.WorkflowID) {
		return res, fmt.Errorf("cannot look up the earlier runs of workflow %s: an id with a quote or a backslash cannot be queried", in.WorkflowID)
	}
	runs, err := r.listRuns(ctx, "WorkflowId = '"+in.WorkflowID+"'", in.WorkflowID)
	if err != nil {
		return res, err
	}
	return r.decisive(ctx, in.WorkflowID, runs[in.WorkflowID])
}

// namespace is the activity's namespace, or Namespace outside an activity
// (the starter calls LookUpRun itself).
func (r *Runs) namespace(ctx context.Context) string {
	if activity.IsActivity(ctx) {
		return activity.GetInfo(ctx).Namespace
	}
	return r.Namespace
}

// unquotable reports whether s cannot go between quotes in a visibility
// query.
func unquotable(s string) bool { return strings.ContainsAny(s, "'\"\\\n") }

// sentNothing reports whether a judged run provably triggered nothing: no
// refusal, no DAG id, no create that may have been sent, no success.
func sentNothing(res LookUpRunResult) bool {
	return res.Refusal == "" && res.DagID == 0 && !res.CreateMaySent && res.Outcome != dag.OutcomeSucceeded &&
		res.Status != RunRunning && res.Status != RunContinuedAsNew
}

// decisive judges the runs of one workflow id, newest first, and returns
// the first that is going on or may have triggered a DAG run; or the
// oldest, when every one provably sent nothing.
func (r *Runs) decisive(ctx context.Context, workflowID string, runs []*workflowpb.WorkflowExecutionInfo) (LookUpRunResult, error) {
	slices.SortFunc(runs, func(a, b *workflowpb.WorkflowExecutionInfo) int {
		return b.GetStartTime().AsTime().Compare(a.GetStartTime().AsTime())
	})
	var res LookUpRunResult
	for _, e := range runs {
		res = LookUpRunResult{Status: runStatus(e.GetStatus()), RunID: e.GetExecution().GetRunId()}
		if res.Status == RunRunning || res.Status == RunContinuedAsNew {
			return res, nil
		}
		var err error
		if res, err = r.judgeRun(ctx, workflowID, res); err != nil || !sentNothing(res) {
			return res, err
		}
	}
	return res, nil
}

// Bounds of the runs a look-up reads: the re-trigger rule cannot be applied
// to runs it has not read, so past them it refuses.
const (
	listPageSize = 100
	maxListPages = 10
)

// listRuns lists the executions a visibility query finds, by workflow id,
// every page up to the bound. A query the namespace cannot answer (search
// attributes not registered) is returned as the error, unwrapped.
func (r *Runs) listRuns(ctx context.Context, query, what string) (map[string][]*workflowpb.WorkflowExecutionInfo, error) {
	runs := map[string][]*workflowpb.WorkflowExecutionInfo{}
	var token []byte
	for page := 0; ; page++ {
		if page == maxListPages {
			return nil, fmt.Errorf("more than %d runs of %s to check: refusing rather than deciding on part of them", maxListPages*listPageSize, what)
		}
		resp, err := r.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: r.namespace(ctx), PageSize: listPageSize, Query: query, NextPageToken: token,
		})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			runs[id] = append(runs[id], e)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return runs, nil
		}
	}
}

// judgeRun reads how an ended run ended and applies the re-trigger rule.
func (r *Runs) judgeRun(ctx context.Context, workflowID string, res LookUpRunResult) (LookUpRunResult, error) {
	var rep dag.DagReport
	runErr := r.Client.GetWorkflow(ctx, workflowID, res.RunID).Get(ctx, &rep)
	hasReport := false
	if res.Status == RunCompleted {
		if runErr != nil {
			return res, fmt.Errorf("read the result of workflow %s: %w", workflowID, runErr)
		}
		res.Outcome, res.DagID, res.Message = rep.Outcome, rep.DagID, rep.Message
		hasReport = true
	} else {
		res, hasReport = readEnding(res, runErr)
	}
	if !hasReport || res.DagID == 0 && !proofNotSent[res.ErrorType] && res.ErrorType != dag.ErrTriggerOutcomeUnknown {
		tr, err := r.trace(ctx, workflowID, res.RunID)
		if err != nil {
			return res, fmt.Errorf("read the history of workflow %s: %w", workflowID, err)
		}
		if res.DagID == 0 {
			res.DagID = tr.dagID
		}
		res.CreateMaySent = tr.createScheduled && tr.dagID == 0
	}
	res.Refusal = refusal(workflowID, res)
	return res, nil
}

// readEnding reads the report a run that did not complete carries in its
// error's details, if any.
func readEnding(res LookUpRunResult, runErr error) (LookUpRunResult, bool) {
	if runErr == nil {
		return res, false
	}
	res.Message = runErr.Error()
	var rep dag.DagReport
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case errors.As(runErr, &appErr):
		res.ErrorType, res.Message = appErr.Type(), appErr.Message()
		if appErr.HasDetails() && appErr.Details(&rep) == nil {
			res.Outcome, res.DagID = rep.Outcome, rep.DagID
			return res, true
		}
	case errors.As(runErr, &canceled):
		if canceled.HasDetails() && canceled.Details(&rep) == nil {
			res.Outcome, res.DagID, res.Message = rep.Outcome, rep.DagID, rep.Message
			return res, true
		}
	}
	return res, false
}

// refusal is the re-trigger rule on a judged run: why no new trigger may be
// sent for its bizdate, or "".
func refusal(workflowID string, res LookUpRunResult) string {
	ended := string(res.Outcome)
	if ended == "" {
		ended = res.Status
	}
	switch {
	case res.ErrorType == dag.ErrTriggerOutcomeUnknown:
		return fmt.Sprintf("the last run of workflow %s could not tell whether it triggered the DAG (%s). Check DataWorks Operation Center > Manual Instances: "+
			"if a DAG run of this bizdate exists, follow it with `starter run --dag-id ID`; if none does, start this bizdate with `starter run --allow-duplicate`", workflowID, res.Message)
	case res.DagID != 0 && res.Outcome != dag.OutcomeSucceeded && res.Outcome != dag.OutcomeFailed:
		return fmt.Sprintf("the last run of workflow %s ended %s while DAG %d may still be running in DataWorks. "+
			"Follow that DAG run to its verdict with `starter run --dag-id %d`, or check it in Operation Center and then start this bizdate anew with `starter run --allow-duplicate`",
			workflowID, ended, res.DagID, res.DagID)
	case res.CreateMaySent:
		return fmt.Sprintf("the last run of workflow %s ended %s after its trigger may have been sent, and no DAG id was recorded. Check DataWorks Operation Center > Manual Instances: "+
			"if a DAG run of this bizdate exists, follow it with `starter run --dag-id ID`; if none does, start this bizdate with `starter run --allow-duplicate`", workflowID, ended)
	}
	return ""
}

// trail is what a run's history says of its trigger.
type trail struct {
	dagID           int64 // from a continued run's input, a dagId to follow, or a completed create
	createScheduled bool
}

// trace reads a run's history for its trigger: the first event's input and
// the CreateManualDag activity's events.
func (r *Runs) trace(ctx context.Context, workflowID, runID string) (trail, error) {
	var tr trail
	dc := converter.GetDefaultDataConverter()
	creates := map[int64]bool{}
	it := r.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return tr, err
		}
		switch {
		case ev.GetWorkflowExecutionStartedEventAttributes() != nil:
			var in struct {
				DagID     int64 `json:"dagId"`
				Continued *struct {
					DagID int64 `json:"dagId"`
				} `json:"continued"`
			}
			if p := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads(); len(p) > 0 && dc.FromPayload(p[0], &in) == nil {
				tr.dagID = in.DagID
				if in.Continued != nil && in.Continued.DagID != 0 {
					tr.dagID = in.Continued.DagID
				}
			}
		case ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == CreateActivityName:
			tr.createScheduled = true
			creates[ev.GetEventId()] = true
		case creates[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]:
			var out CreateManualDagResult
			if p := ev.GetActivityTaskCompletedEventAttributes().GetResult().GetPayloads(); len(p) > 0 && dc.FromPayload(p[0], &out) == nil && out.DagID > 0 {
				tr.dagID = out.DagID
			}
		}
	}
	return tr, nil
}

// GuardTriggerInput names the run about to trigger, and its bizdate.
type GuardTriggerInput struct {
	// WorkflowID and RunID are the asking run's own.
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	// BizdateWorkflowID is the bizdate's usual workflow id (the starter's
	// and the backfill's, workflows.BizdateWorkflowID).
	BizdateWorkflowID string `json:"bizdateWorkflowId"`
	ProjectName       string `json:"projectName"`
	FlowName          string `json:"flowName"`
	Bizdate           string `json:"bizdate"` // yyyy-MM-dd, as the DataWorksBizdate search attribute holds it
	WorkflowType      string `json:"workflowType"`
}

// GuardTriggerResult says whether the run may trigger. Refusal is empty when
// it may; ErrorType is ErrTriggerOutcomeUnknown when an earlier trigger's
// outcome is unknown.
type GuardTriggerResult struct {
	Refusal   string `json:"refusal,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	// Note says what could not be checked (search attributes missing).
	Note string `json:"note,omitempty"`
}

// GuardTrigger applies the re-trigger rule inside RunManualDag, so that no
// path starts a second DAG run for a bizdate: not a Temporal Schedule (whose
// runs have ids of their own), not `temporal workflow start` with any id.
// It refuses when another run of the same project, flow and bizdate is going
// on, has succeeded, or may have a DAG run that is not over: the bizdate's
// usual workflow id is looked up directly, and any other run through the
// search attributes DataWorksProject, DataWorksFlow and DataWorksBizdate
// (without them, only the usual id is checked, and Note says so). A DAG run
// that some run brought to a verdict (a run that followed it with dagId)
// refuses nothing any more.
func (r *Runs) GuardTrigger(ctx context.Context, in GuardTriggerInput) (GuardTriggerResult, error) {
	var judged []judgedRun
	if in.WorkflowID != in.BizdateWorkflowID {
		prev, err := r.LookUpRun(ctx, LookUpRunInput{WorkflowID: in.BizdateWorkflowID})
		if err != nil {
			return GuardTriggerResult{}, err
		}
		judged = append(judged, judgedRun{in.BizdateWorkflowID, prev})
	}
	others, note, err := r.otherRuns(ctx, in)
	if err != nil {
		return GuardTriggerResult{}, err
	}
	judged = append(judged, others...)
	settled := map[int64]bool{}
	for _, j := range judged {
		if j.res.DagID != 0 && (j.res.Outcome == dag.OutcomeSucceeded || j.res.Outcome == dag.OutcomeFailed) {
			settled[j.res.DagID] = true
		}
	}
	for _, j := range judged {
		if j.res.Refusal != "" && settled[j.res.DagID] && j.res.ErrorType != dag.ErrTriggerOutcomeUnknown && !j.res.CreateMaySent {
			continue // its DAG run reached a verdict in another run
		}
		if res, refused := guardVerdict(j.id, j.res); refused {
			return res, nil
		}
	}
	return GuardTriggerResult{Note: note}, nil
}

// judgedRun is the decisive run of one workflow id.
type judgedRun struct {
	id  string
	res LookUpRunResult
}

// otherRuns finds the runs of the bizdate under other workflow ids (and the
// earlier runs of the asking run's own id) through the search attributes,
// and judges the decisive run of each id.
func (r *Runs) otherRuns(ctx context.Context, in GuardTriggerInput) ([]judgedRun, string, error) {
	for _, s := range []string{in.ProjectName, in.FlowName, in.Bizdate, in.WorkflowType} {
		if unquotable(s) {
			return nil, fmt.Sprintf("only workflow %s was checked for earlier runs of this bizdate: a name with quotes or backslashes cannot be queried (%q)", in.BizdateWorkflowID, s), nil
		}
	}
	query := fmt.Sprintf("WorkflowType = '%s' AND DataWorksProject = '%s' AND DataWorksFlow = '%s' AND DataWorksBizdate = '%s'",
		in.WorkflowType, in.ProjectName, in.FlowName, in.Bizdate)
	runs, err := r.listRuns(ctx, query, fmt.Sprintf("%s/%s bizdate %s", in.ProjectName, in.FlowName, in.Bizdate))
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &invalid):
		return nil, "only workflow " + in.BizdateWorkflowID + " was checked for earlier runs of this bizdate: register the search attributes DataWorksProject, DataWorksFlow and DataWorksBizdate (deployments/temporal/search-attributes.sh) to check runs of other ids: " + err.Error(), nil
	case err != nil:
		return nil, "", err
	}
	var judged []judgedRun
	for _, id := range slices.Sorted(maps.Keys(runs)) {
		if id == in.BizdateWorkflowID && in.WorkflowID != in.BizdateWorkflowID {
			continue // looked up directly
		}
		list := slices.DeleteFunc(runs[id], func(e *workflowpb.WorkflowExecutionInfo) bool {
			return id == in.WorkflowID && e.GetExecution().GetRunId() == in.RunID
		})
		if len(list) == 0 {
			continue
		}
		res, err := r.decisive(ctx, id, list)
		if err != nil {
			return nil, "", err
		}
		judged = append(judged, judgedRun{id, res})
	}
	return judged, "", nil
}

// guardVerdict refuses a trigger after prev, the latest run of workflowID, if
// it is going on, succeeded, or is refused by the re-trigger rule.
func guardVerdict(workflowID string, prev LookUpRunResult) (GuardTriggerResult, bool) {
	switch {
	case prev.Refusal != "":
		res := GuardTriggerResult{Refusal: prev.Refusal}
		if prev.ErrorType == dag.ErrTriggerOutcomeUnknown || prev.CreateMaySent {
			res.ErrorType = dag.ErrTriggerOutcomeUnknown
		}
		return res, true
	case prev.Status == RunRunning || prev.Status == RunContinuedAsNew:
		return GuardTriggerResult{Refusal: fmt.Sprintf("a run of this bizdate is going on in workflow %s: follow it there (`starter status %s`) instead of triggering a second DAG run", workflowID, workflowID)}, true
	case prev.Outcome == dag.OutcomeSucceeded:
		return GuardTriggerResult{Refusal: fmt.Sprintf("this bizdate already succeeded in workflow %s (DataWorks DAG %d); start it with allowDuplicate (`starter run --allow-duplicate`) to run it again", workflowID, prev.DagID)}, true
	}
	return GuardTriggerResult{}, false
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
