//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// `starter backfill` over three days, one of which `starter run` has
// already run: the other two run as children on their usual workflow ids,
// the third is skipped. Run again, it skips all three without a create.
// A bizdate whose earlier trigger has an unknown outcome is refused.
func TestBackfill(t *testing.T) {
	t.Parallel()
	s := newStack(t)

	r := s.starter(t, append([]string{"run", "--project", project, "--flow", flowOK, "--bizdate", "2024-06-02", "--wait"}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	before := s.emu.CreatedDAGs(project, flowOK, "2024-06-02")
	require.Len(t, before, 1)

	backfill := func(from, to string) (result, workflows.BackfillReport) {
		r := s.starter(t, append([]string{"backfill", "--project", project, "--flow", flowOK, "--from", from, "--to", to,
			"--parallel", "2", "--param", "env=backfill", "--wait", "--json"}, fastPoll...)...)
		var rep workflows.BackfillReport
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), "%s", r)
		return r, rep
	}
	byDate := func(rep workflows.BackfillReport) map[string]workflows.BizdateResult {
		m := map[string]workflows.BizdateResult{}
		for _, x := range rep.Results {
			m[x.Bizdate] = x
		}
		return m
	}

	r, rep := backfill("2024-06-01", "2024-06-03")
	require.Equal(t, 0, r.Code, "%s", r)
	assert.Contains(t, r.Stderr, "started backfill manualdag-backfill/"+project+"/"+flowOK+"/2024-06-01..2024-06-03")
	got := byDate(rep)
	require.Len(t, got, 3)
	for _, d := range []string{"2024-06-01", "2024-06-03"} {
		assert.Equal(t, dag.OutcomeSucceeded, got[d].Outcome, "%s: %+v", d, got[d])
		assert.Equal(t, "manualdag/"+project+"/"+flowOK+"/"+d, got[d].WorkflowID)
		assert.Equal(t, []int64{got[d].DagID}, s.emu.CreatedDAGs(project, flowOK, d), "%s: one create, the reported DAG", d)
		info, _ := s.emu.DAG(got[d].DagID)
		assert.Equal(t, emulator.DAGSuccess, info.Status)
		for _, n := range info.Nodes {
			assert.Contains(t, n.ParaValue, "env=backfill")
		}
	}
	assert.Equal(t, dag.OutcomeSkipped, got["2024-06-02"].Outcome)
	assert.Contains(t, got["2024-06-02"].Message, "already succeeded")
	assert.Equal(t, before, s.emu.CreatedDAGs(project, flowOK, "2024-06-02"), "the succeeded bizdate is not triggered again")
	assert.Equal(t, "backfill demo_project/daily_sales 2024-06-01..2024-06-03: 3 bizdates, 2 succeeded, 1 skipped", rep.Message)

	// Again: everything succeeded already.
	r, rep = backfill("2024-06-01", "2024-06-03")
	require.Equal(t, 0, r.Code, "%s", r)
	assert.Equal(t, map[dag.Outcome]int{dag.OutcomeSkipped: 3}, rep.Counts)
	for _, d := range []string{"2024-06-01", "2024-06-02", "2024-06-03"} {
		assert.Len(t, s.emu.CreatedDAGs(project, flowOK, d), 1, "%s", d)
	}

	// A trigger whose reply was lost: the backfill refuses that bizdate
	// (exit 1) and runs the next.
	s.emu.SetFaults("CreateManualDag", emulator.Faults{DropRate: 1})
	r = s.starter(t, append([]string{"run", "--project", project, "--flow", flowOK, "--bizdate", "2024-06-10", "--wait"}, fastPoll...)...)
	s.emu.ClearFaults("CreateManualDag")
	require.Equal(t, 4, r.Code, "%s", r)
	r, rep = backfill("2024-06-10", "2024-06-11")
	require.Equal(t, 1, r.Code, "%s", r)
	got = byDate(rep)
	assert.Equal(t, dag.OutcomeRefused, got["2024-06-10"].Outcome)
	assert.Contains(t, got["2024-06-10"].Message, "could not tell whether it triggered")
	assert.Equal(t, dag.OutcomeSucceeded, got["2024-06-11"].Outcome)
	assert.Len(t, s.emu.CreatedDAGs(project, flowOK, "2024-06-10"), 1, "no second create for the refused bizdate")

	// The table form names each bizdate.
	r = s.starter(t, "backfill", "--project", project, "--flow", flowOK, "--from", "2024-06-01", "--to", "2024-06-01", "--wait")
	require.Equal(t, 0, r.Code, "%s", r)
	assert.True(t, strings.HasPrefix(r.Stdout, "backfill demo_project/daily_sales 2024-06-01..2024-06-01: 1 bizdate, 1 skipped\nBIZDATE"), "%s", r.Stdout)
}
