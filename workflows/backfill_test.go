package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// backfillTest runs BackfillManualDag on the mock clock with RunManualDag
// and the look-up of earlier runs mocked.
type backfillTest struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu sync.Mutex
	// previous answers LookUpRun by workflow id (default: no earlier run).
	previous map[string]activities.LookUpRunResult
	// child answers one bizdate's RunManualDag (default: SUCCEEDED); it
	// runs as workflow code, so it may sleep on the mock clock.
	child        func(ctx workflow.Context, in RunManualDagInput) (dag.DagReport, error)
	started      []string
	running, max int
}

func newBackfillTest(t *testing.T) *backfillTest {
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	bt := &backfillTest{t: t, env: ts.NewTestWorkflowEnvironment(), previous: map[string]activities.LookUpRunResult{}}
	bt.env.SetStartTime(time.Date(2024, 7, 1, 9, 0, 0, 0, time.UTC))
	bt.env.RegisterWorkflowWithOptions(BackfillManualDag, workflow.RegisterOptions{Name: BackfillWorkflowName})
	var runs *activities.Runs
	bt.env.RegisterActivity(runs)
	bt.env.OnActivity(runs.LookUpRun, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.LookUpRunInput) (activities.LookUpRunResult, error) {
			bt.mu.Lock()
			defer bt.mu.Unlock()
			return bt.previous[in.WorkflowID], nil
		}).Maybe()
	bt.env.OnWorkflow(RunManualDag, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in RunManualDagInput) (dag.DagReport, error) {
			bt.mu.Lock()
			bt.started = append(bt.started, in.Bizdate)
			bt.running++
			bt.max = max(bt.max, bt.running)
			child := bt.child
			bt.mu.Unlock()
			defer func() {
				bt.mu.Lock()
				bt.running--
				bt.mu.Unlock()
			}()
			if child != nil {
				return child(ctx, in)
			}
			if err := workflow.Sleep(ctx, time.Hour); err != nil {
				return dag.DagReport{}, err
			}
			return dag.DagReport{ProjectName: in.ProjectName, FlowName: in.FlowName, Bizdate: in.Bizdate, Outcome: dag.OutcomeSucceeded, DagID: 1000, Message: "ok"}, nil
		}).Maybe()
	return bt
}

func backfillInput(from, to string, parallel int) BackfillManualDagInput {
	return BackfillManualDagInput{Run: RunManualDagInput{ProjectName: "demo_project", FlowName: "daily_sales"}, From: from, To: to, Parallel: parallel}
}

func (bt *backfillTest) run(in BackfillManualDagInput) (BackfillReport, error) {
	bt.env.ExecuteWorkflow(BackfillWorkflowName, in)
	require.True(bt.t, bt.env.IsWorkflowCompleted())
	var rep BackfillReport
	err := bt.env.GetWorkflowError()
	if err == nil {
		require.NoError(bt.t, bt.env.GetWorkflowResult(&rep))
	}
	return rep, err
}

func outcomes(rep BackfillReport) map[string]dag.Outcome {
	m := map[string]dag.Outcome{}
	for _, r := range rep.Results {
		m[r.Bizdate] = r.Outcome
	}
	return m
}

// Ten bizdates, three at a time: never more than three children at once,
// and the whole takes four rounds of the children's hour.
func TestBackfillBoundsParallelism(t *testing.T) {
	bt := newBackfillTest(t)
	start := bt.env.Now()
	rep, err := bt.run(backfillInput("2024-06-01", "2024-06-10", 3))
	require.NoError(t, err)
	assert.Equal(t, 3, bt.max, "children at once")
	assert.Len(t, bt.started, 10)
	assert.Equal(t, map[dag.Outcome]int{dag.OutcomeSucceeded: 10}, rep.Counts)
	assert.True(t, rep.OK())
	assert.Equal(t, "2024-06-01", rep.Results[0].Bizdate)
	assert.Equal(t, "2024-06-10", rep.Results[9].Bizdate)
	assert.Equal(t, "manualdag/demo_project/daily_sales/2024-06-05", rep.Results[4].WorkflowID)
	assert.Equal(t, "backfill demo_project/daily_sales 2024-06-01..2024-06-10: 10 bizdates, 10 succeeded", rep.Message)
	elapsed := bt.env.Now().Sub(start)
	assert.GreaterOrEqual(t, elapsed, 4*time.Hour)
	assert.Less(t, elapsed, 5*time.Hour)
}

func TestBackfillDefaultParallelism(t *testing.T) {
	bt := newBackfillTest(t)
	_, err := bt.run(backfillInput("2024-06-01", "2024-06-07", 0))
	require.NoError(t, err)
	assert.Equal(t, DefaultBackfillParallel, bt.max)
}

// A rerun of a backfill skips the bizdates whose workflow id already
// succeeded or runs, and refuses those whose earlier run may have left a
// DAG run behind; it starts only the rest.
func TestBackfillSkipsSucceededAndRefusesUnknown(t *testing.T) {
	bt := newBackfillTest(t)
	bt.previous[BizdateWorkflowID("demo_project", "daily_sales", "2024-06-01")] = activities.LookUpRunResult{
		Status: activities.RunCompleted, Outcome: dag.OutcomeSucceeded, DagID: 7001}
	bt.previous[BizdateWorkflowID("demo_project", "daily_sales", "2024-06-02")] = activities.LookUpRunResult{
		Status: activities.RunRunning}
	bt.previous[BizdateWorkflowID("demo_project", "daily_sales", "2024-06-03")] = activities.LookUpRunResult{
		Status: activities.RunFailed, ErrorType: dag.ErrTriggerOutcomeUnknown, Refusal: "the last run could not tell whether it triggered the DAG"}
	bt.previous[BizdateWorkflowID("demo_project", "daily_sales", "2024-06-04")] = activities.LookUpRunResult{
		Status: activities.RunFailed, ErrorType: dag.ErrDagFailed, Outcome: dag.OutcomeFailed, DagID: 7004}

	rep, err := bt.run(backfillInput("2024-06-01", "2024-06-05", 3))
	require.NoError(t, err)
	assert.Equal(t, map[string]dag.Outcome{
		"2024-06-01": dag.OutcomeSkipped, "2024-06-02": dag.OutcomeSkipped, "2024-06-03": dag.OutcomeRefused,
		"2024-06-04": dag.OutcomeSucceeded, "2024-06-05": dag.OutcomeSucceeded,
	}, outcomes(rep))
	assert.ElementsMatch(t, []string{"2024-06-04", "2024-06-05"}, bt.started, "only the failed and the new bizdate run")
	assert.Equal(t, "already succeeded (DataWorks DAG 7001)", rep.Results[0].Message)
	assert.Equal(t, int64(7001), rep.Results[0].DagID)
	assert.Contains(t, rep.Results[2].Message, "could not tell")
	assert.Equal(t, dag.ErrTriggerOutcomeUnknown, rep.Results[2].ErrorType)
	assert.False(t, rep.OK())
	assert.Equal(t, "backfill demo_project/daily_sales 2024-06-01..2024-06-05: 5 bizdates, 2 succeeded, 2 skipped, 1 refused (2024-06-03)", rep.Message)
}

// A bizdate whose DAG fails is summarised with its DAG id, failed nodes and
// message; the others go on and the backfill completes.
func TestBackfillSummarisesFailures(t *testing.T) {
	bt := newBackfillTest(t)
	bt.child = func(ctx workflow.Context, in RunManualDagInput) (dag.DagReport, error) {
		_ = workflow.Sleep(ctx, 30*time.Minute)
		rep := dag.DagReport{ProjectName: in.ProjectName, FlowName: in.FlowName, Bizdate: in.Bizdate, DagID: 2000, Outcome: dag.OutcomeSucceeded, Message: "ok"}
		switch in.Bizdate {
		case "2024-06-02":
			rep.Outcome, rep.FailedNodes = dag.OutcomeFailed, []string{"dwd_orders_merge"}
			rep.Message = "DataWorks DAG 2000 (demo_project/daily_sales, bizdate 2024-06-02) failed: 1 of 7 nodes failed (dwd_orders_merge)"
			return rep, temporal.NewNonRetryableApplicationError(rep.Message, dag.ErrDagFailed, nil, rep)
		case "2024-06-03":
			return dag.DagReport{}, temporal.NewNonRetryableApplicationError("invalid input: bad", dag.ErrInvalidInput, nil)
		}
		return rep, nil
	}
	rep, err := bt.run(backfillInput("2024-06-01", "2024-06-04", 2))
	require.NoError(t, err)
	assert.Equal(t, map[string]dag.Outcome{
		"2024-06-01": dag.OutcomeSucceeded, "2024-06-02": dag.OutcomeFailed, "2024-06-03": dag.OutcomeFailed, "2024-06-04": dag.OutcomeSucceeded,
	}, outcomes(rep))
	failed := rep.Results[1]
	assert.Equal(t, int64(2000), failed.DagID)
	assert.Equal(t, []string{"dwd_orders_merge"}, failed.FailedNodes)
	assert.Equal(t, dag.ErrDagFailed, failed.ErrorType)
	assert.Contains(t, failed.Message, "failed: 1 of 7 nodes failed (dwd_orders_merge)")
	assert.Equal(t, dag.ErrInvalidInput, rep.Results[2].ErrorType)
	assert.Contains(t, rep.Results[2].Message, "invalid input: bad")
	assert.Equal(t, "backfill demo_project/daily_sales 2024-06-01..2024-06-04: 4 bizdates, 2 succeeded, 2 failed (2024-06-02, 2024-06-03)", rep.Message)
	assert.False(t, rep.OK())
}

// More bizdates than one run starts: it continues as new, carrying the
// results so far.
func TestBackfillContinuesAsNew(t *testing.T) {
	bt := newBackfillTest(t)
	bt.child = func(_ workflow.Context, in RunManualDagInput) (dag.DagReport, error) {
		return dag.DagReport{Bizdate: in.Bizdate, Outcome: dag.OutcomeSucceeded}, nil
	}
	in := backfillInput("2024-01-01", "2024-12-31", MaxBackfillParallel)
	_, err := bt.run(in)
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "%v", err)
	assert.Equal(t, BackfillWorkflowName, can.WorkflowType.Name)
	var next BackfillManualDagInput
	require.NoError(t, json.Unmarshal(can.Input.Payloads[0].GetData(), &next))
	require.Len(t, next.Done, BackfillBatch)
	assert.Equal(t, "2024-01-01", next.Done[0].Bizdate)
	assert.Equal(t, "2024-04-09", next.Done[BackfillBatch-1].Bizdate)
	assert.Equal(t, in.From, next.From)
	assert.Equal(t, in.To, next.To)
	assert.Len(t, bt.started, BackfillBatch)

	// The continued runs start only what is left, a batch each.
	total := len(bt.started)
	for runs := 1; ; runs++ {
		require.Less(t, runs, 5, "366 bizdates take four runs")
		bt2 := newBackfillTest(t)
		bt2.child = bt.child
		rep, err := bt2.run(next)
		assert.LessOrEqual(t, len(bt2.started), BackfillBatch)
		total += len(bt2.started)
		if err == nil {
			assert.Equal(t, 4, runs+1)
			assert.Len(t, rep.Results, 366)
			assert.Equal(t, 366, rep.Counts[dag.OutcomeSucceeded])
			break
		}
		require.True(t, errors.As(err, &can), "%v", err)
		next = BackfillManualDagInput{}
		require.NoError(t, json.Unmarshal(can.Input.Payloads[0].GetData(), &next))
	}
	assert.Equal(t, 366, total, "each bizdate started once")
}

// Cancelled, the backfill starts nothing more, waits for the children in
// flight (on a server they are cancelled with it and stop their DAG runs;
// the test environment does not deliver that cancel to mocked children, so
// here they finish) and reports the bizdates it never started.
func TestBackfillCanceled(t *testing.T) {
	bt := newBackfillTest(t)
	bt.child = func(ctx workflow.Context, in RunManualDagInput) (dag.DagReport, error) {
		_ = workflow.Sleep(ctx, 10*time.Hour)
		return dag.DagReport{Bizdate: in.Bizdate, DagID: 3000, Outcome: dag.OutcomeSucceeded}, nil
	}
	bt.env.RegisterDelayedCallback(bt.env.CancelWorkflow, time.Hour)
	_, err := bt.run(backfillInput("2024-06-01", "2024-06-05", 2))
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "%v", err)
	var rep BackfillReport
	require.NoError(t, canceled.Details(&rep))
	assert.Equal(t, map[string]dag.Outcome{
		"2024-06-01": dag.OutcomeSucceeded, "2024-06-02": dag.OutcomeSucceeded,
		"2024-06-03": dag.OutcomeNotStarted, "2024-06-04": dag.OutcomeNotStarted, "2024-06-05": dag.OutcomeNotStarted,
	}, outcomes(rep))
	assert.Equal(t, "the backfill was cancelled first", rep.Results[2].Message)
	assert.Len(t, bt.started, 2)
}

func TestBackfillRefusesBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		in   BackfillManualDagInput
		want string
	}{
		"to before from": {backfillInput("2024-06-02", "2024-06-01", 1), "before from"},
		"bad date":       {backfillInput("2024-06-31", "2024-07-01", 1), "from"},
		"too parallel":   {backfillInput("2024-06-01", "2024-06-02", 11), "parallel 11"},
		"too long":       {backfillInput("2020-01-01", "2024-01-01", 1), "at most 1000"},
		"bizdate in run": {func() BackfillManualDagInput {
			in := backfillInput("2024-06-01", "2024-06-02", 1)
			in.Run.Bizdate = "2024-06-01"
			return in
		}(), "must not set bizdate"},
		"bad run input": {func() BackfillManualDagInput {
			in := backfillInput("2024-06-01", "2024-06-02", 1)
			in.Run.FlowName = ""
			return in
		}(), "run: "},
	} {
		t.Run(name, func(t *testing.T) {
			bt := newBackfillTest(t)
			_, err := bt.run(tc.in)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "%v", err)
			assert.Equal(t, dag.ErrInvalidInput, appErr.Type())
			assert.Contains(t, appErr.Message(), tc.want)
			assert.Empty(t, bt.started)
		})
	}
}

func TestBackfillInputIsStrict(t *testing.T) {
	var in BackfillManualDagInput
	require.NoError(t, json.Unmarshal([]byte(`{"run":{"projectName":"p","flowName":"f"},"from":"2024-06-01","to":"2024-06-02","paralel":2}`), &in))
	_, err := in.Bizdates()
	require.ErrorContains(t, err, `unknown field "paralel"`)

	require.NoError(t, json.Unmarshal([]byte(`{"run":{"projectName":"p","flowName":"f"},"from":"2024-06-01","to":"2024-06-03","parallel":2}`), &in))
	dates, err := in.Bizdates()
	require.NoError(t, err)
	assert.Equal(t, []string{"2024-06-01", "2024-06-02", "2024-06-03"}, dates)
}
