package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

const testDagID = 700019657457

var a *activities.Activities

type workflowSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env     *testsuite.TestWorkflowEnvironment
	start   time.Time
	creates int
	script  *script
	// guard is GuardTrigger's answer; guards counts the calls.
	guard  activities.GuardTriggerResult
	guards int
}

func TestWorkflow(t *testing.T) { suite.Run(t, new(workflowSuite)) }

func (s *workflowSuite) SetupTest() {
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s.env = s.NewTestWorkflowEnvironment()
	s.start = time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	s.env.SetStartTime(s.start)
	s.env.RegisterWorkflowWithOptions(RunManualDag, workflow.RegisterOptions{Name: WorkflowName})
	s.env.RegisterActivity(a)
	s.creates = 0
	s.mockOpsUnsupported()
	s.mockGuard()
}

// mockGuard answers GuardTrigger with s.guard, counting the calls.
func (s *workflowSuite) mockGuard() {
	s.guard, s.guards = activities.GuardTriggerResult{}, 0
	var runs *activities.Runs
	s.env.RegisterActivity(runs)
	s.env.OnActivity(runs.GuardTrigger, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.GuardTriggerInput) (activities.GuardTriggerResult, error) {
			s.guards++
			return s.guard, nil
		}).Maybe()
}

func (s *workflowSuite) TearDownTest() { s.env.AssertExpectations(s.T()) }

// mockCreate answers every create with the DAG id, counting calls; the
// test fails if none comes.
func (s *workflowSuite) mockCreate() { s.mockCreateCall() }

// mockCreateMaybe is mockCreate for tests that count on no create.
func (s *workflowSuite) mockCreateMaybe() { s.mockCreateCall().Maybe() }

func (s *workflowSuite) mockCreateCall() *testsuite.MockCallWrapper {
	return s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CreateManualDagInput) (activities.CreateManualDagResult, error) {
			s.creates++
			return activities.CreateManualDagResult{DagID: testDagID}, nil
		})
}

// script answers searches: step i for poll i, the last step for ever. A step
// is a node list or an error.
type script struct {
	mu    sync.Mutex
	calls int
	steps []any
}

func (sc *script) search(ctx context.Context, in activities.SearchInput) (activities.SearchResult, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	step := sc.steps[min(sc.calls, len(sc.steps)-1)]
	sc.calls++
	if err, ok := step.(error); ok {
		return activities.SearchResult{}, err
	}
	return windowed(ctx, in, step.([]dataworks.NodeInstance))
}

// windowed answers a search of list as the activity does, repeat windows
// included (activities.SearchInput.RepeatEvery).
func windowed(ctx context.Context, in activities.SearchInput, list []dataworks.NodeInstance) (activities.SearchResult, error) {
	res := activities.Compact(list, 200, in.Known())
	attempt := activity.GetInfo(ctx).Attempt
	res.Polls = int(attempt)
	statuses := make([]dag.Status, len(list))
	for i, n := range list {
		statuses[i] = n.Status
	}
	if !in.WindowEnds(statuses, attempt) {
		return activities.SearchResult{}, in.NothingYet(attempt, 0)
	}
	return res, nil
}

func (s *workflowSuite) mockSearch(steps ...any) {
	s.script = &script{steps: steps}
	s.env.OnActivity(a.SearchManualDagNodeInstance, mock.Anything, mock.Anything).Return(s.script.search)
}

func n(id int64, name string, st dag.Status) dataworks.NodeInstance {
	return dataworks.NodeInstance{InstanceID: id, DagID: testDagID, NodeName: name, Status: st,
		BeginRunningTime: time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)}
}

func nodes(list ...dataworks.NodeInstance) []dataworks.NodeInstance { return list }

var (
	running   = nodes(n(1, "load_ods", dag.StatusRunning), n(2, "dwd_merge", dag.StatusNotRun))
	succeeded = nodes(n(1, "load_ods", dag.StatusSuccess), n(2, "dwd_merge", dag.StatusSuccess))
	blocked   = nodes(n(1, "load_ods", dag.StatusFailure), n(2, "dwd_merge", dag.StatusNotRun),
		n(3, "ads_report", dag.StatusNotRun), n(4, "dim_shop", dag.StatusSuccess))
	empty = nodes()
)

// input is a run whose node list counts as complete one second after the
// trigger (and two searches that agree), so that tests of other rules need
// not wait out DefaultListSettle; settle_test.go tests the default.
func input() RunManualDagInput {
	return RunManualDagInput{ProjectName: "demo_project", FlowName: "daily_sales", Bizdate: "2024-06-01", ListSettle: dag.Duration(time.Second)}
}

func (s *workflowSuite) run(in RunManualDagInput) (dag.DagReport, error) {
	s.env.ExecuteWorkflow(WorkflowName, in)
	s.True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	var r dag.DagReport
	if err == nil {
		s.NoError(s.env.GetWorkflowResult(&r))
		return r, nil
	}
	r, _ = ReportFromError(err)
	return r, err
}

func (s *workflowSuite) requireType(err error, typ string) {
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "not an ApplicationError: %v", err)
	s.Require().Equal(typ, appErr.Type(), "%v", err)
	s.True(appErr.NonRetryable())
}

func (s *workflowSuite) elapsed() time.Duration { return s.env.Now().Sub(s.start) }

func (s *workflowSuite) TestSuccess() {
	s.mockCreate()
	s.mockSearch(empty, running, running, succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(int64(testDagID), r.DagID)
	s.Equal(4, r.Polls)
	s.Len(r.Nodes, 2)
	s.Equal(map[string]int{"SUCCESS": 2}, r.CountsByStatus)
	s.Equal(1, s.creates)
	s.Contains(r.Message, "DataWorks DAG 700019657457 (demo_project/daily_sales, bizdate 2024-06-01) succeeded: 2 of 2 nodes succeeded")
	s.False(r.FinishedAt.IsZero())
}

func (s *workflowSuite) TestFailedNodeWithBlockedDownstreamEndsAfterGrace() {
	s.mockCreate()
	s.mockSearch(running, blocked)
	r, err := s.run(input())
	s.requireType(err, dag.ErrDagFailed)
	s.Equal(dag.OutcomeFailed, r.Outcome)
	s.Equal([]string{"load_ods"}, r.FailedNodes)
	s.Equal([]string{"dwd_merge", "ads_report"}, r.BlockedNodes)
	s.Empty(r.UnfinishedNodes)
	s.Contains(err.Error(), "DataWorks DAG 700019657457 (demo_project/daily_sales, bizdate 2024-06-01) failed: 1 of 4 nodes failed (load_ods), 2 blocked (dwd_merge, ads_report)")
	s.GreaterOrEqual(s.elapsed(), DefaultBlockedGrace)
	s.Less(s.elapsed(), DefaultBlockedGrace+time.Minute, "ended well after the grace period")
}

func (s *workflowSuite) TestFailOnDagFailureFalseReturnsReport() {
	s.mockCreate()
	s.mockSearch(blocked)
	in := input()
	no := false
	in.FailOnDagFailure = &no
	r, err := s.run(in)
	s.NoError(err)
	s.Equal(dag.OutcomeFailed, r.Outcome)
}

func (s *workflowSuite) TestOperatorRerunDuringGraceContinuesWait() {
	s.mockCreate()
	rerun := nodes(n(1, "load_ods", dag.StatusRunning), n(2, "dwd_merge", dag.StatusNotRun),
		n(3, "ads_report", dag.StatusNotRun), n(4, "dim_shop", dag.StatusSuccess))
	done := nodes(n(1, "load_ods", dag.StatusSuccess), n(2, "dwd_merge", dag.StatusSuccess),
		n(3, "ads_report", dag.StatusSuccess), n(4, "dim_shop", dag.StatusSuccess))
	s.mockSearch(blocked, blocked, blocked, rerun, rerun, rerun, rerun, rerun, rerun, rerun, rerun, done)
	in := input()
	in.FailurePolicy.WaitForRecovery = dag.Duration(5 * time.Minute) // open for a rerun from the console
	r, err := s.run(in)
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(12, r.Polls)
}

func (s *workflowSuite) TestEmptyListAtFirst() {
	s.mockCreate()
	s.mockSearch(empty, empty, empty, running, succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
}

func (s *workflowSuite) TestDagNotFoundAtFirstIsAnEmptyList() {
	s.mockCreate()
	notFound := temporal.NewNonRetryableApplicationError("search DAG: 11020293069", dag.ErrDagNotFound, nil)
	s.mockSearch(notFound, notFound, running, succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
}

// A DAG run that DataWorks never lists gets no verdict: it may exist and
// run, so FAILED would be a guess (and would invite a second trigger).
func (s *workflowSuite) TestEmptyListForeverEndsWithoutVerdict() {
	s.mockCreate()
	s.mockSearch(empty)
	r, err := s.run(input())
	s.requireType(err, dag.ErrDagNotListed)
	s.Equal(dag.OutcomeRunning, r.Outcome)
	s.Equal(int64(testDagID), r.DagID)
	s.Contains(err.Error(), "listed no node instances within 5m0s of the trigger")
	s.Contains(err.Error(), "--dag-id 700019657457")
	s.GreaterOrEqual(s.elapsed(), DefaultEmptyListGrace)
	s.Less(s.elapsed(), DefaultEmptyListGrace+time.Minute)
}

func (s *workflowSuite) TestUnknownStatusIsNotFinalAndReported() {
	s.mockCreate()
	odd := nodes(n(1, "load_ods", dag.StatusSuccess), n(2, "dwd_merge", dag.StatusFromCode(42)))
	s.mockSearch(odd, odd, odd, succeeded)
	var during dag.DagReport
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&during))
	}, 15*time.Second)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(dag.OutcomeRunning, during.Outcome)
	s.Equal(1, during.CountsByStatus["CODE_42"])
	s.Equal([]string{"dwd_merge"}, during.UnfinishedNodes)
	s.Contains(during.Message, "status DataWorks does not document")
}

func (s *workflowSuite) TestDeadlineTimesOutWithReport() {
	s.mockCreate()
	s.mockSearch(running)
	in := input()
	in.Timeout = dag.Duration(2 * time.Hour)
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagTimedOut)
	s.Equal(dag.OutcomeTimedOut, r.Outcome)
	s.Equal(2*time.Hour, s.elapsed())
	s.Equal([]string{"load_ods", "dwd_merge"}, r.UnfinishedNodes)
	s.Contains(err.Error(), "timed out: 2 of 2 unfinished (load_ods, dwd_merge)")
	s.Greater(r.Polls, 20)
}

// The deadline cancels a search that is waiting out a spent quota.
func (s *workflowSuite) TestDeadlineCancelsPendingSearch() {
	s.mockCreate()
	quota := temporal.NewApplicationErrorWithOptions("quota", dag.ErrQuotaExhausted, temporal.ApplicationErrorOptions{NextRetryDelay: 50 * time.Minute})
	s.mockSearch(running, quota)
	in := input()
	in.Timeout = dag.Duration(time.Hour)
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagTimedOut)
	s.Equal(time.Hour, s.elapsed())
	s.Equal(1, r.Polls)
}

func (s *workflowSuite) TestThrottledPollsThenRecovery() {
	s.mockCreate()
	throttled := temporal.NewApplicationErrorWithOptions("throttled", dag.ErrThrottled, temporal.ApplicationErrorOptions{NextRetryDelay: 20 * time.Second})
	s.mockSearch(running, throttled, throttled, throttled, succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(5, s.script.calls)
	s.Equal(5, r.Polls, "every search sent is a poll, the throttled ones too")
}

func (s *workflowSuite) TestDailyQuotaBacksOffAndDoesNotFail() {
	s.mockCreate()
	quota := temporal.NewApplicationErrorWithOptions("quota", dag.ErrQuotaExhausted, temporal.ApplicationErrorOptions{NextRetryDelay: 45 * time.Minute})
	s.mockSearch(running, quota, quota, quota, succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.GreaterOrEqual(s.elapsed(), 135*time.Minute)
}

func (s *workflowSuite) TestPermanentSearchErrorStopsWatching() {
	s.mockCreate()
	s.mockSearch(running, temporal.NewNonRetryableApplicationError("Forbidden.Access", dag.ErrPermanent, nil))
	r, err := s.run(input())
	s.requireType(err, dag.ErrPermanent)
	s.Equal(int64(testDagID), r.DagID)
	s.Contains(err.Error(), "may go on in DataWorks, so a new trigger of this bizdate is refused")
}

// A create attempt that timed out after recording its intent ends the
// workflow with TriggerOutcomeUnknown: no search, no second run.
func (s *workflowSuite) TestCreateTimeoutAfterSendingIsOutcomeUnknown() {
	s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).Return(activities.CreateManualDagResult{},
		temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil, activities.CreateProgress{State: "sending", Attempt: 1}))
	r, err := s.run(input())
	s.requireType(err, dag.ErrTriggerOutcomeUnknown)
	s.Equal(dag.OutcomeFailed, r.Outcome)
	for _, want := range []string{"demo_project/daily_sales", "bizdate 2024-06-01", "Operation Center"} {
		s.Contains(err.Error(), want)
	}
}

func (s *workflowSuite) TestCreateTimeoutAfterReplyKeepsDagID() {
	s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).Return(activities.CreateManualDagResult{},
		temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil, activities.CreateProgress{State: "started", DagID: testDagID, Attempt: 1}))
	s.mockSearch(succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(int64(testDagID), r.DagID)
}

func (s *workflowSuite) TestStatusQueryBeforeAndDuring() {
	s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).After(time.Minute).Return(activities.CreateManualDagResult{DagID: testDagID}, nil)
	s.mockSearch(running, running, running, succeeded)
	query := func() dag.DagReport {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		var r dag.DagReport
		s.Require().NoError(v.Get(&r))
		return r
	}
	var before, during dag.DagReport
	s.env.RegisterDelayedCallback(func() { before = query() }, 30*time.Second)
	s.env.RegisterDelayedCallback(func() { during = query() }, 75*time.Second)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeTriggering, before.Outcome)
	s.Zero(before.DagID)
	s.Equal("2024-06-01", before.Bizdate)
	s.Equal(dag.OutcomeRunning, during.Outcome)
	s.Equal(int64(testDagID), during.DagID)
	s.Len(during.Nodes, 2)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
}

func (s *workflowSuite) TestCancelReturnsCanceledReport() {
	s.mockCreate()
	s.mockSearch(running)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 10*time.Minute)
	r, err := s.run(input())
	var canceled *temporal.CanceledError
	s.Require().True(errors.As(err, &canceled), "%v", err)
	s.Equal(dag.OutcomeCanceled, r.Outcome)
	s.Equal(int64(testDagID), r.DagID)
}

func (s *workflowSuite) TestDefaultBizdateIsTheDayBeforeInShanghai() {
	s.mockCreate()
	s.mockSearch(succeeded)
	in := input()
	in.Bizdate = ""
	// 2024-06-02 01:00 UTC is 09:00 on 2 June in Shanghai.
	r, err := s.run(in)
	s.Require().NoError(err)
	s.Equal("2024-06-01", r.Bizdate)
}

func (s *workflowSuite) TestBadInputsScheduleNoActivity() {
	for name, raw := range map[string]string{
		"no project":     `{"flowName":"f"}`,
		"bad bizdate":    `{"projectName":"p","flowName":"f","bizdate":"2024-13-01"}`,
		"credential":     `{"projectName":"p","flowName":"f","accessKeySecret":"x"}`,
		"unknown field":  `{"projectName":"p","flowName":"f","timeuot":"2h"}`,
		"ten years":      `{"projectName":"p","flowName":"f","timeout":"87600h"}`,
		"1ns poll":       `{"projectName":"p","flowName":"f","poll":{"initialInterval":"1ns"}}`,
		"zero poll":      `{"projectName":"p","flowName":"f","poll":{"initialInterval":"0s"}}`,
		"numeric":        `{"projectName":"p","flowName":"f","timeout":7200}`,
		"space in value": `{"projectName":"p","flowName":"f","dagParameters":{"k":"a b"}}`,
		"bad node id":    `{"projectName":"p","flowName":"f","nodeParameters":{"x1":"k=v"}}`,
		"bad timezone":   `{"projectName":"p","flowName":"f","timezone":"Mars/Olympus"}`,
	} {
		s.Run(name, func() {
			s.SetupTest()
			s.env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) {
				s.Failf("activity scheduled", "for input %s", raw)
			})
			var m map[string]any
			s.Require().NoError(json.Unmarshal([]byte(raw), &m))
			s.env.ExecuteWorkflow(WorkflowName, m)
			s.requireType(s.env.GetWorkflowError(), dag.ErrInvalidInput)
		})
	}
}

// Continue-as-new: the continued run does not trigger, keeps the DagID and
// carries the report on.
func (s *workflowSuite) TestContinueAsNewKeepsDagAndNeverRetriggers() {
	s.mockCreate()
	s.mockSearch(empty, running, running, running)
	s.env.SetContinueAsNewSuggested(true)
	s.env.ExecuteWorkflow(WorkflowName, input())
	err := s.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(err, &can), "%v", err)
	s.Equal(WorkflowName, can.WorkflowType.Name)
	var next RunManualDagInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.Require().NotNil(next.Continued)
	s.Equal(int64(testDagID), next.Continued.DagID)
	s.Equal(s.script.calls, next.Continued.Polls, "every search so far, repeat windows' included")
	s.Equal("2024-06-01", next.Bizdate)
	s.Equal(1, s.creates)
	firstTriggeredAt := next.Continued.TriggeredAt
	firstPolls := next.Continued.Polls

	// The continued run, on a fresh environment: no create may run.
	s.SetupTest()
	s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).Never()
	s.mockSearch(running, succeeded)
	r, err := s.run(next)
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(int64(testDagID), r.DagID)
	s.Equal(firstPolls+s.script.calls, r.Polls)
	s.True(firstTriggeredAt.Equal(r.TriggeredAt))
}

func (s *workflowSuite) TestContinueAsNewWhenSuggested() {
	s.mockCreate()
	s.mockSearch(running)
	s.env.SetContinueAsNewSuggested(true)
	s.env.ExecuteWorkflow(WorkflowName, input())
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can))
	s.Equal(1, s.script.calls)
}

func TestReportFromErrorWithoutReport(t *testing.T) {
	_, ok := ReportFromError(errors.New("plain"))
	require.False(t, ok)
	_, ok = ReportFromError(temporal.NewApplicationError("x", "T"))
	require.False(t, ok)
	r := dag.DagReport{DagID: 7, Outcome: dag.OutcomeFailed}
	got, ok := ReportFromError(temporal.NewNonRetryableApplicationError("x", dag.ErrDagFailed, nil, r))
	require.True(t, ok)
	require.Equal(t, int64(7), got.DagID)
	require.True(t, strings.Contains(dag.ErrDagFailed, "Dag"))
}

// A run continued as new keeps its bizdate and drops the timezone that
// chose it, which would be refused beside an explicit bizdate.
func (s *workflowSuite) TestContinueAsNewWithTimezoneKeepsWatching() {
	s.mockCreate()
	s.mockSearch(running, running)
	in := input()
	in.Bizdate, in.Timezone = "", "Asia/Shanghai"
	s.env.SetContinueAsNewSuggested(true)
	s.env.ExecuteWorkflow(WorkflowName, in)
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can), "%v", s.env.GetWorkflowError())
	var next RunManualDagInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.Empty(next.Timezone)
	s.Equal("2024-06-01", next.Bizdate)

	s.SetupTest()
	s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).Never()
	s.mockSearch(succeeded)
	r, err := s.run(next)
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
}

// A 2024-05-18 create attempt that timed out after sending, with its marker
// on record, is not the end: the next attempt is given that progress to
// resume (it sends nothing) and the run it finds is watched.
func (s *workflowSuite) TestCreate2024TimeoutAfterSendingIsResumed() {
	sent := activities.CreateProgress{State: "sending", Attempt: 1, APIVersion: dag.APIVersion2024, Marker: "run-1"}
	var inputs []activities.CreateManualDagInput
	s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateManualDagInput) (activities.CreateManualDagResult, error) {
			inputs = append(inputs, in)
			if len(inputs) == 1 {
				return activities.CreateManualDagResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil, sent)
			}
			return activities.CreateManualDagResult{DagID: testDagID, Recovered: true}, nil
		})
	s.mockSearch(succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(int64(testDagID), r.DagID)
	s.Require().Len(inputs, 2)
	s.Nil(inputs[0].Resume)
	s.Require().NotNil(inputs[1].Resume, "the second attempt resumes the first")
	s.Equal("run-1", inputs[1].Resume.Marker)
}
