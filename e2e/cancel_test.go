//go:build e2e

package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// TestCancelDuringCreateRetry cancels a workflow the moment the create's
// first attempt is over, after that attempt recorded its intent, sent the
// create (the emulator started the DAG) and died with its worker. Had
// Temporal retried the attempt, the retry would wait out its back-off not
// started, and the server answers a cancel of it at once, without the
// attempt's heartbeat details: the run then read as "canceled before a DAG
// run was triggered" and the next start sent a second create (issue 12,
// item 3). The run must end saying the trigger's outcome is unknown (or
// CANCELED with the DAG), and a new start for the bizdate is refused.
func TestCancelDuringCreateRetry(t *testing.T) {
	s := newStack(t)
	const bizdate, queue = "2024-08-01", "manualdag-e2e-cancel-create"
	id := "manualdag/" + project + "/" + flowOK + "/" + bizdate
	first := s.startWorker(t, queue)
	// The create is processed at once and answered late: the worker dies
	// while it waits for the reply.
	s.emu.SetFaults("CreateManualDag", emulator.Faults{Latency: 20 * time.Second})
	defer s.emu.ClearFaults("CreateManualDag")

	r := s.starter(t, append([]string{"run", "--project", project, "--flow", flowOK, "--bizdate", bizdate, "--task-queue", queue}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	dagID := s.dagFor(t, flowOK, bizdate)
	first.kill()
	s.startWorker(t, queue)

	// The dead attempt is over after the 30 s heartbeat timeout: then
	// either a retry waits out its back-off (the defect) or the workflow
	// has settled the create by itself.
	inBackoff, status := false, enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED
	waitFor(t, 2*time.Minute, "the create's first attempt is over", func() bool {
		d, err := s.client.DescribeWorkflow(testContext(t), id, "")
		require.NoError(t, err)
		status = d.RawResponse.GetWorkflowExecutionInfo().GetStatus()
		if status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return true
		}
		for _, pa := range d.RawResponse.GetPendingActivities() {
			if pa.GetActivityType().GetName() == "CreateManualDag" && pa.GetAttempt() > 1 && pa.GetState() == enums.PENDING_ACTIVITY_STATE_SCHEDULED {
				inBackoff = true
				return true
			}
		}
		return false
	}, nil)
	t.Logf("the first attempt is over: workflow %v, a retry in back-off: %v", status, inBackoff)
	if err := s.client.CancelWorkflow(testContext(t), id, ""); err != nil {
		t.Logf("cancel: %v", err)
	}

	ctx := testContext(t)
	err := s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	require.Error(t, err)
	rep, ok := workflows.ReportFromError(err)
	require.True(t, ok, "the run's end carries the report: %v", err)
	assert.NotContains(t, rep.Message, "canceled before a DAG run was triggered", "a DAG was triggered")
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case errors.As(err, &appErr):
		assert.Equal(t, dag.ErrTriggerOutcomeUnknown, appErr.Type(), "%v", err)
		assert.Contains(t, rep.Message, "Manual Instances")
	case errors.As(err, &canceled):
		assert.Equal(t, dag.OutcomeCanceled, rep.Outcome)
		assert.Equal(t, dagID, rep.DagID, "CANCELED names the DAG the create started")
	default:
		t.Fatalf("the run ended with %v", err)
	}

	s.emu.ClearFaults("CreateManualDag")
	again := s.starter(t, append([]string{"run", "--project", project, "--flow", flowOK, "--bizdate", bizdate, "--task-queue", queue, "--wait"}, fastPoll...)...)
	assert.Equal(t, 4, again.Code, "a new start is refused: %s", again)
	assert.Equal(t, []int64{dagID}, s.emu.CreatedDAGs(project, flowOK, bizdate), "one create for the bizdate")
}
