//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// Bizdates of flowProfile: a run as usual (the history), a run whose long
// node fails a quarter of the way through, and a run at half its usual
// time (a light day).
const (
	profileUsual  = "2024-10-01"
	profileFails  = "2024-10-02"
	profileLight  = "2024-10-03"
	failureMargin = 15 * time.Second // a shared, loaded machine
	endMargin     = 10 * time.Second
)

// profileFlow is a two-node chain: extract for 20 s (real time, at the
// stack's time scale), then transform for 120 s, except on the bizdates
// above.
func profileFlow() emulator.Flow {
	scaled := func(d time.Duration) *emulator.Duration { x := emulator.Duration(d * timeScale); return &x }
	return emulator.Flow{Name: flowProfile, Nodes: []emulator.Node{
		{ID: 103990101, Name: "extract", Duration: scaled(20 * time.Second), ByBizdate: map[string]emulator.NodeVariant{
			profileLight: {Duration: scaled(10 * time.Second)},
		}},
		{ID: 103990102, Name: "transform", Upstream: []int64{103990101}, Duration: scaled(120 * time.Second), ByBizdate: map[string]emulator.NodeVariant{
			profileFails: {Duration: scaled(10 * time.Second), Outcome: emulator.OutcomeFailure},
			profileLight: {Duration: scaled(60 * time.Second)},
		}},
	}}
}

// The default poll policy on the real server (issue 14): after one usual
// run, a failure early in the long node is reported FAILED within the
// failure watch (60 s), although the profile says the DAG cannot end for
// two minutes; and a run at half its usual time is seen to end within the
// 20 s goal, although the profile says it ends much later. Without the
// failure watch the first would be reported some 80 s after the failure,
// and without the watch's return on progress the second some 40 s late.
func (s *stack) testPromptVerdicts(t *testing.T) {
	t.Parallel()
	start := func(bizdate string) string {
		r := s.starter(t, "run", "--project", project, "--flow", flowProfile, "--bizdate", bizdate, "--list-settle", "2s")
		require.Equal(t, 0, r.Code, "%s", r)
		return workflows.BizdateWorkflowID(project, flowProfile, bizdate)
	}
	wait := func(id string) dag.DagReport {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var rep dag.DagReport
		err := s.client.GetWorkflow(ctx, id, "").Get(ctx, &rep)
		if err != nil {
			var ok bool
			rep, ok = workflows.ReportFromError(err)
			require.True(t, ok, "%s: %v", id, err)
		}
		return rep
	}
	usual := wait(start(profileUsual))
	require.Equal(t, dag.OutcomeSucceeded, usual.Outcome, "%s", usual.Message)

	failsID, lightID := start(profileFails), start(profileLight)
	fails, light := wait(failsID), wait(lightID)

	require.Equal(t, dag.OutcomeFailed, fails.Outcome, "%s", fails.Message)
	assert.Equal(t, []string{"transform"}, fails.FailedNodes)
	info, _ := s.emu.DAG(fails.DagID)
	failedAt := nodeFinish(t, info, "transform")
	late := fails.FinishedAt.Sub(failedAt)
	t.Logf("failure at %s, reported FAILED %v later, after %d polls", failedAt.Format(time.TimeOnly), late, fails.Polls)
	assert.LessOrEqual(t, late, workflows.DefaultFailureWatch+failureMargin, "FAILED reported within the failure watch")

	require.Equal(t, dag.OutcomeSucceeded, light.Outcome, "%s", light.Message)
	info, _ = s.emu.DAG(light.DagID)
	late = light.FinishedAt.Sub(info.FinishedAt)
	t.Logf("light run ended at %s (%v after its trigger), seen %v later, after %d polls",
		info.FinishedAt.Format(time.TimeOnly), info.FinishedAt.Sub(info.CreatedAt).Round(time.Second), late, light.Polls)
	assert.LessOrEqual(t, late, workflows.DelayGoal+endMargin, "the end of a run shorter than its history seen within the goal")
}

func nodeFinish(t *testing.T, info emulator.DAGInfo, name string) time.Time {
	t.Helper()
	for _, n := range info.Nodes {
		if n.Name == name {
			return n.FinishedAt
		}
	}
	t.Fatalf("DAG %d has no node %s", info.DagID, name)
	return time.Time{}
}
