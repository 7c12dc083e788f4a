//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// A Temporal Schedule made with `starter schedule create`: triggered now,
// its run triggers the DAG for the day before its scheduled time in the
// schedule's time zone; backfilled over June 2024, each run takes the date
// before its own scheduled time, not before today. Then pause, unpause and
// delete.
func TestSchedule(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const id = "e2e-daily-sales"
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)

	r := s.starter(t, append([]string{"schedule", "create", id, "--project", project, "--flow", flowOK,
		"--cron", "0 2 * * *", "--timezone", "Asia/Shanghai", "--param", "env=scheduled", "--note", "e2e"}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	assert.Equal(t, id, strings.TrimSpace(r.Stdout))
	assert.Contains(t, r.Stderr, "next run: ")

	r = s.starter(t, "schedule", "list")
	require.Equal(t, 0, r.Code, "%s", r)
	assert.Contains(t, r.Stdout, id)
	assert.Contains(t, r.Stdout, project+"/"+flowOK)
	assert.Contains(t, r.Stdout, "hour=2 ", "the server keeps the cron as a calendar")
	assert.Contains(t, r.Stdout, "(Asia/Shanghai)")

	var desc struct {
		Timezone string                      `json:"timezone"`
		Input    workflows.RunManualDagInput `json:"input"`
		Next     []struct {
			ScheduledAt time.Time `json:"scheduledAt"`
			Bizdate     string    `json:"bizdate"`
		} `json:"nextRuns"`
	}
	r = s.starter(t, "schedule", "describe", id, "--json")
	require.Equal(t, 0, r.Code, "%s", r)
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &desc), "%s", r)
	assert.Equal(t, "Asia/Shanghai", desc.Timezone)
	assert.Empty(t, desc.Input.Bizdate, "the action carries no bizdate")
	assert.Equal(t, flowOK, desc.Input.FlowName)
	require.NotEmpty(t, desc.Next)
	next := desc.Next[0].ScheduledAt.In(shanghai)
	assert.Equal(t, 2, next.Hour(), "02:00 in Shanghai")
	assert.Equal(t, next.AddDate(0, 0, -1).Format(time.DateOnly), desc.Next[0].Bizdate)

	// Trigger: the run's scheduled time is now.
	r = s.starter(t, "schedule", "trigger", id)
	require.Equal(t, 0, r.Code, "%s", r)
	runID := s.scheduledRun(t, id, func(a client.ScheduleActionResult) bool { return true })
	rep := s.scheduledReport(t, runID)
	scheduled := s.scheduledStartTime(t, runID)
	assert.WithinDuration(t, time.Now(), scheduled, 5*time.Minute)
	want := scheduled.In(shanghai).AddDate(0, 0, -1).Format(time.DateOnly)
	assert.Equal(t, want, rep.Bizdate, "the day before the scheduled time, in Shanghai")
	assert.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowOK, want))
	assert.True(t, strings.HasPrefix(runID, id+"-"), "scheduled runs' ids are the schedule id and the time: %s", runID)

	// Backfill two past days through the schedule: bizdates from the
	// scheduled times, whatever today is.
	h := s.client.ScheduleClient().GetHandle(testContext(t), id)
	require.NoError(t, h.Backfill(testContext(t), client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{
		Start:   time.Date(2024, 6, 1, 0, 0, 0, 0, shanghai),
		End:     time.Date(2024, 6, 3, 0, 0, 0, 0, shanghai),
		Overlap: enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
	}}}))
	for _, tc := range []struct{ at, bizdate string }{
		{"2024-05-31T18:00:00Z", "2024-05-31"}, // 02:00 on 1 June in Shanghai
		{"2024-06-01T18:00:00Z", "2024-06-01"},
	} {
		at, err := time.Parse(time.RFC3339, tc.at)
		require.NoError(t, err)
		wid := s.scheduledRun(t, id, func(a client.ScheduleActionResult) bool { return a.ScheduleTime.Equal(at) })
		assert.Equal(t, id+"-"+tc.at, wid)
		rep := s.scheduledReport(t, wid)
		assert.Equal(t, tc.bizdate, rep.Bizdate, "run scheduled at %s", tc.at)
		assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
		assert.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowOK, tc.bizdate))
		info, _ := s.emu.DAG(rep.DagID)
		for _, n := range info.Nodes {
			assert.Contains(t, n.ParaValue, "env=scheduled", "the schedule's parameters reach DataWorks")
		}
	}

	for _, op := range []string{"pause", "unpause"} {
		r = s.starter(t, "schedule", op, id, "--note", "e2e "+op)
		require.Equal(t, 0, r.Code, "%s", r)
		r = s.starter(t, "schedule", "describe", id)
		require.Equal(t, 0, r.Code, "%s", r)
		assert.Contains(t, r.Stdout, "paused "+map[string]string{"pause": "true", "unpause": "false"}[op])
		assert.Contains(t, r.Stdout, "e2e "+op)
	}
	r = s.starter(t, "schedule", "delete", id)
	require.Equal(t, 0, r.Code, "%s", r)
	r = s.starter(t, "schedule", "describe", id)
	require.Equal(t, 2, r.Code, "%s", r)
	assert.Contains(t, r.Stderr, "not found")
}

// scheduledRun waits for a recent action of the schedule that match accepts
// and returns its workflow id.
func (s *stack) scheduledRun(t *testing.T, scheduleID string, match func(client.ScheduleActionResult) bool) string {
	t.Helper()
	var wid string
	waitFor(t, time.Minute, "a run of schedule "+scheduleID, func() bool {
		d, err := s.client.ScheduleClient().GetHandle(testContext(t), scheduleID).Describe(testContext(t))
		require.NoError(t, err)
		for _, a := range d.Info.RecentActions {
			if a.StartWorkflowResult != nil && match(a) {
				wid = a.StartWorkflowResult.WorkflowID
				return true
			}
		}
		return false
	}, nil)
	return wid
}

func (s *stack) scheduledReport(t *testing.T, workflowID string) dag.DagReport {
	t.Helper()
	ctx := testContext(t)
	var rep dag.DagReport
	require.NoError(t, s.client.GetWorkflow(ctx, workflowID, "").Get(ctx, &rep), "workflow %s", workflowID)
	return rep
}

// scheduledStartTime is the TemporalScheduledStartTime the server set.
func (s *stack) scheduledStartTime(t *testing.T, workflowID string) time.Time {
	t.Helper()
	d, err := s.client.DescribeWorkflow(testContext(t), workflowID, "")
	require.NoError(t, err)
	p := d.RawResponse.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.ScheduledStartTime.GetName()]
	require.NotNil(t, p, "no %s on %s", workflows.ScheduledStartTime.GetName(), workflowID)
	var at time.Time
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &at))
	return at
}
