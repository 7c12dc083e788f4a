//go:build e2e

package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/dag"
)

// The sample definition's ids, by which API 2024-05-18 names the project and
// flows (internal/emulator/sample-project.yaml).
const (
	projectID2024  = "10021"
	flowOK2024     = "1002101"
	flowBroken2024 = "1002102"
)

// flowID2024 is each sample flow's id.
var flowID2024 = map[string]string{flowOK: flowOK2024, flowBroken: flowBroken2024}

// testAmbiguousCreate2024: the create reaches DataWorks and its reply is
// lost. Under 2024-05-18 the run is found by its marker and followed to its
// verdict: SUCCEEDED, one workflow instance, one create sent. (Suite 4 of
// TestChaos meets the other 2024 ambiguities.)
func (s *stack) testAmbiguousCreate2024(t *testing.T, bizdate string) {
	before := s.emu.Stats().Calls["CreateWorkflowInstances"].Total
	r := s.starter(t, append(append([]string{"run", "--bizdate", bizdate, "--wait", "--json"}, dagArgs(dag.APIVersion2024, flowOK)...), fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	var rep dag.DagReport
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), "%s", r)
	assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
	assert.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowOK, bizdate), "the lost reply's run, adopted")
	assert.Equal(t, before+1, s.emu.Stats().Calls["CreateWorkflowInstances"].Total, "one create sent")
}
