package workflows

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// against today's RunManualDag. A failure means a change is not replay-safe:
// workflows running when it is deployed would break. The end-to-end tests
// record them, from the repository root:
//
//	MANUALDAG_RECORD_HISTORIES=1 MANUALDAG_TEMPORAL_CLI=$PWD/.tools/temporal-v1.5.1/temporal \
//	    go test -race -tags e2e -count=1 -run TestEndToEnd ./e2e/
//
// That overwrites the files named in e2e's recordedRuns (succeeded.json,
// failed.json, canceled.json, canceled-stop.json, timed-out-stop.json,
// rerun.json; visibility-failed.json comes from the observability test).
// Before the first tagged release there are no version gates: a change to
// the workflow's commands re-records them (docs/design.md, "Versioning").
// From then on, keep the files of each release beside the new ones.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no histories in testdata/histories to replay: record them as the comment of this test says")
	logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			require.NoError(t, err)
			defer f.Close()
			h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			require.NoError(t, err)
			require.NotEmpty(t, h.GetEvents())
			started := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
			require.NotNil(t, started, "%s does not begin with WorkflowExecutionStarted", file)
			require.Equal(t, WorkflowName, started.GetWorkflowType().GetName())

			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflow(RunManualDag)
			// The original workflow id: the poll jitter is seeded from it.
			exec := workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()}
			require.NoError(t, replayer.ReplayWorkflowHistoryWithOptions(logger, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: exec}))

		})
	}
}
