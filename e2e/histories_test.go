//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/manualdag/manualdag/internal/emulator"
)

// historyDir holds the recorded histories that workflows/replay_test.go
// replays.
var historyDir = filepath.Join("..", "workflows", "testdata", "histories")

// recordedRuns are the runs whose histories RecordHistories keeps.
var recordedRuns = []string{"succeeded", "failed", "canceled", "canceled-stop", "timed-out-stop", "rerun"}

// The AccessKey secret the workers sign with appears in no workflow history
// (payloads decoded, as the Web UI shows them) and in no process output.
func (s *stack) testNoSecret(t *testing.T) {
	// The emulator knows this one key, so every call it answered proves the
	// worker held the secret.
	if s.emu.Stats().Calls["CreateManualDag"].Outcomes[emulator.OutcomeOK] == 0 {
		t.Skip("no DAG was triggered (the runs were filtered out by -run)")
	}
	ctx := testContext(t)
	var token []byte
	var n int
	readable := temporalproto.CustomJSONMarshalOptions{Metadata: map[string]any{commonpb.EnablePayloadShorthandMetadataKey: true}}
	for {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		require.NoError(t, err)
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			b, err := readable.Marshal(s.history(t, id, e.GetExecution().GetRunId()))
			require.NoError(t, err)
			require.Contains(t, string(b), "projectName", "%s: payloads must be readable for this check to mean anything", id)
			assert.NotContains(t, string(b), s.secret, "the history of %s holds the AccessKey secret", id)
			n++
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	require.NotZero(t, n, "no workflow listed")
	t.Logf("checked %d histories", n)

	s.mu.Lock()
	workers := append([]*process(nil), s.workers...)
	s.mu.Unlock()
	for _, w := range workers {
		out := w.output()
		require.Contains(t, out, accessKeyID, "%s: its log must be captured for this check to mean anything", w.name)
		assert.NotContains(t, out, s.secret, "%s logged the AccessKey secret", w.name)
	}
	assert.NotContains(t, s.temporal.proc.output(), s.secret, "the Temporal server logged the AccessKey secret")
}

// With MANUALDAG_RECORD_HISTORIES=1, the histories of recordedRuns (a
// succeeded, a failed and a cancelled run; a cancel and a deadline that stop
// the DAG's instances; a rerun through the rerunFailed update) are written
// for the replay test, in the JSON of
// `temporal workflow show --output json` (what the SDK's replayer reads).
func (s *stack) testRecordHistories(t *testing.T, runsPassed bool) {
	if os.Getenv("MANUALDAG_RECORD_HISTORIES") != "1" {
		t.Skip("set MANUALDAG_RECORD_HISTORIES=1 to write the runs' histories to " + historyDir)
	}
	require.True(t, runsPassed, "not recording the histories of runs that failed their tests")
	require.NoError(t, os.MkdirAll(historyDir, 0o755))
	for _, name := range recordedRuns {
		s.mu.Lock()
		id, ok := s.recorded[name]
		s.mu.Unlock()
		require.True(t, ok, "the %s run did not happen: record with the whole TestEndToEnd", name)
		h := s.history(t, id, "")
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
		require.NoError(t, err)
		back, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
		require.NoError(t, err)
		require.Len(t, back.GetEvents(), len(h.GetEvents()), "the history must read back as the replayer reads it")
		path := filepath.Join(historyDir, name+".json")
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
		t.Logf("wrote %s: %d events of %s", path, len(h.GetEvents()), id)
	}
}

func (s *stack) history(t *testing.T, id, runID string) *historypb.History {
	t.Helper()
	iter := s.client.GetWorkflowHistory(testContext(t), id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	return h
}
