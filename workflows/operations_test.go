package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/internal/emulator"
)

const unsupported2018 = "the 2018-06-01 API has no such call: set APIVersion to 2020-05-18"

// mockOpsUnsupported answers the instance operations as a worker on the
// 2018-06-01 API does (nothing sent). SetupTest installs it: tests that
// script the operations start from opsEnv instead.
func (s *workflowSuite) mockOpsUnsupported() {
	s.env.OnActivity(a.GetInstanceLogs, mock.Anything, mock.Anything).Return(activities.LogsResult{Unsupported: unsupported2018}, nil).Maybe()
	s.env.OnActivity(a.StopInstances, mock.Anything, mock.Anything).Return(activities.InstancesResult{Unsupported: unsupported2018}, nil).Maybe()
	s.env.OnActivity(a.RestartInstances, mock.Anything, mock.Anything).Return(activities.InstancesResult{Unsupported: unsupported2018}, nil).Maybe()
}

// opsEnv is SetupTest without the default answers of the operations.
func (s *workflowSuite) opsEnv() {
	s.SetupTestReal()
	s.env.RegisterActivity(a)
	s.creates = 0
}

// update sends an update from a delayed callback and keeps what became of it.
type updateOutcome struct {
	rejected, err error
	accepted      bool
	result        any
}

func (s *workflowSuite) updateAt(after time.Duration, name string, arg any, out *updateOutcome) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, name+"-"+after.String(), &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { out.rejected = err },
			OnAccept:   func() { out.accepted = true },
			OnComplete: func(v any, err error) { out.result, out.err = v, err },
		}, arg)
	}, after)
}

func (s *workflowSuite) status() dag.DagReport {
	v, err := s.env.QueryWorkflow(QueryStatus)
	s.Require().NoError(err)
	var r dag.DagReport
	s.Require().NoError(v.Get(&r))
	return r
}

func (s *workflowSuite) calls(e emulated, action string) int {
	return e.emu.Stats().Calls[action].Total
}

func input2020() RunManualDagInput {
	in := input()
	in.APIVersion = dag.APIVersion2020
	return in
}

// Cancelling the workflow stops the DAG's unfinished instances in DataWorks
// and waits until they are final.
func (s *workflowSuite) TestOpsCancelStopsRemoteNodes() {
	e := s.useEmulator("", emulator.Options{})
	// At 3m load_ods and dim_shop have succeeded, dwd_merge runs, ads_report
	// waits for it.
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 3*time.Minute)
	r, err := s.run(input2020())
	var canceled *temporal.CanceledError
	s.Require().True(errors.As(err, &canceled), "%v", err)
	s.Equal(dag.OutcomeCanceled, r.Outcome)
	s.Equal([]string{"dwd_merge", "ads_report"}, r.StoppedNodes)
	s.Empty(r.StopFailures)
	s.Contains(r.Message, "canceled:")
	s.Contains(r.Message, "stopped in DataWorks: dwd_merge, ads_report")
	s.Require().Len(r.Operations, 1)
	s.Equal("stop", r.Operations[0].Op)
	s.Equal(2, s.calls(e, "StopInstance"))
	info := s.onlyDAG(e, "daily_sales")
	s.Equal(emulator.DAGFailure, info.Status, "every instance is final after the stop")
	s.Less(s.elapsed(), 3*time.Minute+time.Minute, "the stop takes seconds in the emulator, not the bound")
}

func (s *workflowSuite) TestOpsDeadlineStopsOrLeaves() {
	for _, tc := range []struct {
		onDeadline string
		stops      int
		dag        emulator.DAGStatus
	}{
		{"", 2, emulator.DAGFailure},
		{OnDeadlineStop, 2, emulator.DAGFailure},
		{OnDeadlineLeave, 0, emulator.DAGRunning},
	} {
		s.Run("onDeadline="+tc.onDeadline, func() {
			e := s.useEmulator("", emulator.Options{})
			in := input2020()
			in.Timeout = dag.Duration(3 * time.Minute)
			in.OnDeadline = tc.onDeadline
			r, err := s.run(in)
			s.requireType(err, dag.ErrDagTimedOut)
			s.Equal(dag.OutcomeTimedOut, r.Outcome)
			s.Equal(tc.stops, s.calls(e, "StopInstance"))
			s.Equal(tc.dag, s.onlyDAG(e, "daily_sales").Status)
			s.Equal([]string{"dwd_merge", "ads_report"}, r.UnfinishedNodes, "the picture at the deadline")
			if tc.stops > 0 {
				s.Equal([]string{"dwd_merge", "ads_report"}, r.StoppedNodes)
				s.Contains(err.Error(), "stopped in DataWorks: dwd_merge, ads_report")
			} else {
				s.Empty(r.StoppedNodes)
				s.Require().NotEmpty(r.Notes)
				s.Contains(r.Notes[0], `onDeadline is "leave"`)
				s.Contains(r.Notes[0], "Operation Center")
			}
		})
	}
}

// A stop that DataWorks accepts but that does not end the instance within
// stopWait is reported, not waited for forever.
func (s *workflowSuite) TestOpsStopBoundedByStopWait() {
	s.opsEnv()
	s.mockCreate()
	s.mockSearch(running)
	s.env.OnActivity(a.StopInstances, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.InstancesInput) (activities.InstancesResult, error) {
			return activities.InstancesResult{Done: in.InstanceIDs}, nil
		})
	in := input()
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 10*time.Minute)
	r, err := s.run(in)
	s.Require().Error(err)
	s.Equal(dag.OutcomeCanceled, r.Outcome)
	s.Empty(r.StoppedNodes)
	s.Equal([]string{"load_ods: still RUNNING 5m0s after the stop request", "dwd_merge: still NOT_RUN 5m0s after the stop request"}, r.StopFailures)
	s.LessOrEqual(s.elapsed(), 15*time.Minute+5*time.Second)
	s.Contains(r.Message, "2 not stopped")
}

// The failed node's log tail reaches the report, bounded.
func (s *workflowSuite) TestOpsFailedNodeLogTailInReport() {
	e := s.useEmulator("", emulator.Options{})
	in := input2020()
	in.FlowName = "broken_sales"
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagFailed)
	var tail string
	for _, n := range r.Nodes {
		if n.Name == "dwd_merge" {
			tail = n.LogTail
		} else {
			s.Empty(n.LogTail, "node %s did not fail", n.Name)
		}
	}
	s.LessOrEqual(len(tail), logTailPerNode)
	s.Contains(tail, "ODPS-0130071")
	s.Contains(tail, "status: FAILURE")
	s.Equal(1, s.calls(e, "GetInstanceLog"), "fetched once, when the failure was first seen")
}

// Many failures share the report's cap.
func (s *workflowSuite) TestOpsLogTailsShareTheReportCap() {
	s.opsEnv()
	s.mockCreate()
	var list []dataworks.NodeInstance
	// More failures than the report's cap gives each its full per-node share.
	const failures = 20
	for i := range int64(failures) {
		list = append(list, n(100+i, "node_"+string(rune('a'+i)), dag.StatusFailure))
	}
	s.mockSearch(list)
	var asked []int
	s.env.OnActivity(a.GetInstanceLogs, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.LogsInput) (activities.LogsResult, error) {
			asked = append(asked, in.MaxBytes)
			res := activities.LogsResult{Tails: map[int64]string{}}
			for _, id := range in.InstanceIDs {
				res.Tails[id] = strings.Repeat("x", in.MaxBytes)
			}
			return res, nil
		}).Once()
	r, err := s.run(input())
	s.requireType(err, dag.ErrDagFailed)
	share := logTailTotal / failures
	s.Less(share, logTailPerNode)
	s.Equal([]int{share}, asked)
	total := 0
	for _, n := range r.Nodes {
		s.Len(n.LogTail, share)
		total += len(n.LogTail)
	}
	s.LessOrEqual(total, logTailTotal)
}

// rerunFailed restarts the failed node during the blocked grace; the same
// workflow goes on and reports SUCCEEDED.
func (s *workflowSuite) TestOpsRerunFailedTurnsFailureIntoSuccess() {
	e := s.useEmulator("", emulator.Options{})
	in := input2020()
	in.FlowName = "rerun_sales"
	in.Poll.MaxInterval = dag.Duration(20 * time.Second)
	in.FailurePolicy.WaitForRecovery = dag.Duration(10 * time.Minute) // open for the rerun
	var up updateOutcome
	var before dag.DagReport
	s.env.RegisterDelayedCallback(func() { before = s.status() }, 5*time.Minute-time.Second)
	s.updateAt(5*time.Minute, UpdateRerunFailed, RerunRequest{}, &up)
	kept := false
	s.env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		_, ok := args.Get(0).(map[string]any)[activities.MemoTimings]
		kept = kept || ok
	}).Return(nil)
	r, err := s.run(in)
	s.Require().NoError(err)
	s.False(kept, "a run that succeeded only after a rerun teaches later runs nothing")

	s.Equal([]string{"dwd_merge"}, before.FailedNodes)
	s.Contains(before.Nodes[1].LogTail, "status: FAILURE", "the log of the first failure was in the live report")
	s.Require().NoError(up.rejected)
	s.Require().NoError(up.err)
	res, ok := up.result.(RerunResult)
	s.Require().True(ok, "%T", up.result)
	s.Equal([]string{"dwd_merge"}, res.Restarted)
	s.Contains(res.Message, "goes on watching")

	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(map[string]int{"SUCCESS": 3}, r.CountsByStatus)
	s.Empty(r.Nodes[1].LogTail, "a node that succeeded on rerun carries no failure log")
	s.Require().Len(r.Operations, 1)
	s.Equal("rerun", r.Operations[0].Op)
	s.Equal([]string{"dwd_merge"}, r.Operations[0].Nodes)
	s.Equal(1, s.calls(e, "RestartInstance"))
	s.Equal(emulator.DAGSuccess, s.onlyDAG(e, "rerun_sales").Status)
}

// The validator refuses nodes that did not fail and unknown ones; nothing is
// restarted.
func (s *workflowSuite) TestOpsRerunValidatorRejects() {
	e := s.useEmulator("", emulator.Options{})
	in := input2020()
	in.FlowName = "rerun_sales"
	in.Poll.MaxInterval = dag.Duration(20 * time.Second)
	in.FailurePolicy.WaitForRecovery = dag.Duration(10 * time.Minute) // open for the rerun
	var early, notFailed, unknown updateOutcome
	s.updateAt(30*time.Second, UpdateRerunFailed, RerunRequest{}, &early)
	s.updateAt(5*time.Minute, UpdateRerunFailed, RerunRequest{Nodes: []string{"load_ods"}}, &notFailed)
	s.updateAt(5*time.Minute+time.Second, UpdateRerunFailed, RerunRequest{Nodes: []string{"no_such_node"}}, &unknown)
	_, err := s.run(in)
	s.requireType(err, dag.ErrDagFailed)
	s.Require().Error(early.rejected)
	s.Contains(early.rejected.Error(), "no node of DAG")
	s.Require().Error(notFailed.rejected)
	s.Contains(notFailed.rejected.Error(), "node load_ods is SUCCESS, not FAILURE")
	s.Require().Error(unknown.rejected)
	s.Contains(unknown.rejected.Error(), `has no node "no_such_node"`)
	s.False(notFailed.accepted || unknown.accepted || early.accepted)
	s.Zero(s.calls(e, "RestartInstance"))
}

// failurePolicy.waitForRecovery keeps a failed DAG open past the blocked
// grace; an operator's rerun from the console is picked up.
func (s *workflowSuite) TestOpsWaitForRecoveryPicksUpConsoleRerun() {
	e := s.useEmulator("", emulator.Options{})
	in := input() // 2018-06-01: the console rerun needs nothing of the workflow
	in.FlowName = "rerun_sales"
	in.FailurePolicy.WaitForRecovery = dag.Duration(30 * time.Minute)
	var during dag.DagReport
	s.env.RegisterDelayedCallback(func() {
		during = s.status()
		info := s.onlyDAG(e, "rerun_sales")
		s.Require().Equal(emulator.DAGFailure, info.Status)
		for _, n := range info.Nodes {
			if n.Name == "dwd_merge" {
				s.Require().NoError(e.client.RestartInstance(context.Background(),
					dataworks.InstanceRequest{InstanceID: n.InstanceID, APIVersion: dag.APIVersion2020}))
			}
		}
	}, 20*time.Minute) // long after the 3m blocked grace
	r, err := s.run(in)
	s.Require().NoError(err)
	s.Equal(dag.OutcomeRunning, during.Outcome)
	s.Contains(during.Message, "failurePolicy.waitForRecovery")
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Greater(s.elapsed(), 20*time.Minute)
}

// Without a rerun, waitForRecovery ends in FAILED when it runs out.
func (s *workflowSuite) TestOpsWaitForRecoveryRunsOut() {
	s.mockCreate()
	s.mockSearch(running, nodes(n(1, "load_ods", dag.StatusFailure), n(2, "dwd_merge", dag.StatusSuccess)))
	in := input()
	in.FailurePolicy.WaitForRecovery = dag.Duration(30 * time.Minute)
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagFailed)
	s.Equal(dag.OutcomeFailed, r.Outcome)
	s.GreaterOrEqual(s.elapsed(), 30*time.Minute)
	s.Less(s.elapsed(), 30*time.Minute+DefaultMaxInterval)
}

func (s *workflowSuite) TestOpsExtendDeadline() {
	s.mockCreate()
	s.mockSearch(running)
	in := input()
	in.Timeout = dag.Duration(time.Hour)
	var none, shorter, tooFar, by updateOutcome
	s.updateAt(10*time.Minute, UpdateExtendDeadline, ExtendDeadlineRequest{}, &none)
	s.updateAt(11*time.Minute, UpdateExtendDeadline, ExtendDeadlineRequest{Until: s.start.Add(30 * time.Minute)}, &shorter)
	s.updateAt(12*time.Minute, UpdateExtendDeadline, ExtendDeadlineRequest{Timeout: dag.Duration(31 * 24 * time.Hour)}, &tooFar)
	s.updateAt(30*time.Minute, UpdateExtendDeadline, ExtendDeadlineRequest{By: dag.Duration(2 * time.Hour)}, &by)
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagTimedOut)
	s.Contains(none.rejected.Error(), "exactly one")
	s.Contains(shorter.rejected.Error(), "not later than the current one")
	s.Contains(tooFar.rejected.Error(), "after the workflow's start")
	s.Require().NoError(by.err)
	res, ok := by.result.(ExtendDeadlineResult)
	s.Require().True(ok)
	s.True(res.Deadline.Equal(s.start.Add(3*time.Hour)), "%v", res.Deadline)
	s.Equal(3*time.Hour, s.elapsed())
	s.Require().Len(r.Operations, 1)
	s.Equal("extendDeadline", r.Operations[0].Op)
}

// Under 2018-06-01 nothing is sent: the report says what to do instead.
func (s *workflowSuite) TestOps2018SendsNothingAndSaysWhatToDo() {
	s.Run("failed node: no log, a note", func() {
		e := s.useEmulator("", emulator.Options{})
		in := input()
		in.FlowName = "broken_sales"
		in.FailurePolicy.WaitForRecovery = dag.Duration(10 * time.Minute) // open for the rerun
		var rerun updateOutcome
		s.updateAt(6*time.Minute, UpdateRerunFailed, RerunRequest{}, &rerun)
		r, err := s.run(in)
		s.requireType(err, dag.ErrDagFailed)
		s.Require().Len(r.Notes, 1)
		s.Contains(r.Notes[0], "no GetInstanceLog")
		s.Contains(r.Notes[0], "dwd_merge")
		s.Contains(r.Notes[0], "Operation Center > Manual Instances")
		s.Require().Error(rerun.rejected)
		s.Contains(rerun.rejected.Error(), "no RestartInstance")
		s.Contains(rerun.rejected.Error(), "Operation Center")
		for _, action := range []string{"StopInstance", "RestartInstance", "GetInstanceLog"} {
			s.Zero(s.calls(e, action), action)
		}
	})
	s.Run("cancel: nothing stopped, a note", func() {
		e := s.useEmulator("", emulator.Options{})
		s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 3*time.Minute)
		r, err := s.run(input())
		s.Require().Error(err)
		s.Equal(dag.OutcomeCanceled, r.Outcome)
		s.Empty(r.StoppedNodes)
		s.Require().Len(r.Notes, 1)
		s.Contains(r.Notes[0], "nothing was stopped")
		s.Contains(r.Notes[0], "stop dwd_merge, ads_report in DataWorks Operation Center > Manual Instances")
		s.Contains(r.Message, "the run goes on in DataWorks unless stopped there")
		s.Equal(emulator.DAGRunning, s.onlyDAG(e, "daily_sales").Status)
		s.Zero(s.calls(e, "StopInstance"))
	})
	s.Run("apiVersion 2018 in the input: no activity at all", func() {
		s.opsEnv()
		s.mockCreate()
		s.mockSearch(running, blocked)
		s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			switch info.ActivityType.Name {
			case "GuardTrigger", "FlowTimings", "CreateManualDag", "SearchManualDagNodeInstance":
			default:
				s.Failf("activity scheduled", "%s", info.ActivityType.Name)
			}
		})
		in := input()
		in.APIVersion = dag.APIVersion2018
		in.Timeout = dag.Duration(time.Hour)
		in.FailurePolicy.WaitForRecovery = dag.Duration(10 * time.Minute) // open for the rerun
		var rerun updateOutcome
		s.updateAt(time.Minute, UpdateRerunFailed, RerunRequest{}, &rerun)
		r, err := s.run(in)
		s.requireType(err, dag.ErrDagFailed)
		s.Contains(rerun.rejected.Error(), "no RestartInstance")
		s.Contains(r.Notes[0], "no GetInstanceLog")
	})
}

// An update in flight is finished before the run continues as new, and
// what the operations know is carried over.
func (s *workflowSuite) TestOpsStateSurvivesContinueAsNew() {
	s.opsEnv()
	s.mockCreate()
	s.mockSearch(running, blocked)
	s.env.OnActivity(a.GetInstanceLogs, mock.Anything, mock.Anything).Return(
		activities.LogsResult{Tails: map[int64]string{1: "boom\n"}}, nil).Once()
	s.env.OnActivity(a.RestartInstances, mock.Anything, mock.Anything).After(time.Minute).Return(
		activities.InstancesResult{Done: []int64{1}}, nil).Once()
	in := input()
	// The second poll (18 s, the prompt wait) sees the failure.
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 21*time.Second)
	var up updateOutcome
	s.updateAt(20*time.Second, UpdateRerunFailed, RerunRequest{Nodes: []string{"1"}}, &up)
	s.env.ExecuteWorkflow(WorkflowName, in)
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	next, ok := continuedInput(err)
	s.Require().True(ok, "%v", err)
	s.Require().NoError(up.err)
	s.Require().NotNil(next.Continued.Ops)
	s.Equal("boom\n", next.Continued.Ops.Logs[1].Tail)
	s.Contains(next.Continued.Ops.Reruns, int64(1), "the rerun has not shown yet")
	s.Require().Len(next.Continued.Ops.Operations, 1)
	s.False(next.Continued.StartedAt.IsZero())
}

func continuedInput(err error) (RunManualDagInput, bool) {
	var can *workflow.ContinueAsNewError
	var next RunManualDagInput
	if !errors.As(err, &can) || converter.GetDefaultDataConverter().FromPayloads(can.Input, &next) != nil || next.Continued == nil {
		return next, false
	}
	return next, true
}

func TestDecideWaitForRecovery(t *testing.T) {
	t0 := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	failed := []dag.Node{{ID: 1, Name: "a", Status: dag.StatusFailure}, {ID: 2, Name: "b", Status: dag.StatusSuccess}}
	blockedNodes := []dag.Node{{ID: 1, Name: "a", Status: dag.StatusFailure}, {ID: 2, Name: "b", Status: dag.StatusNotRun}}
	base := Timing{TriggeredAt: t0, StableSince: t0, Deadline: t0.Add(24 * time.Hour), BlockedGrace: 3 * time.Minute, EmptyListGrace: 5 * time.Minute,
		ListSettle: time.Second, CountPolls: 2}
	for _, tc := range []struct {
		name     string
		nodes    []dag.Node
		now      time.Duration
		wait     time.Duration
		deadline time.Duration
		want     dag.Outcome
	}{
		{"no policy: failed at once", failed, time.Second, 0, 0, dag.OutcomeFailed},
		{"failed, within the window", failed, 29 * time.Minute, 30 * time.Minute, 0, dag.OutcomeRunning},
		{"failed, window over", failed, 30 * time.Minute, 30 * time.Minute, 0, dag.OutcomeFailed},
		{"blocked: the longer of grace and window", blockedNodes, 10 * time.Minute, 30 * time.Minute, 0, dag.OutcomeRunning},
		{"blocked: window shorter than grace", blockedNodes, 3 * time.Minute, time.Minute, 0, dag.OutcomeFailed},
		{"deadline inside the window: FAILED, not TIMED_OUT", failed, time.Hour, 2 * time.Hour, time.Hour, dag.OutcomeFailed},
		{"empty list: nothing to rerun, no verdict", nil, 6 * time.Minute, 30 * time.Minute, 0, dag.OutcomeRunning},
	} {
		tm := base
		tm.Now = t0.Add(tc.now)
		tm.WaitForRecovery = tc.wait
		if tc.deadline > 0 {
			tm.Deadline = t0.Add(tc.deadline)
		}
		d := Decide(tc.nodes, tm)
		if d.Outcome != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, d.Outcome, d.Reason, tc.want)
		}
		if d.Outcome == dag.OutcomeRunning && !d.Unlisted && (d.RecheckAt.IsZero() || !strings.Contains(d.Reason, "waitForRecovery")) {
			t.Errorf("%s: recheck %v reason %q", tc.name, d.RecheckAt, d.Reason)
		}
	}
}
