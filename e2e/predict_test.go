//go:build e2e

package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// A successful run keeps its node timings in its memo, and a later run of
// the same flow reads them back through Temporal's visibility (the
// FlowTimings activity) to predict its polls.
func (s *stack) testLearnsFromEarlierRuns(t *testing.T) {
	t.Parallel()
	first := workflows.BizdateWorkflowID(project, flowOK, "2024-09-01")
	second := workflows.BizdateWorkflowID(project, flowOK, "2024-09-02")
	for _, bizdate := range []string{"2024-09-01", "2024-09-02"} {
		r := s.starter(t, append([]string{"run", "--project", project, "--flow", flowOK, "--bizdate", bizdate, "--wait", "--json"}, fastPoll...)...)
		require.Equal(t, 0, r.Code, "%s", r)
	}

	ctx := testContext(t)
	d, err := s.client.DescribeWorkflow(ctx, first, "")
	require.NoError(t, err)
	p, ok := d.RawResponse.GetWorkflowExecutionInfo().GetMemo().GetFields()[activities.MemoTimings]
	require.True(t, ok, "the first run's memo keeps its timings")
	var kept dag.RunTimings
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &kept))
	assert.ElementsMatch(t, dailySalesNodes, kept.Names)
	for i, f := range kept.Finish {
		assert.GreaterOrEqual(t, f, kept.Begin[i], "node %s: %s", kept.Names[i], mustJSON(kept))
		assert.GreaterOrEqual(t, kept.Begin[i], int32(0), "node %s began after the trigger: %s", kept.Names[i], mustJSON(kept))
	}
	t.Logf("kept: %s", mustJSON(kept))

	// The second run's history holds what FlowTimings found: at least the
	// first run (other tests run the same flow too).
	var learned *activities.FlowTimingsResult
	iter := s.client.GetWorkflowHistory(ctx, second, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]string{}
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[e.GetEventId()] = a.GetActivityType().GetName()
		}
		if c := e.GetActivityTaskCompletedEventAttributes(); c != nil && scheduled[c.GetScheduledEventId()] == "FlowTimings" {
			learned = &activities.FlowTimingsResult{}
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(c.GetResult(), learned))
		}
	}
	require.NotNil(t, learned, "the second run looked up the flow's earlier runs")
	require.NotEmpty(t, learned.Runs, "and found some: %s", mustJSON(learned))
	assert.ElementsMatch(t, dailySalesNodes, learned.Runs[0].Names)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
