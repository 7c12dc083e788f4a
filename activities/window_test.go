package activities

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// TestSearchRepeatWindow: a search with a repeat window answers "nothing
// yet" (benign, retried after RepeatEvery, the poll count in its details)
// until the DAG run has news, and then returns the snapshot.
func TestSearchRepeatWindow(t *testing.T) {
	node := func(id int64, st dag.Status) dataworks.NodeInstance {
		return dataworks.NodeInstance{InstanceID: id, NodeName: "n", Status: st}
	}
	running := []dataworks.NodeInstance{node(1, dag.StatusSuccess), node(2, dag.StatusRunning), node(3, dag.StatusNotRun)}
	oneFailed := []dataworks.NodeInstance{node(1, dag.StatusFailure), node(2, dag.StatusRunning), node(3, dag.StatusNotRun)}
	blocked := []dataworks.NodeInstance{node(1, dag.StatusFailure), node(2, dag.StatusSuccess), node(3, dag.StatusNotRun)}
	known := Compact(running, 200, Known{}).Digest
	window := SearchInput{ProjectName: "p", DagID: 1, KnownDigest: known, KnownNodes: 3, RepeatEvery: 15 * time.Second, RepeatPolls: 9}

	for name, tc := range map[string]struct {
		list    []dataworks.NodeInstance
		in      SearchInput
		floor   time.Duration
		nothing bool
		retryIn time.Duration
	}{
		"nothing new":                  {list: running, in: window, nothing: true, retryIn: 15 * time.Second},
		"the budget's floor is longer": {list: running, in: window, floor: time.Minute, nothing: true, retryIn: time.Minute},
		"a node failed":                {list: oneFailed, in: window},
		"a failure already known":      {list: oneFailed, in: func() SearchInput { in := window; in.KnownFailed = 1; return in }(), nothing: true, retryIn: 15 * time.Second},
		"settled":                      {list: blocked, in: window},
		"first sight of the list":      {list: running, in: func() SearchInput { in := window; in.KnownDigest = ""; return in }()},
		"no window":                    {list: running, in: func() SearchInput { in := window; in.RepeatEvery = 0; return in }()},
		"last poll of the window":      {list: running, in: func() SearchInput { in := window; in.RepeatPolls = 1; return in }()},
	} {
		t.Run(name, func(t *testing.T) {
			env := newActivityEnv(t, &fakeDW{list: tc.list})
			if tc.floor > 0 {
				env = newActivityEnvWith(t, &Activities{DW: &fakeDW{list: tc.list}, PollFloor: func() time.Duration { return tc.floor }})
			}
			v, err := env.ExecuteActivity((&Activities{}).SearchManualDagNodeInstance, tc.in)
			if !tc.nothing {
				require.NoError(t, err)
				var res SearchResult
				require.NoError(t, v.Get(&res))
				require.Equal(t, 1, res.Polls)
				return
			}
			appErr := appError(t, err)
			require.Equal(t, dag.ErrNothingYet, appErr.Type())
			require.False(t, appErr.NonRetryable())
			require.Equal(t, tc.retryIn, appErr.NextRetryDelay())
			require.Equal(t, temporal.ApplicationErrorCategoryBenign, appErr.Category())
			var polls int32
			require.NoError(t, appErr.Details(&polls))
			require.Equal(t, int32(1), polls)
		})
	}
}

func TestWindowEndsAfterRepeatPolls(t *testing.T) {
	in := SearchInput{KnownDigest: "d", KnownNodes: 1, RepeatEvery: 10 * time.Second, RepeatPolls: 3}
	active := []dag.Status{dag.StatusRunning}
	require.False(t, in.WindowEnds(active, 1))
	require.False(t, in.WindowEnds(active, 2))
	require.True(t, in.WindowEnds(active, 3))
	require.True(t, in.WindowEnds(nil, 1), "an empty list is news")
}

// A failure-watch window also returns on progress: once ReturnAtDone
// nodes have succeeded, the poll policy may want to move its prediction.
func TestWindowEndsOnProgress(t *testing.T) {
	in := SearchInput{KnownDigest: "d", KnownNodes: 3, RepeatEvery: time.Minute, RepeatPolls: 10, ReturnAtDone: 2}
	one := []dag.Status{dag.StatusSuccess, dag.StatusRunning, dag.StatusNotRun}
	two := []dag.Status{dag.StatusSuccess, dag.StatusSuccess, dag.StatusRunning}
	require.False(t, in.WindowEnds(one, 1))
	require.True(t, in.WindowEnds(two, 2))
	in.ReturnAtDone = 0
	require.False(t, in.WindowEnds(two, 2), "without ReturnAtDone progress is no news")
}

func newActivityEnvWith(t *testing.T, a *Activities) *testsuite.TestActivityEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env
}

// TestRetriesInsideAWindowKeepItsCadence: in a repeat window the attempt
// number counts the window's polls, so a throttle or a transient failure
// late in it must not back off by attempt (poll 8 would wait 5 minutes).
func TestRetriesInsideAWindowKeepItsCadence(t *testing.T) {
	half := func() float64 { return 0.5 }
	throttled := &dataworks.Error{Action: "SearchManualDagNodeInstance", Phase: dataworks.PhaseReplied, HTTPStatus: 429, Code: "Throttling.User"}
	unavailable := &dataworks.Error{Action: "SearchManualDagNodeInstance", Phase: dataworks.PhaseReplied, HTTPStatus: 503, Code: dataworks.CodeServiceUnavailable}

	inWindow := errorMapper{attempt: 8, rnd: half, window: 10 * time.Second}
	require.Equal(t, 10*time.Second, appError(t, inWindow.mapRead(throttled)).NextRetryDelay())
	require.Equal(t, 10*time.Second, appError(t, inWindow.mapRead(unavailable)).NextRetryDelay())
	fast := errorMapper{attempt: 8, rnd: half, window: time.Second}
	require.Equal(t, ThrottleDelay(1, half), appError(t, fast.mapRead(throttled)).NextRetryDelay(), "a throttle never retries sooner than the first back-off")

	single := errorMapper{attempt: 8, rnd: half}
	require.Equal(t, ThrottleDelay(8, half), appError(t, single.mapRead(throttled)).NextRetryDelay(), "outside a window: back off by attempt")
	require.Zero(t, appError(t, single.mapRead(unavailable)).NextRetryDelay(), "outside a window: the retry policy's back-off")
}
