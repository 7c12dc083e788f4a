package workflows

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// Issue 12, item 1: the 4-node chain (5s, 5s, 30m, 30m) whose first two
// nodes DataWorks lists alone for 3 minutes. With the default settle, the
// run waits for the rest and judges the whole DAG.
func (s *workflowSuite) TestPartialListIsNotJudged() {
	s.mockCreate()
	head := nodes(n(1, "a", dag.StatusSuccess), n(2, "b", dag.StatusSuccess))
	whole := nodes(n(1, "a", dag.StatusSuccess), n(2, "b", dag.StatusSuccess),
		n(3, "c", dag.StatusRunning), n(4, "d", dag.StatusNotRun))
	done := nodes(n(1, "a", dag.StatusSuccess), n(2, "b", dag.StatusSuccess),
		n(3, "c", dag.StatusSuccess), n(4, "d", dag.StatusSuccess))
	s.env.OnActivity(a.SearchManualDagNodeInstance, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SearchInput) (activities.SearchResult, error) {
			since := s.elapsed()
			switch {
			case since < 3*time.Minute:
				return windowed(ctx, in, head)
			case since < time.Hour:
				return windowed(ctx, in, whole)
			}
			return windowed(ctx, in, done)
		})
	in := input()
	in.ListSettle = 0 // the default
	r, err := s.run(in)
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Len(r.Nodes, 4, "judged on the whole list")
	s.GreaterOrEqual(s.elapsed(), time.Hour)
}

// The same partial list fails nothing early either.
func (s *workflowSuite) TestPartialListFailureWaitsForTheList() {
	s.mockCreate()
	head := nodes(n(1, "a", dag.StatusFailure), n(2, "b", dag.StatusNotRun))
	whole := nodes(n(1, "a", dag.StatusFailure), n(2, "b", dag.StatusNotRun), n(3, "c", dag.StatusNotRun))
	s.env.OnActivity(a.SearchManualDagNodeInstance, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SearchInput) (activities.SearchResult, error) {
			if s.elapsed() < 4*time.Minute {
				return windowed(ctx, in, head)
			}
			return windowed(ctx, in, whole)
		})
	in := input()
	in.ListSettle = 0
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagFailed)
	s.Len(r.Nodes, 3)
	s.GreaterOrEqual(s.elapsed(), DefaultListSettle)
}

// Issue 12, item 4: one empty reply long after the nodes were listed keeps
// the last snapshot; the run goes on to its real verdict.
func (s *workflowSuite) TestOneEmptyReplyIsAnAnomaly() {
	s.mockCreate()
	steps := []any{running, running, running, running, running, running, running, running, running, running}
	steps = append(steps, empty, running, succeeded)
	s.mockSearch(steps...)
	s.env.SetStartTime(s.start)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Len(r.Nodes, 2)
}

// An empty list that persists after nodes were listed ends the watch after
// troubleLimit with no verdict, never FAILED or SUCCEEDED.
func (s *workflowSuite) TestVanishedListEndsWithoutVerdict() {
	s.mockCreate()
	s.mockSearch(running, running, empty)
	r, err := s.run(input())
	s.requireType(err, dag.ErrWatchLost)
	s.Equal(dag.OutcomeRunning, r.Outcome)
	s.Len(r.Nodes, 2, "the last full snapshot is reported")
	s.GreaterOrEqual(s.elapsed(), troubleLimit)
	s.Less(s.elapsed(), troubleLimit+troubleMaxWait+time.Minute)
}

// Issue 12, item 2: an undocumented business error on a read is repeated
// with back-off; the run reaches its verdict when the replies recover.
func (s *workflowSuite) TestUnknownReadErrorIsRetried() {
	s.mockCreate()
	odd := temporal.NewNonRetryableApplicationError("DataWorks SearchManualDagNodeInstance: 9990001: system busy", dag.ErrUnexpectedReply, nil)
	s.mockSearch(running, odd, odd, odd, odd, running, succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
}

// A DagNotFound after the nodes were listed is an anomaly, not an empty list.
func (s *workflowSuite) TestDagNotFoundAfterListingIsRetried() {
	s.mockCreate()
	gone := temporal.NewNonRetryableApplicationError("search DAG: 11020293069", dag.ErrDagNotFound, nil)
	s.mockSearch(running, gone, gone, running, succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
}

// A run that lists fewer nodes than every earlier run of its flow waits for
// the rest before it is judged, and then says so.
func (s *workflowSuite) TestFewerNodesThanHistoryWaits() {
	s.mockCreate()
	s.mockSearch(succeeded)
	in := input()
	in.ListSettle = dag.Duration(time.Minute)
	var runs *activities.Runs
	s.env.RegisterActivity(runs)
	s.env.OnActivity(runs.FlowTimings, mock.Anything, mock.Anything).Return(activities.FlowTimingsResult{Runs: []dag.RunTimings{
		{Names: []string{"load_ods", "dwd_merge", "ads_report"}, Begin: []int32{0, 10, 20}, Finish: []int32{10, 20, 30}},
	}}, nil)
	r, err := s.run(in)
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.GreaterOrEqual(s.elapsed(), 2*time.Minute, "waited twice listSettle for the missing node")
}

// The re-trigger rule inside the workflow: a refusal sends nothing.
func (s *workflowSuite) TestGuardRefusalSendsNothing() {
	s.mockCreateMaybe()
	s.guard = activities.GuardTriggerResult{Refusal: "a run of this bizdate is going on in workflow manualdag/p/f/2024-06-01"}
	r, err := s.run(input())
	s.requireType(err, dag.ErrDuplicateRefused)
	s.Equal(dag.OutcomeRefused, r.Outcome)
	s.Zero(s.creates)
	s.Equal(1, s.guards)
	s.Contains(err.Error(), "going on in workflow")
}

func (s *workflowSuite) TestGuardOutcomeUnknownIsOutcomeUnknown() {
	s.mockCreateMaybe()
	s.guard = activities.GuardTriggerResult{Refusal: "could not tell whether it triggered", ErrorType: dag.ErrTriggerOutcomeUnknown}
	_, err := s.run(input())
	s.requireType(err, dag.ErrTriggerOutcomeUnknown)
	s.Zero(s.creates)
}

func (s *workflowSuite) TestAllowDuplicateSkipsTheGuard() {
	s.mockCreate()
	s.mockSearch(succeeded)
	s.guard = activities.GuardTriggerResult{Refusal: "already succeeded"}
	in := input()
	in.AllowDuplicate = true
	r, err := s.run(in)
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Zero(s.guards)
	s.Equal(1, s.creates)
}

// Following an existing DAG run (input dagId) sends no create, asks no
// guard, and reaches the same verdict and report.
func (s *workflowSuite) TestFollowAnExistingDag() {
	s.mockCreateMaybe()
	s.mockSearch(running, running, blocked)
	in := input()
	in.DagID = 700000000042
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagFailed)
	s.Equal(int64(700000000042), r.DagID)
	s.Equal(dag.OutcomeFailed, r.Outcome)
	s.Zero(s.creates)
	s.Zero(s.guards)
	s.Contains(strings.Join(r.Notes, "\n"), "follows DAG 700000000042")
}

// A reply with as many nodes as before but not the same ones lost an
// instance: no verdict on it (review finding), however often it comes.
func (s *workflowSuite) TestSwappedNodeIsAnAnomaly() {
	s.mockCreate()
	before := nodes(n(1, "load_ods", dag.StatusSuccess), n(2, "dwd_merge", dag.StatusRunning))
	swapped := nodes(n(1, "load_ods", dag.StatusSuccess), n(3, "ads_report", dag.StatusSuccess))
	s.mockSearch(before, before, swapped)
	r, err := s.run(input())
	s.requireType(err, dag.ErrWatchLost)
	s.Equal(dag.OutcomeRunning, r.Outcome)
	s.Contains(err.Error(), "no longer lists dwd_merge")
}

// A blocked DAG whose grace runs out while the daily quota keeps the watch
// from looking is not FAILED at the deadline: nobody saw it stay blocked.
func (s *workflowSuite) TestQuotaPauseAtTheDeadlineIsNoVerdict() {
	s.mockCreate()
	quota := temporal.NewApplicationErrorWithOptions("quota", dag.ErrQuotaExhausted,
		temporal.ApplicationErrorOptions{NonRetryable: true, NextRetryDelay: time.Hour})
	s.mockSearch(blocked, blocked, quota)
	in := input()
	in.Timeout = dag.Duration(10 * time.Minute)
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagTimedOut)
	s.Equal(dag.OutcomeTimedOut, r.Outcome)
}

// Review finding 4: following a DAG of another bizdate gives no verdict for
// this one; the report keeps no DAG id, so the bizdate stays free.
func (s *workflowSuite) TestFollowRefusesADagOfAnotherBizdate() {
	s.mockCreateMaybe()
	day := func(d string, list []dataworks.NodeInstance) []dataworks.NodeInstance {
		t, _ := time.Parse(dag.BizdateLayout, d)
		out := slices.Clone(list)
		for i := range out {
			out[i].Bizdate = t
		}
		return out
	}
	s.mockSearch(day("2024-05-31", succeeded))
	in := input()
	in.DagID = 700000000042
	r, err := s.run(in)
	s.requireType(err, dag.ErrInvalidInput)
	s.Contains(err.Error(), "bizdate 2024-05-31 in DataWorks, not of 2024-06-01")
	s.Equal(dag.OutcomeRefused, r.Outcome)
	s.Zero(r.DagID)
	s.Zero(s.creates)

	s.SetupTest()
	s.mockCreateMaybe()
	s.mockSearch(day("2024-06-01", succeeded))
	r, err = s.run(in)
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(int64(700000000042), r.DagID)
}
