package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// chainRun is a DAG run of the two-node chain of chainProfile, answered from
// the mock clock: extract runs from the trigger to 600 s, load from there
// to end (after the trigger). It keeps when each search came.
type chainRun struct {
	s       *workflowSuite
	end     time.Duration
	trigger time.Time
	looks   []time.Duration // after the trigger, one per DataWorks search
	memo    *dag.RunTimings
}

// mockChain answers the searches from c, FlowTimings with earlier, and keeps
// the timings memo.
func (s *workflowSuite) mockChain(end time.Duration, earlier []dag.RunTimings) *chainRun {
	c := &chainRun{s: s, end: end}
	s.env.OnActivity(a.SearchManualDagNodeInstance, mock.Anything, mock.Anything).Return(c.search)
	var runs *activities.Runs
	s.env.RegisterActivity(runs)
	s.env.OnActivity(runs.FlowTimings, mock.Anything, mock.Anything).Return(activities.FlowTimingsResult{Runs: earlier}, nil).Maybe()
	s.env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		if t, ok := args.Get(0).(map[string]any)[activities.MemoTimings].(dag.RunTimings); ok {
			c.memo = &t
		}
	}).Return(nil)
	return c
}

func (c *chainRun) search(ctx context.Context, in activities.SearchInput) (activities.SearchResult, error) {
	now := c.s.env.Now()
	if c.trigger.IsZero() {
		c.trigger = now
	}
	c.looks = append(c.looks, now.Sub(c.trigger))
	extract := dataworks.NodeInstance{InstanceID: 1, NodeName: "extract", Status: dag.StatusRunning, BeginRunningTime: c.trigger.Add(2 * time.Second)}
	load := dataworks.NodeInstance{InstanceID: 2, NodeName: "load", Status: dag.StatusNotRun}
	if t := c.trigger.Add(600 * time.Second); !now.Before(t) {
		extract.Status, extract.FinishTime = dag.StatusSuccess, t
		load.Status, load.BeginRunningTime = dag.StatusRunning, t.Add(time.Second)
	}
	if t := c.trigger.Add(c.end); !now.Before(t) {
		load.Status, load.FinishTime = dag.StatusSuccess, t
	}
	return windowed(ctx, in, []dataworks.NodeInstance{extract, load})
}

// looksIn counts the searches from..to after the trigger (to excluded).
func (c *chainRun) looksIn(from, to time.Duration) int {
	k := 0
	for _, l := range c.looks {
		if l >= from && l < to {
			k++
		}
	}
	return k
}

// signal sends ev to the run at after (from the workflow's start).
func (s *workflowSuite) signal(after time.Duration, ev dag.Event) {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(dag.SignalEvent, ev) }, after)
}

// statusAt keeps the live report's message at after.
func (s *workflowSuite) statusAt(after time.Duration) *string {
	msg := new(string)
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		var rep dag.DagReport
		s.Require().NoError(v.Get(&rep))
		*msg = rep.Message
	}, after)
	return msg
}

func dagEvent(status dag.Status) dag.Event {
	return dag.Event{ID: "ev-" + string(status), Kind: dag.EventDag, DagID: testDagID, Status: status,
		Final: status == dag.StatusSuccess || status == dag.StatusFailure}
}

// tenMinutes polls every 10 minutes exactly (mode backoff, no jitter), with
// the failure watch out of the way: what events add stands out.
func tenMinutes() RunManualDagInput {
	in := input()
	in.Poll = PollOptions{Mode: PollBackoff, InitialInterval: dag.Duration(10 * time.Minute), MaxInterval: dag.Duration(10 * time.Minute), Multiplier: 1, Jitter: -1}
	in.FailureWatch = dag.Duration(MaxFailureWatch)
	return in
}

// An event makes the run look at once; events that come together, or a
// flood of them, cost one search per eventCoalesce; the rest of the time
// the run polls as its policy says.
func (s *workflowSuite) TestEventLooksNowAndCoalesces() {
	s.mockCreate()
	c := s.mockChain(30*time.Minute, nil)
	// News to the run: load is not running yet in its snapshot.
	running := dag.Event{ID: "load", Kind: dag.EventInstance, DagID: testDagID, InstanceID: 2, Status: dag.StatusRunning}
	s.signal(time.Minute, running)
	s.signal(3*time.Minute, running)
	s.signal(3*time.Minute+500*time.Millisecond, running)
	for i := range 10 {
		s.signal(5*time.Minute+time.Duration(i)*90*time.Millisecond, running)
	}
	status := s.statusAt(6 * time.Minute)
	rep, err := s.run(tenMinutes())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	// The policy's waits count from the last look, whatever caused it.
	after := 5*time.Minute + eventCoalesce
	s.Equal([]time.Duration{0, time.Minute, 3 * time.Minute, 3*time.Minute + eventCoalesce, 5 * time.Minute, after,
		after + 10*time.Minute, after + 20*time.Minute, after + 30*time.Minute}, c.looks)
	s.Equal(len(c.looks), rep.Polls)
	s.Contains(*status, "13 DataWorks events received, the last at 01:05:00 UTC (node 2 RUNNING): each makes the run look now; polling on the normal policy, since no search has confirmed an event yet")
}

// Forged events cost searches, never a verdict: a 'succeeded' and a
// 'failed' DAG event while the nodes run are looked into and change
// nothing; an event about another DAG, or of an unknown kind, costs no
// search at all.
func (s *workflowSuite) TestForgedEventsNeverDecide() {
	s.mockCreate()
	c := s.mockChain(30*time.Minute, nil)
	s.signal(5*time.Minute, dagEvent(dag.StatusSuccess))
	s.signal(12*time.Minute, dagEvent(dag.StatusFailure))
	other := dagEvent(dag.StatusSuccess)
	other.DagID = testDagID + 1
	s.signal(15*time.Minute, other)
	s.signal(16*time.Minute, dag.Event{ID: "odd", Kind: "workflow", DagID: testDagID, Status: dag.StatusSuccess, Final: true})
	status := s.statusAt(23 * time.Minute) // after the look at 22:30
	rep, err := s.run(tenMinutes())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome, "the verdict the search gave at the real end")
	s.GreaterOrEqual(rep.FinishedAt.Sub(c.trigger), 30*time.Minute, "not before the DAG ended")
	s.Equal(1, c.looksIn(30*time.Minute, time.Hour), "one look after the end")
	// The look each forged final event caused, and four more into it
	// within eventConfirm (DataWorks' node list may lag its DAG status).
	s.Equal([]time.Duration{5 * time.Minute, 5*time.Minute + 2*time.Second, 5*time.Minute + 6*time.Second, 5*time.Minute + 14*time.Second, 5*time.Minute + 30*time.Second},
		c.looks[1:6])
	s.Equal(5, c.looksIn(12*time.Minute, 13*time.Minute))
	s.Zero(c.looksIn(15*time.Minute, 20*time.Minute), "events about another DAG or of another kind cost nothing")
	s.Contains(*status, "2 DataWorks events about other DAGs ignored")
	s.Contains(*status, "running: ")
}

// A forged 'failed' event while a node has failed and the DAG is blocked
// does not shorten blockedGrace, nor does a forged 'succeeded' one make the
// blocked DAG a success: FAILED, when the grace says so.
func (s *workflowSuite) TestForgedEventsDoNotShortenTheGrace() {
	s.mockCreate()
	s.mockSearch(running, blocked)
	s.signal(5*time.Second, dagEvent(dag.StatusFailure))
	s.signal(9*time.Second, dagEvent(dag.StatusSuccess))
	rep, err := s.run(input())
	s.requireType(err, dag.ErrDagFailed)
	s.Equal(dag.OutcomeFailed, rep.Outcome)
	s.GreaterOrEqual(s.elapsed(), DefaultBlockedGrace)
}

// Once a search confirms an event, and no earlier run of the flow missed
// one, events lead: polling backs off to EventSafetyNet, and the final event
// brings the verdict within a second. The memo keeps how events served.
func (s *workflowSuite) TestEventsLeanOnTheSafetyNet() {
	s.mockCreate()
	c := s.mockChain(1750*time.Second, eventsProfile())
	s.signal(time.Second, dagEvent(dag.StatusRunning))
	s.signal(1751*time.Second, dagEvent(dag.StatusSuccess))
	status := s.statusAt(15 * time.Minute)
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Equal(1751*time.Second, rep.FinishedAt.Sub(c.trigger), "seen at the final event")
	// The running event tells the first look nothing new: it costs no
	// search, and the wait is chosen again from it.
	s.Equal([]time.Duration{0, time.Second + EventSafetyNet, time.Second + 2*EventSafetyNet, 1751 * time.Second}, c.looks)
	s.Contains(*status, "events lean: 1 DataWorks events received, the last at 01:00:01 UTC (DAG RUNNING); polling only every 10m0s as a safety net")
	s.Require().NotNil(c.memo)
	s.Equal(int32(2), c.memo.Events)
	s.Zero(c.memo.EventMiss)
}

// A lost final event: the safety net sees the end, and the memo keeps the
// miss, so that the flow's next runs do not let events lead.
func (s *workflowSuite) TestLostFinalEventIsSeenByTheSafetyNetAndKept() {
	s.mockCreate()
	c := s.mockChain(1750*time.Second, eventsProfile())
	s.signal(time.Second, dagEvent(dag.StatusRunning))
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Equal(time.Second+3*EventSafetyNet, rep.FinishedAt.Sub(c.trigger), "the safety net's look")
	s.Len(c.looks, 4)
	s.Require().NotNil(c.memo)
	s.Equal(int32(1), c.memo.Events)
	s.Equal(int32(1), c.memo.EventMiss)
}

// Events fall silent: past the predicted end and EventSilence with no
// event, the run polls on its normal policy again and says so.
func (s *workflowSuite) TestEventSilenceFallsBackToThePolicy() {
	s.mockCreate()
	c := s.mockChain(time.Hour, eventsProfile())
	s.signal(time.Second, dagEvent(dag.StatusRunning))
	lean := s.statusAt(20 * time.Minute)
	silent := s.statusAt(50 * time.Minute)
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Contains(*lean, "events lean")
	s.Contains(*silent, "no DataWorks event since 01:00:01 UTC; polling on the normal policy")
	s.LessOrEqual(rep.FinishedAt.Sub(c.trigger.Add(time.Hour)), DefaultPromptInterval, "the normal policy sees the end within its prompt wait")
	// Lean until the silence (the profile's end, about 30 minutes, and
	// the margin), then the policy's prompt polling past its prediction.
	s.LessOrEqual(c.looksIn(2*time.Second, 30*time.Minute), 3)
	s.GreaterOrEqual(c.looksIn(40*time.Minute, time.Hour), int(20*time.Minute/DefaultPromptInterval))
}

// A flow never seen before has no record that its events arrive: they only
// make the run look now, and the poll policy keeps its pace, so that a lost
// final event costs no promptness. The final event still brings the
// verdict at once.
func (s *workflowSuite) TestEventsOnlyHintAFirstTimeRun() {
	s.mockCreate()
	c := s.mockChain(2*time.Hour, nil)
	s.signal(time.Second, dagEvent(dag.StatusRunning))
	s.signal(2*time.Hour+time.Second, dagEvent(dag.StatusSuccess))
	status := s.statusAt(90 * time.Minute)
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.LessOrEqual(rep.FinishedAt.Sub(c.trigger), 2*time.Hour+time.Second)
	s.GreaterOrEqual(c.looksIn(2*time.Second, 2*time.Hour), int(2*time.Hour/DefaultFailureWatch), "the policy's pace, at least the failure watch's")
	s.Contains(*status, "0 of the flow's earlier runs received DataWorks events, and events lead from 3")
	s.Require().NotNil(c.memo)
	s.Equal(int32(2), c.memo.Events, "the memo counts the events, so that the flow's next runs may trust them")
	s.Zero(c.memo.EventMiss)
}

// Three earlier runs that received every event: events lead a run, until
// its final event, and a run then looks only every EventSafetyNet.
func (s *workflowSuite) TestEventsLeadOnceThreeRunsReceivedThem() {
	s.mockCreate()
	c := s.mockChain(1750*time.Second, eventsProfile())
	s.signal(time.Second, dagEvent(dag.StatusRunning))
	s.signal(1751*time.Second, dagEvent(dag.StatusSuccess))
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(1751*time.Second, rep.FinishedAt.Sub(c.trigger))
	s.LessOrEqual(len(c.looks), 2+int(1750*time.Second/EventSafetyNet), "looks: %v", c.looks)
}

// Two earlier runs with events are not enough: the run keeps its policy's
// pace, and says why.
func (s *workflowSuite) TestTwoRunsWithEventsAreNotEnough() {
	s.mockCreate()
	c := s.mockChain(1750*time.Second, append(eventsProfile()[:2], chainProfile()[2])) // the third received none
	s.signal(time.Second, dagEvent(dag.StatusRunning))
	s.signal(1751*time.Second, dagEvent(dag.StatusSuccess))
	status := s.statusAt(15 * time.Minute)
	_, err := s.run(input())
	s.Require().NoError(err)
	s.Contains(*status, "2 of the flow's earlier runs received DataWorks events")
	s.Greater(len(c.looks), 2+int(1750*time.Second/EventSafetyNet), "the policy's pace")
}

// eventsProfile is chainProfile as runs that received both DAG events.
func eventsProfile() []dag.RunTimings {
	runs := chainProfile()
	for i := range runs {
		runs[i].Events = 2
	}
	return runs
}

// An earlier run of the flow missed an event: events only make the run look
// now; the failure watch and the policy keep their pace.
func (s *workflowSuite) TestHistoryMissKeepsEventsHinting() {
	s.mockCreate()
	earlier := chainProfile()
	earlier[1].Events, earlier[1].EventMiss = 1, 1
	earlier[0].Events = 2
	c := s.mockChain(1750*time.Second, earlier)
	s.signal(time.Second, dagEvent(dag.StatusRunning))
	s.signal(1751*time.Second, dagEvent(dag.StatusSuccess))
	status := s.statusAt(15 * time.Minute)
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.LessOrEqual(rep.FinishedAt.Sub(c.trigger), 1751*time.Second, "the final event (or the policy) sees the end at once")
	s.Contains(*status, "since an earlier run of this flow missed a DataWorks event")
	s.GreaterOrEqual(c.looksIn(2*time.Second, 1750*time.Second), int(1748*time.Second/DefaultFailureWatch), "the failure watch looks every minute")
}

// A run on its poll policy that sees the end before the final event comes
// (a race, not a loss) does not count the final event as missed: else the
// flow's next runs would stay on their policy, and lose the race again.
func (s *workflowSuite) TestFinalEventRacingTheEndIsNoMiss() {
	s.mockCreate()
	earlier := chainProfile()
	earlier[1].Events, earlier[1].EventMiss = 1, 1
	c := s.mockChain(1750*time.Second, earlier)
	s.signal(time.Second, dagEvent(dag.StatusRunning))
	s.signal(1790*time.Second, dagEvent(dag.StatusSuccess)) // after the policy's look
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Less(rep.FinishedAt.Sub(c.trigger), 1750*time.Second+eventLate, "the policy saw the end first")
	s.Require().NotNil(c.memo)
	s.Equal(int32(1), c.memo.Events)
	s.Zero(c.memo.EventMiss, "the final event was on its way, not lost")
}

// Signals alone can make the history long while events lead and the run
// sleeps (an event about another DAG asks for no look): the watch wakes and
// continues as new then, not at the safety net's look minutes later.
func (s *workflowSuite) TestSignalsWakeTheWatchToContinueAsNew() {
	s.mockCreate()
	c := s.mockChain(3*time.Hour, eventsProfile())
	s.signal(time.Second, dagEvent(dag.StatusRunning)) // confirmed by the first look: events lead
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 5*time.Minute)
	s.signal(5*time.Minute+time.Second, dag.Event{ID: "other", Kind: dag.EventDag, DagID: testDagID + 1, Status: dag.StatusRunning})
	s.env.ExecuteWorkflow(WorkflowName, input())
	err := s.env.GetWorkflowError()
	next, ok := continuedInput(err)
	s.Require().True(ok, "%v", err)
	s.Equal(int64(testDagID), next.Continued.DagID, "the next run follows the same DAG")
	s.Less(s.env.Now().Sub(c.trigger), 6*time.Minute, "woken by the signal, not by the safety net (10 min)")
}

// Events that come before the DAG id is known are hints: the one about the
// DAG the create returns is checked by the first look (no look of its
// own), the other ignored; events then lead.
func (s *workflowSuite) TestEventBeforeTheDagIDIsKnown() {
	s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).After(30*time.Second).Return(activities.CreateManualDagResult{DagID: testDagID}, nil)
	c := s.mockChain(1750*time.Second, eventsProfile())
	s.signal(10*time.Second, dagEvent(dag.StatusRunning))
	other := dagEvent(dag.StatusRunning)
	other.DagID = 42
	s.signal(11*time.Second, other)
	status := s.statusAt(5 * time.Minute)
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Equal(0, c.looksIn(time.Second, 10*time.Minute), "one look at the trigger checks the hint; none more until the safety net")
	s.Contains(*status, "events lean: 1 DataWorks events received, the last at 01:00:30 UTC (DAG RUNNING)")
	s.Contains(*status, "1 DataWorks events about other DAGs ignored")
}

// An event cuts a repeat window short: a flow never seen before polls in
// windows every 18 s, and the final event is seen at once, not at the
// window's next poll. Every search is counted.
func (s *workflowSuite) TestEventCutsARepeatWindowShort() {
	s.mockCreate()
	c := s.mockChain(10*time.Minute+5*time.Second, nil)
	s.signal(10*time.Minute+5500*time.Millisecond, dagEvent(dag.StatusSuccess))
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Equal(10*time.Minute+5500*time.Millisecond, rep.FinishedAt.Sub(c.trigger))
	s.Equal(len(c.looks), rep.Polls, "the cut window's polls are counted")
}

// What a look must show to confirm an event; a look confirms, never decides.
func TestEventAgrees(t *testing.T) {
	node := func(id int64, st dag.Status) dag.Node { return dag.Node{ID: id, Status: st} }
	going := []dag.Node{node(1, dag.StatusSuccess), node(2, dag.StatusRunning)}
	waiting := []dag.Node{node(1, dag.StatusSuccess), node(2, dag.StatusNotRun)} // the downstream not moved yet
	done := []dag.Node{node(1, dag.StatusSuccess), node(2, dag.StatusSuccess)}
	blocked := []dag.Node{node(1, dag.StatusFailure), node(2, dag.StatusNotRun)}
	odd := []dag.Node{node(1, dag.StatusSuccess), node(2, "CODE_9")}
	instance := func(id int64, final bool) dag.Event {
		return dag.Event{Kind: dag.EventInstance, DagID: testDagID, InstanceID: id, Final: final}
	}
	for _, tc := range []struct {
		name  string
		ev    dag.Event
		nodes []dag.Node
		want  bool
	}{
		{"running, going on", dagEvent(dag.StatusRunning), going, true},
		{"running, not moved on yet", dagEvent(dag.StatusRunning), waiting, true},
		{"running, ended", dagEvent(dag.StatusRunning), done, false},
		{"running, nothing listed", dagEvent(dag.StatusRunning), nil, false},
		{"succeeded, ended", dagEvent(dag.StatusSuccess), done, true},
		{"failed, blocked", dagEvent(dag.StatusFailure), blocked, true},
		{"succeeded, going on", dagEvent(dag.StatusSuccess), going, false},
		{"succeeded, a status nobody documented", dagEvent(dag.StatusSuccess), odd, false},
		{"node final, final", instance(2, true), done, true},
		{"node final, running", instance(2, true), going, false},
		{"node running, running", instance(2, false), going, true},
		{"unknown node", instance(9, false), going, false},
	} {
		if got := eventAgrees(tc.ev, tc.nodes, dagEnded(tc.nodes)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
