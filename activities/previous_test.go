package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/manualdag/manualdag/dag"
)

// asStored turns an error into what a client reads back from the server:
// a failure whose details are payloads.
func asStored(err error) error {
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(fc.ErrorToFailure(err))
}

// fakeRun is one ended (or running) workflow run in fakeTemporal.
type fakeRun struct {
	id, runID string
	status    enums.WorkflowExecutionStatus
	result    any   // a completed run's report
	err       error // a failed run's error, as stored
	history   []*historypb.HistoryEvent
}

// fakeTemporal is a WorkflowLookup over a few runs: the latest run of an
// id is the last one listed.
type fakeTemporal struct {
	runs    []fakeRun
	listErr error
	queries []string
}

func (f *fakeTemporal) latest(id string) (fakeRun, bool) {
	for i := len(f.runs) - 1; i >= 0; i-- {
		if f.runs[i].id == id {
			return f.runs[i], true
		}
	}
	return fakeRun{}, false
}

func (f *fakeTemporal) find(id, runID string) fakeRun {
	for _, r := range f.runs {
		if r.id == id && r.runID == runID {
			return r
		}
	}
	panic("no run " + id + " " + runID)
}

func (f *fakeTemporal) DescribeWorkflow(_ context.Context, id, _ string) (*client.WorkflowExecutionDescription, error) {
	r, ok := f.latest(id)
	if !ok {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	return &client.WorkflowExecutionDescription{RawResponse: &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: f.info(r)}}, nil
}

// info is a run's visibility record; runs start in the order listed.
func (f *fakeTemporal) info(r fakeRun) *workflowpb.WorkflowExecutionInfo {
	start := time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)
	for i, x := range f.runs {
		if x.id == r.id && x.runID == r.runID {
			start = start.Add(time.Duration(i) * time.Minute)
		}
	}
	return &workflowpb.WorkflowExecutionInfo{Status: r.status, StartTime: timestamppb.New(start),
		Execution: &commonpb.WorkflowExecution{WorkflowId: r.id, RunId: r.runID}}
}

func (f *fakeTemporal) GetWorkflow(_ context.Context, id, runID string) client.WorkflowRun {
	return fakeWorkflowRun{f.find(id, runID)}
}

func (f *fakeTemporal) GetWorkflowHistory(_ context.Context, id, runID string, _ bool, _ enums.HistoryEventFilterType) client.HistoryEventIterator {
	return &fakeHistory{events: f.find(id, runID).history}
}

func (f *fakeTemporal) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.queries = append(f.queries, req.GetQuery())
	if f.listErr != nil {
		return nil, f.listErr
	}
	// A WorkflowId query finds that id's runs; any other, every run. Pages
	// of PageSize, newest first, as visibility lists them.
	var all []*workflowpb.WorkflowExecutionInfo
	for i := len(f.runs) - 1; i >= 0; i-- {
		r := f.runs[i]
		if id, ok := strings.CutPrefix(req.GetQuery(), "WorkflowId = '"); ok && strings.TrimSuffix(id, "'") != r.id {
			continue
		}
		all = append(all, f.info(r))
	}
	from := 0
	if t := req.GetNextPageToken(); len(t) > 0 {
		from, _ = strconv.Atoi(string(t))
	}
	to := min(from+int(req.GetPageSize()), len(all))
	resp := &workflowservice.ListWorkflowExecutionsResponse{Executions: all[from:to]}
	if to < len(all) {
		resp.NextPageToken = []byte(strconv.Itoa(to))
	}
	return resp, nil
}

type fakeWorkflowRun struct{ r fakeRun }

func (w fakeWorkflowRun) GetID() string                  { return w.r.id }
func (w fakeWorkflowRun) GetRunID() string               { return w.r.runID }
func (w fakeWorkflowRun) GetFirstExecutionRunID() string { return w.r.runID }
func (w fakeWorkflowRun) Get(_ context.Context, v any) error {
	if w.r.err != nil {
		return w.r.err
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(w.r.result)
	if err != nil {
		return err
	}
	return converter.GetDefaultDataConverter().FromPayload(p, v)
}
func (w fakeWorkflowRun) GetWithOptions(ctx context.Context, v any, _ client.WorkflowRunGetOptions) error {
	return w.Get(ctx, v)
}

type fakeHistory struct {
	events []*historypb.HistoryEvent
	i      int
}

func (h *fakeHistory) HasNext() bool { return h.i < len(h.events) }
func (h *fakeHistory) Next() (*historypb.HistoryEvent, error) {
	h.i++
	return h.events[h.i-1], nil
}

// Histories: a start with input, a create scheduled, and its completion.
func started(t *testing.T, input any) *historypb.HistoryEvent {
	p, err := converter.GetDefaultDataConverter().ToPayloads(input)
	require.NoError(t, err)
	return &historypb.HistoryEvent{EventId: 1, Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
		WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{Input: p}}}
}

func createScheduled(id int64) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: id, Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
		ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{ActivityType: &commonpb.ActivityType{Name: CreateActivityName}}}}
}

func createCompleted(t *testing.T, scheduled, dagID int64) *historypb.HistoryEvent {
	p, err := converter.GetDefaultDataConverter().ToPayloads(CreateManualDagResult{DagID: dagID})
	require.NoError(t, err)
	return &historypb.HistoryEvent{EventId: scheduled + 2, Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
		ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: scheduled, Result: p}}}
}

// TestRetriggerRule is the one re-trigger rule (issue 12, item 2): a new
// trigger is refused whenever an earlier run may have a DAG run that is not
// over.
func TestRetriggerRule(t *testing.T) {
	const id = "manualdag/p/f/2024-06-01"
	input := map[string]any{"projectName": "p", "flowName": "f", "bizdate": "2024-06-01"}
	report := func(outcome dag.Outcome, dagID int64) dag.DagReport {
		return dag.DagReport{DagID: dagID, Outcome: outcome, Message: "the report's message"}
	}
	failed := enums.WORKFLOW_EXECUTION_STATUS_FAILED
	for name, tc := range map[string]struct {
		run      fakeRun
		refused  string // "" = a new trigger is allowed
		unknown  bool   // the starter exits 4
		wantDag  int64
		wantType string
	}{
		"trigger outcome unknown": {
			run:     fakeRun{status: failed, err: temporal.NewNonRetryableApplicationError("may or may not have started", dag.ErrTriggerOutcomeUnknown, nil, report("FAILED", 0))},
			refused: "could not tell whether it triggered", unknown: true, wantType: dag.ErrTriggerOutcomeUnknown,
		},
		"timed out with a DAG": {
			run:     fakeRun{status: failed, err: temporal.NewNonRetryableApplicationError("timed out", dag.ErrDagTimedOut, nil, report("TIMED_OUT", 42))},
			refused: "ended TIMED_OUT while DAG 42 may still be running", wantDag: 42, wantType: dag.ErrDagTimedOut,
		},
		"cancelled with a DAG": {
			run:     fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_CANCELED, err: temporal.NewCanceledError(report("CANCELED", 43))},
			refused: "ended CANCELED while DAG 43", wantDag: 43,
		},
		"stopped watching with no verdict": {
			run:     fakeRun{status: failed, err: temporal.NewNonRetryableApplicationError("stopped watching", dag.ErrWatchLost, nil, report("RUNNING", 45))},
			refused: "ended RUNNING while DAG 45 may still be running", wantDag: 45, wantType: dag.ErrWatchLost,
		},
		"a permanent search error with a DAG": {
			run:     fakeRun{status: failed, err: temporal.NewNonRetryableApplicationError("Forbidden.Access", dag.ErrPermanent, nil, report("RUNNING", 46))},
			refused: "--dag-id 46", wantDag: 46, wantType: dag.ErrPermanent,
		},
		"completed TIMED_OUT (failOnDagFailure false)": {
			run:     fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, result: report("TIMED_OUT", 47)},
			refused: "ended TIMED_OUT while DAG 47", wantDag: 47,
		},
		"cancelled before the create was scheduled": {
			run: fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_CANCELED, err: temporal.NewCanceledError(report("CANCELED", 0)),
				history: []*historypb.HistoryEvent{started(t, input)}},
		},
		"cancelled after the create was scheduled, no DAG id": {
			run: fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_CANCELED, err: temporal.NewCanceledError(report("CANCELED", 0)),
				history: []*historypb.HistoryEvent{started(t, input), createScheduled(5)}},
			refused: "after its trigger may have been sent", unknown: true,
		},
		"terminated while triggering": {
			run:     fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_TERMINATED, err: errors.New("terminated"), history: []*historypb.HistoryEvent{started(t, input), createScheduled(5)}},
			refused: "after its trigger may have been sent", unknown: true,
		},
		"terminated after the trigger": {
			run: fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_TERMINATED, err: errors.New("terminated"),
				history: []*historypb.HistoryEvent{started(t, input), createScheduled(5), createCompleted(t, 5, 48)}},
			refused: "ended TERMINATED while DAG 48 may still be running", wantDag: 48,
		},
		"terminated in a continued run": {
			run: fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_TERMINATED, err: errors.New("terminated"),
				history: []*historypb.HistoryEvent{started(t, map[string]any{"projectName": "p", "continued": map[string]any{"dagId": 49}})}},
			refused: "DAG 49", wantDag: 49,
		},
		"execution timeout before the create": {
			run: fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, err: errors.New("timeout"), history: []*historypb.HistoryEvent{started(t, input)}},
		},
		"failed DAG": {
			run:     fakeRun{status: failed, err: temporal.NewNonRetryableApplicationError("failed", dag.ErrDagFailed, nil, report("FAILED", 44))},
			wantDag: 44, wantType: dag.ErrDagFailed,
		},
		"not triggered": {
			run:      fakeRun{status: failed, err: temporal.NewNonRetryableApplicationError("not triggered", dag.ErrNotTriggered, nil, report("FAILED", 0))},
			wantType: dag.ErrNotTriggered,
		},
		"succeeded": {
			run:     fakeRun{status: enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, result: report("SUCCEEDED", 50)},
			wantDag: 50,
		},
	} {
		t.Run(name, func(t *testing.T) {
			tc.run.id, tc.run.runID = id, "run-1"
			if tc.run.err != nil {
				tc.run.err = asStored(tc.run.err)
			}
			res, err := (&Runs{Client: &fakeTemporal{runs: []fakeRun{tc.run}}}).LookUpRun(context.Background(), LookUpRunInput{WorkflowID: id})
			require.NoError(t, err)
			if tc.refused == "" {
				assert.Empty(t, res.Refusal)
			} else {
				assert.Contains(t, res.Refusal, tc.refused)
				assert.Contains(t, res.Refusal, "--allow-duplicate")
			}
			assert.Equal(t, tc.unknown, res.ErrorType == dag.ErrTriggerOutcomeUnknown || res.CreateMaySent, "outcome unknown")
			assert.Equal(t, tc.wantDag, res.DagID)
			assert.Equal(t, tc.wantType, res.ErrorType)
		})
	}
}

// TestGuardTrigger: a run of another id (a schedule's) refuses to trigger
// while the bizdate's usual id has a run going on, succeeded, or may have a
// DAG run; and any other run of the bizdate found by search attributes
// counts the same.
func TestGuardTrigger(t *testing.T) {
	const usual = "manualdag/p/f/2024-06-01"
	in := GuardTriggerInput{WorkflowID: "daily-2024-06-01T18:00:00Z", RunID: "me", BizdateWorkflowID: usual,
		ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", WorkflowType: "RunManualDag"}
	me := fakeRun{id: in.WorkflowID, runID: "me", status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING}
	succeeded := dag.DagReport{DagID: 7, Outcome: dag.OutcomeSucceeded}
	for name, tc := range map[string]struct {
		runs    []fakeRun
		listErr error
		refused string
		unknown bool
		note    string
	}{
		"alone":              {runs: []fakeRun{me}},
		"usual id running":   {runs: []fakeRun{{id: usual, runID: "a", status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING}, me}, refused: "going on in workflow " + usual},
		"usual id succeeded": {runs: []fakeRun{{id: usual, runID: "a", status: enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, result: succeeded}, me}, refused: "already succeeded"},
		"another id running": {runs: []fakeRun{{id: "other", runID: "b", status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING}, me}, refused: "going on in workflow other"},
		"another id unknown": {runs: []fakeRun{{id: "other", runID: "b", status: enums.WORKFLOW_EXECUTION_STATUS_FAILED,
			err: asStored(temporal.NewNonRetryableApplicationError("unknown", dag.ErrTriggerOutcomeUnknown, nil, dag.DagReport{Outcome: dag.OutcomeFailed}))}, me}, refused: "could not tell", unknown: true},
		"another id failed, then the same id running again": {runs: []fakeRun{
			{id: "other", runID: "b", status: enums.WORKFLOW_EXECUTION_STATUS_FAILED, err: asStored(temporal.NewNonRetryableApplicationError("failed", dag.ErrDagFailed, nil, dag.DagReport{DagID: 3, Outcome: dag.OutcomeFailed}))}, me}},
		"no search attributes": {runs: []fakeRun{me}, listErr: serviceerror.NewInvalidArgument("DataWorksBizdate is not a search attribute"), note: "only workflow " + usual},
	} {
		t.Run(name, func(t *testing.T) {
			res := runGuard(t, &fakeTemporal{runs: tc.runs, listErr: tc.listErr}, in)
			if tc.refused == "" {
				assert.Empty(t, res.Refusal)
			} else {
				assert.Contains(t, res.Refusal, tc.refused)
			}
			assert.Equal(t, tc.unknown, res.ErrorType == dag.ErrTriggerOutcomeUnknown)
			if tc.note != "" {
				assert.Contains(t, res.Note, tc.note)
			}
		})
	}
}

// Review finding 1: a later run that provably sent nothing (refused, not
// triggered) does not hide the earlier run of the same id that left a DAG.
func TestRetriggerRuleLooksPastRunsThatSentNothing(t *testing.T) {
	const id = "manualdag/p/f/2024-06-01"
	refused := asStored(temporal.NewNonRetryableApplicationError("not triggered: going on", dag.ErrDuplicateRefused, nil,
		dag.DagReport{Outcome: dag.OutcomeRefused}))
	timedOut := asStored(temporal.NewNonRetryableApplicationError("timed out", dag.ErrDagTimedOut, nil,
		dag.DagReport{DagID: 42, Outcome: dag.OutcomeTimedOut}))
	fake := &fakeTemporal{runs: []fakeRun{
		{id: id, runID: "r1", status: enums.WORKFLOW_EXECUTION_STATUS_FAILED, err: timedOut},
		{id: id, runID: "r2", status: enums.WORKFLOW_EXECUTION_STATUS_FAILED, err: refused},
		{id: id, runID: "r3", status: enums.WORKFLOW_EXECUTION_STATUS_FAILED, err: refused},
	}}
	res, err := (&Runs{Client: fake}).LookUpRun(context.Background(), LookUpRunInput{WorkflowID: id})
	require.NoError(t, err)
	assert.Contains(t, res.Refusal, "DAG 42 may still be running")
	assert.Equal(t, "r1", res.RunID)
}

// Review finding 2: the guard reads every page of the bizdate's runs, so a
// success behind more than a page of refused runs still refuses.
func TestGuardTriggerReadsEveryPage(t *testing.T) {
	const usual = "manualdag/p/f/2024-06-01"
	in := GuardTriggerInput{WorkflowID: "cron-2024-06-02T00:00:00Z", RunID: "me", BizdateWorkflowID: usual,
		ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", WorkflowType: "RunManualDag"}
	refused := asStored(temporal.NewNonRetryableApplicationError("not triggered", dag.ErrDuplicateRefused, nil, dag.DagReport{Outcome: dag.OutcomeRefused}))
	runs := []fakeRun{{id: "manual-once", runID: "a", status: enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, result: dag.DagReport{DagID: 7, Outcome: dag.OutcomeSucceeded}}}
	for i := range 2*listPageSize + 5 {
		runs = append(runs, fakeRun{id: fmt.Sprintf("cron-%03d", i), runID: "x", status: enums.WORKFLOW_EXECUTION_STATUS_FAILED, err: refused,
			history: []*historypb.HistoryEvent{started(t, map[string]any{"projectName": "p"})}})
	}
	runs = append(runs, fakeRun{id: in.WorkflowID, runID: "me", status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING})
	assert.Contains(t, runGuard(t, &fakeTemporal{runs: runs}, in).Refusal, "already succeeded in workflow manual-once")
}

// Review finding 6: once a run followed a DAG to its verdict (dagId), the
// run of another id that left that DAG behind refuses nothing any more.
func TestGuardTriggerForgetsADagThatReachedAVerdict(t *testing.T) {
	const usual = "manualdag/p/f/2024-06-01"
	in := GuardTriggerInput{WorkflowID: usual, RunID: "me", BizdateWorkflowID: usual,
		ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", WorkflowType: "RunManualDag"}
	timedOut := asStored(temporal.NewNonRetryableApplicationError("timed out", dag.ErrDagTimedOut, nil, dag.DagReport{DagID: 42, Outcome: dag.OutcomeTimedOut}))
	followed := asStored(temporal.NewNonRetryableApplicationError("failed", dag.ErrDagFailed, nil, dag.DagReport{DagID: 42, Outcome: dag.OutcomeFailed}))
	runs := []fakeRun{
		{id: "daily-2024-06-02T00:00:00Z", runID: "s", status: enums.WORKFLOW_EXECUTION_STATUS_FAILED, err: timedOut},
		{id: usual, runID: "f", status: enums.WORKFLOW_EXECUTION_STATUS_FAILED, err: followed},
		{id: usual, runID: "me", status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING},
	}
	guard := func(runs []fakeRun) GuardTriggerResult { return runGuard(t, &fakeTemporal{runs: runs}, in) }
	assert.Empty(t, guard(runs).Refusal, "DAG 42 failed, as the follow run saw")
	// Without the follow, the schedule's run still refuses.
	assert.Contains(t, guard([]fakeRun{runs[0], runs[2]}).Refusal, "DAG 42 may still be running")
}

// runGuard runs the GuardTrigger activity against a fake Temporal.
func runGuard(t *testing.T, fake *fakeTemporal, in GuardTriggerInput) GuardTriggerResult {
	t.Helper()
	env := newActivityEnvWith(t, &Activities{})
	env.RegisterActivity(&Runs{Client: fake})
	v, err := env.ExecuteActivity((&Runs{}).GuardTrigger, in)
	require.NoError(t, err)
	var res GuardTriggerResult
	require.NoError(t, v.Get(&res))
	return res
}
