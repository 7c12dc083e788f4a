package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// chainProfile is three earlier runs of a two-node chain: extract runs from
// the trigger to about 10 minutes, load from there to about 30.
func chainProfile() []dag.RunTimings {
	run := func(extract, end int32) dag.RunTimings {
		return dag.RunTimings{Names: []string{"extract", "load"}, Begin: []int32{2, extract + 1}, Finish: []int32{extract, end}}
	}
	return []dag.RunTimings{run(600, 1800), run(590, 1790), run(610, 1815)}
}

func TestPredictivePolicy(t *testing.T) {
	trigger := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	policy, err := input().PollPolicy(trigger)
	require.NoError(t, err)
	p := policy.(PredictivePolicy)
	prof := dag.ProfileOf(chainProfile())
	at := func(sec int) time.Time { return trigger.Add(time.Duration(sec) * time.Second) }
	obs := func(now int, nodes ...dag.Node) Observation {
		return Observation{Now: at(now), TriggeredAt: trigger, Nodes: nodes, Profile: prof, Seed: 1}
	}
	node := func(name string, st dag.Status, begin, finish int) dag.Node {
		nd := dag.Node{Name: name, Status: st}
		if begin >= 0 {
			nd.Begin = at(begin).Unix()
		}
		if finish >= 0 {
			nd.Finish = at(finish).Unix()
		}
		return nd
	}

	// Far from any predicted end: the longest wait.
	early := p.Next(obs(0, node("extract", dag.StatusRunning, 2, -1), node("load", dag.StatusNotRun, -1, -1)))
	require.LessOrEqual(t, early, p.MaxWait)
	require.GreaterOrEqual(t, early.Seconds(), p.MaxWait.Seconds()*(1-p.Jitter)-1, "nothing can end for ~30 minutes")

	// Load started late (at 700 s instead of ~600 s): the end moves with it,
	// and a minute before it the waits are still long.
	lateStart := obs(2000-500, node("extract", dag.StatusSuccess, 2, 699), node("load", dag.StatusRunning, 700, -1))
	require.Greater(t, p.Next(lateStart), 2*time.Minute, "the predicted end is (700+~1200) s, still 400 s away")

	// Right at the predicted end, and a little before it: the prompt
	// wait, never longer (jitter only shortens it).
	for _, at := range []int{1800, 1740} {
		atEnd := p.Next(obs(at, node("extract", dag.StatusSuccess, 2, 600), node("load", dag.StatusRunning, 601, -1)))
		require.LessOrEqual(t, atEnd, p.Prompt)
		require.GreaterOrEqual(t, atEnd.Seconds(), p.Prompt.Seconds()*(1-p.Jitter)-0.01)
	}
	require.Equal(t, DefaultPromptInterval, p.Prompt)

	// Five minutes before it: a wait that ends where the end becomes
	// likely, not a prompt one.
	before := p.Next(obs(1500, node("extract", dag.StatusSuccess, 2, 600), node("load", dag.StatusRunning, 601, -1)))
	require.Greater(t, before, time.Minute)
	require.Less(t, before, 5*time.Minute)

	// Long overdue, later than every earlier run: the fallback's prompt
	// polling, as for a flow never seen before.
	overdueObs := obs(1800+3600, node("extract", dag.StatusSuccess, 2, 600), node("load", dag.StatusRunning, 601, -1))
	require.Equal(t, p.Fallback.Next(overdueObs), p.Next(overdueObs))
	require.LessOrEqual(t, p.Next(overdueObs), time.Duration(float64(DefaultPromptInterval)*(1+p.Jitter)))

	// Waits never pass MaxWait, jitter included.
	for seed := range uint64(50) {
		o := obs(0, node("extract", dag.StatusRunning, 2, -1), node("load", dag.StatusNotRun, -1, -1))
		o.Seed = seed
		require.LessOrEqual(t, p.Next(o), p.MaxWait)
	}

	// What the profile cannot say goes to the fallback.
	// An earlier run that lacks a pending node is left out; the others
	// still predict.
	partial := append(chainProfile(), dag.RunTimings{Names: []string{"extract"}, Begin: []int32{2}, Finish: []int32{600}})
	withPartial := obs(0, node("extract", dag.StatusRunning, 2, -1), node("load", dag.StatusNotRun, -1, -1))
	withPartial.Profile = dag.ProfileOf(partial)
	require.Equal(t, 4, withPartial.Profile.Runs())
	require.Equal(t, early, p.Next(withPartial), "the three complete runs predict as before")

	fallback := obs(0, node("extract", dag.StatusRunning, 2, -1), node("new_node", dag.StatusNotRun, -1, -1))
	require.Equal(t, p.Fallback.Next(fallback), p.Next(fallback), "a node no earlier run had")
	noProfile := obs(0, node("extract", dag.StatusRunning, 2, -1))
	noProfile.Profile = nil
	require.Equal(t, p.Fallback.Next(noProfile), p.Next(noProfile))
	malformed := obs(0, node("extract", dag.StatusRunning, 2, -1))
	malformed.Profile = &dag.Profile{Names: []string{"extract"}, Begin: [][]int32{{1}}, Finish: [][]int32{{1, 2}}}
	require.Equal(t, p.Fallback.Next(malformed), p.Next(malformed), "a profile with a short row")
	blocked := obs(600, node("extract", dag.StatusFailure, 2, 600), node("load", dag.StatusNotRun, -1, -1))
	require.Equal(t, p.Fallback.Next(blocked), p.Next(blocked), "nothing left that can run: Decide's grace decides")

	backoff, err := RunManualDagInput{ProjectName: "p", FlowName: "f", Poll: PollOptions{Mode: PollBackoff}}.PollPolicy(trigger)
	require.NoError(t, err)
	require.IsType(t, BackoffPolicy{}, backoff)
	_, err = RunManualDagInput{ProjectName: "p", FlowName: "f", Poll: PollOptions{Mode: "smart"}}.PollPolicy(trigger)
	require.ErrorContains(t, err, `poll.mode "smart" is not "predictive"`)
}

func TestProfileOfAlignsRunsByName(t *testing.T) {
	trigger := time.Unix(1_700_000_000, 0)
	nodes := []dag.Node{
		{ID: 1, Name: "a", Status: dag.StatusSuccess, Begin: trigger.Unix() + 1, Finish: trigger.Unix() + 10},
		{ID: 2, Name: "a", Status: dag.StatusSuccess, Begin: trigger.Unix() + 11, Finish: trigger.Unix() + 20},
		{ID: 3, Name: "b", Status: dag.StatusSuccess},
	}
	got := dag.TimingsOf(nodes, trigger)
	require.Equal(t, dag.RunTimings{Names: []string{"a", "a#2", "b"}, Begin: []int32{1, 11, -1}, Finish: []int32{10, 20, -1}}, got)
	early := dag.TimingsOf([]dag.Node{{ID: 1, Name: "start", Status: dag.StatusSuccess, Begin: trigger.Unix() - 2, Finish: trigger.Unix() - 1}}, trigger)
	require.Equal(t, []int32{0}, early.Begin, "DataWorks started it before the workflow saw the trigger's reply: at the trigger")
	require.Equal(t, []int32{0}, early.Finish)

	older := dag.RunTimings{Names: []string{"b", "c"}, Begin: []int32{0, 5}, Finish: []int32{4, 9}}
	bad := dag.RunTimings{Names: []string{"x"}, Begin: []int32{1, 2}, Finish: []int32{3}}
	p := dag.ProfileOf([]dag.RunTimings{got, bad, older})
	require.Equal(t, []string{"a", "a#2", "b", "c"}, p.Names)
	require.Equal(t, [][]int32{{10, 20, -1, -1}, {-1, -1, 4, 9}}, p.Finish, "the malformed run is left out")
	require.Equal(t, [][]int32{{1, 11, -1, -1}, {-1, -1, 0, 5}}, p.Begin)

	many := make([]dag.RunTimings, 20)
	for i := range many {
		many[i] = got
	}
	require.Equal(t, dag.MaxTimingRuns, dag.ProfileOf(many).Runs())
	require.Nil(t, dag.ProfileOf(nil))
}

// TestPredictiveRunLearnsAndKeepsTimings runs a DAG that ends 1,800 s after
// its trigger, as its earlier runs did: the workflow waits long while
// nothing can end, sees the end within MinWait, and keeps its own timings.
func (s *workflowSuite) TestPredictiveRunLearnsAndKeepsTimings() {
	s.mockCreate()
	var runs *activities.Runs
	s.env.RegisterActivity(runs)
	var asked activities.FlowTimingsInput
	s.env.OnActivity(runs.FlowTimings, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FlowTimingsInput) (activities.FlowTimingsResult, error) {
			asked = in
			return activities.FlowTimingsResult{Runs: chainProfile()}, nil
		})
	var trigger time.Time
	var looks []time.Time
	s.env.OnActivity(a.SearchManualDagNodeInstance, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SearchInput) (activities.SearchResult, error) {
			now := s.env.Now()
			looks = append(looks, now)
			if trigger.IsZero() {
				trigger = now
			}
			extract := dataworks.NodeInstance{InstanceID: 1, NodeName: "extract", Status: dag.StatusRunning, BeginRunningTime: trigger.Add(2 * time.Second)}
			load := dataworks.NodeInstance{InstanceID: 2, NodeName: "load", Status: dag.StatusNotRun}
			if t := trigger.Add(600 * time.Second); !now.Before(t) {
				extract.Status, extract.FinishTime = dag.StatusSuccess, t
				load.Status, load.BeginRunningTime = dag.StatusRunning, t.Add(time.Second)
			}
			if t := trigger.Add(1805 * time.Second); !now.Before(t) {
				load.Status, load.FinishTime = dag.StatusSuccess, t
			}
			list := []dataworks.NodeInstance{extract, load}
			if !in.WindowEnds([]dag.Status{extract.Status, load.Status}, activity.GetInfo(ctx).Attempt) {
				return activities.SearchResult{}, in.NothingYet(activity.GetInfo(ctx).Attempt, 0)
			}
			return activities.Compact(list, 200, in.Known()), nil
		})
	var memo map[string]any
	s.env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		if m := args.Get(0).(map[string]any); m[activities.MemoTimings] != nil {
			memo = m
		}
	}).Return(nil)

	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Equal(activities.FlowTimingsInput{ProjectName: "demo_project", FlowName: "daily_sales", WorkflowType: WorkflowName}, asked)
	delay := rep.FinishedAt.Sub(trigger.Add(1805 * time.Second))
	s.GreaterOrEqual(delay, time.Duration(0))
	s.LessOrEqual(delay, DefaultPromptInterval, "seen within the prompt wait of the end")
	// Fixed 30 s would poll 61 times in these 30 minutes, fixed 5 s 362;
	// the failure watch looks at least once a minute: 30 looks.
	s.Less(rep.Polls, 50, "polls: %d", rep.Polls)
	for i := 1; i < len(looks); i++ {
		s.LessOrEqual(looks[i].Sub(looks[i-1]), DefaultFailureWatch, "look %d came %v after the one before", i, looks[i].Sub(looks[i-1]))
	}
	s.Require().NotNil(memo, "a successful run keeps its timings")
	kept := memo[activities.MemoTimings].(dag.RunTimings)
	s.Equal([]string{"extract", "load"}, kept.Names)
	s.Equal([]int32{600, 1805}, kept.Finish)
}

// TestContinueAsNewBeforeTheHistoryIsFull: a run whose history nears
// historyEventLimit continues as new after its next poll, carrying the
// profile it loaded, long before continueAsNewEvery polls.
func (s *workflowSuite) TestContinueAsNewBeforeTheHistoryIsFull() {
	s.mockCreate()
	s.mockSearch(running)
	var runs *activities.Runs
	s.env.RegisterActivity(runs)
	s.env.OnActivity(runs.FlowTimings, mock.Anything, mock.Anything).Return(activities.FlowTimingsResult{Runs: chainProfile()}, nil)
	s.env.SetCurrentHistoryLength(historyEventLimit)
	_, err := s.run(input())
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(err, &can)
	var next RunManualDagInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.Require().NotNil(next.Continued)
	s.Equal(1, next.Continued.Polls, "continued after one poll, not %d", continueAsNewPolls)
	s.True(next.Continued.ProfileLoaded)
	s.Equal(3, next.Continued.Profile.Runs())
}

// TestDailyBudgetStretchesWaits: when the worker's daily budget sets a floor
// (carried by the search result), no wait between polls is shorter.
func (s *workflowSuite) TestDailyBudgetStretchesWaits() {
	s.mockCreate()
	polls := 0
	s.env.OnActivity(a.SearchManualDagNodeInstance, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SearchInput) (activities.SearchResult, error) {
			polls++
			list := running
			if polls == 4 {
				list = succeeded
			}
			res := activities.Compact(list, 200, in.Known())
			res.PollFloor = 40 * time.Minute
			return res, nil
		})
	var waits []time.Duration
	s.env.SetOnTimerScheduledListener(func(_ string, d time.Duration) {
		if d < DefaultTimeout { // not the deadline's timer
			waits = append(waits, d)
		}
	})
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Len(waits, 3)
	for _, w := range waits {
		s.GreaterOrEqual(w, 40*time.Minute)
	}
}

// TestRepeatWindowsKeepHistoryShort: a flow never seen before runs for an
// hour. Without a profile the run polls promptly (at most
// DefaultPromptInterval apart, jitter aside), yet the search activity
// returns to the workflow, and so writes history, about once per window.
func (s *workflowSuite) TestRepeatWindowsKeepHistoryShort() {
	s.mockCreate()
	var trigger time.Time
	polls, returns := 0, 0
	s.env.OnActivity(a.SearchManualDagNodeInstance, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SearchInput) (activities.SearchResult, error) {
			now := s.env.Now()
			if trigger.IsZero() {
				trigger = now
			}
			polls++
			list := running
			if !now.Before(trigger.Add(time.Hour)) {
				list = succeeded
			}
			res, err := windowed(ctx, in, list)
			if err == nil {
				returns++
			}
			return res, err
		})
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Equal(polls, rep.Polls, "every search is counted")
	s.GreaterOrEqual(polls, int(time.Hour/(DefaultPromptInterval*11/10)), "prompt polling")
	s.LessOrEqual(returns, polls/5, "returns to the workflow: %d for %d polls", returns, polls)
	delay := rep.FinishedAt.Sub(trigger.Add(time.Hour))
	s.LessOrEqual(delay, DefaultPromptInterval*11/10, "seen within one prompt interval")
}
