//go:build e2e

package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/internal/emulator"
)

// The sample definition's ids, by which API 2024-05-18 names the project and
// flows (internal/emulator/sample-project.yaml).
const (
	projectID2024  = "10021"
	flowOK2024     = "1002101"
	flowBroken2024 = "1002102"
)

// testRun2024: the two sample flows through the 2024-05-18 calls (the
// asynchronous CreateWorkflowInstances, ListTaskInstances, GetTaskInstanceLog),
// named by id: SUCCEEDED and FAILED, one workflow instance each, tagged with
// the run's marker.
func (s *stack) testRun2024(t *testing.T) {
	t.Parallel()
	const bizdate = "2024-12-02" // no other test runs these flows on it
	r := s.starter(t, append([]string{"run", "--project", projectID2024, "--flow", flowOK2024, "--bizdate", bizdate,
		"--api-version", dag.APIVersion2024, "--param", "env=e2e", "--wait", "--json"}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	var rep dag.DagReport
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), "%s", r)
	assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
	assert.Len(t, rep.Nodes, len(dailySalesNodes))
	require.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowOK, bizdate), "exactly one workflow instance, the reported one")
	info, _ := s.emu.DAG(rep.DagID)
	assert.Equal(t, dag.APIVersion2024, info.APIVersion)
	assert.NotEmpty(t, info.Tags[dataworks.MarkerTagKey], "the run carries its marker")

	f := s.starter(t, append([]string{"run", "--project", projectID2024, "--flow", flowBroken2024, "--bizdate", bizdate,
		"--api-version", dag.APIVersion2024, "--wait"}, fastPoll...)...)
	require.Equal(t, 1, f.Code, "%s", f)
	assert.Equal(t, []string{"dwd_orders_merge"}, listLine(t, f.Stdout, "failed:"))
	assert.ElementsMatch(t, []string{"dws_sales_daily", "ads_sales_report"}, listLine(t, f.Stdout, "blocked:"))
	assert.Contains(t, f.Stdout, "ODPS-0130071", "the failed node's log tail (GetTaskInstanceLog)")
	assert.Len(t, s.emu.CreatedDAGs(project, flowBroken, bizdate), 1)
}

// testAmbiguousCreate2024: the create reaches DataWorks and its reply is
// lost. Under 2024-05-18 the run is found by its marker and followed to its
// verdict: SUCCEEDED, one workflow instance, one create sent.
func (s *stack) testAmbiguousCreate2024(t *testing.T) {
	const bizdate = "2024-07-02"
	s.emu.SetFaults("CreateWorkflowInstances", emulator.Faults{DropRate: 1})
	defer s.emu.ClearFaults("CreateWorkflowInstances")
	before := s.emu.Stats().Calls["CreateWorkflowInstances"].Total

	r := s.starter(t, append([]string{"run", "--project", projectID2024, "--flow", flowOK2024, "--bizdate", bizdate,
		"--api-version", dag.APIVersion2024, "--wait", "--json"}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	var rep dag.DagReport
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), "%s", r)
	assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
	assert.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowOK, bizdate), "the lost reply's run, adopted")
	assert.Equal(t, before+1, s.emu.Stats().Calls["CreateWorkflowInstances"].Total, "one create sent")
}
