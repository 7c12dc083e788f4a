//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// TestEndToEnd runs DAGs through the real worker and starter binaries, a
// Temporal dev server and the emulator over signed HTTP. The runs share the
// stack and go in parallel, each on its own bizdate (so its own workflow id
// and its own DAGs at the emulator); the checks over all of them come after.
func TestEndToEnd(t *testing.T) {
	s := newStack(t)
	runsPassed := t.Run("runs", func(t *testing.T) {
		t.Run("StarterRunSucceeds", s.testStarterRunSucceeds)
		t.Run("StarterRunFails", s.testStarterRunFails)
		t.Run("TemporalCLI", s.testTemporalCLI)
		t.Run("StatusAndCancel", s.testStatusAndCancel)
		t.Run("WorkerKilledMidRun", s.testWorkerKilledMidRun)
		t.Run("InvalidInput", s.testInvalidInput)
		t.Run("LearnsFromEarlierRuns", s.testLearnsFromEarlierRuns)
		t.Run("PromptVerdicts", s.testPromptVerdicts)
		s.runOperations(t) // operations_test.go
	})
	// Faults are set per action for the whole emulator: after the parallel runs.
	t.Run("AmbiguousCreate", s.testAmbiguousCreate)
	t.Run("NoSecretInHistoriesOrLogs", s.testNoSecret)
	t.Run("RecordHistories", func(t *testing.T) { s.testRecordHistories(t, runsPassed) })
}

var dailySalesNodes = []string{"start_daily_sales", "ods_orders_sync", "ods_customers_sync",
	"dwd_orders_clean", "dwd_customers_clean", "dws_sales_daily", "ads_sales_report"}

// dagNames are the project and the flow as version names them: names, or
// under 2024-05-18 the ids.
func dagNames(version, flow string) (projectName, flowName string) {
	if version == dag.APIVersion2024 {
		return projectID2024, flowID2024[flow]
	}
	return project, flow
}

// dagArgs are the starter's flags that name flow under version. 2018-06-01
// is the worker's default, given by no flag.
func dagArgs(version, flow string) []string {
	p, f := dagNames(version, flow)
	args := []string{"--project", p, "--flow", f}
	if version != dag.APIVersion2018 {
		args = append(args, "--api-version", version)
	}
	return args
}

// eachVersion runs test under each API version, in parallel subtests named
// by the version, each on its bizdate.
func eachVersion(t *testing.T, bizdates map[string]string, test func(t *testing.T, version, bizdate string)) {
	for _, version := range dag.APIVersions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			require.NotEmpty(t, bizdates[version], "no bizdate for %s", version)
			test(t, version, bizdates[version])
		})
	}
}

// A flow that succeeds, through `starter run --wait --json`, under each API
// version: exit 0, every node SUCCESS, one create at DataWorks, flow and
// node parameters delivered, and a second start of the bizdate refused.
// Under 2024-05-18 the run is a workflow instance tagged with the run's
// marker.
func (s *stack) testStarterRunSucceeds(t *testing.T) {
	t.Parallel()
	bizdates := map[string]string{dag.APIVersion2018: "2024-06-01", dag.APIVersion2020: "2024-12-03", dag.APIVersion2024: "2024-12-02"}
	eachVersion(t, bizdates, func(t *testing.T, version, bizdate string) {
		r := s.starter(t, append(append([]string{"run", "--bizdate", bizdate, "--param", "env=e2e", "--node-param", "103180025:region=east",
			"--wait", "--json"}, dagArgs(version, flowOK)...), fastPoll...)...)
		require.Equal(t, 0, r.Code, "%s", r)

		var rep dag.DagReport
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), "%s", r)
		assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
		assert.Equal(t, bizdate, rep.Bizdate)
		var names []string
		for _, n := range rep.Nodes {
			names = append(names, n.Name)
			assert.Equal(t, dag.StatusSuccess, n.Status, "node %s", n.Name)
		}
		assert.ElementsMatch(t, dailySalesNodes, names)
		assert.Empty(t, rep.FailedNodes)
		assert.Empty(t, rep.BlockedNodes)
		assert.Empty(t, rep.UnfinishedNodes)

		require.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowOK, bizdate), "exactly one create, the reported DAG")
		info, _ := s.emu.DAG(rep.DagID)
		assert.Equal(t, emulator.DAGSuccess, info.Status)
		assert.Equal(t, version, info.APIVersion)
		for _, n := range info.Nodes {
			if n.NodeID == 103180025 {
				assert.ElementsMatch(t, []string{"env=e2e", "region=east"}, strings.Fields(n.ParaValue), "flow and node parameters reached DataWorks")
			}
		}
		if version == dag.APIVersion2024 {
			assert.NotEmpty(t, info.Tags[dataworks.MarkerTagKey], "the run carries its marker")
		}

		p, f := dagNames(version, flowOK)
		id := workflows.BizdateWorkflowID(p, f, bizdate)
		assert.Contains(t, r.Stderr, "started workflow "+id)
		assert.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, s.workflowStatus(t, id))
		if version == dag.APIVersion2018 {
			s.record("succeeded", id)
		}

		// A retried pipeline step does not trigger a succeeded bizdate again.
		again := s.starter(t, append([]string{"run", "--bizdate", bizdate, "--wait"}, dagArgs(version, flowOK)...)...)
		require.Equal(t, 2, again.Code, "%s", again)
		assert.Contains(t, again.Stderr, "already succeeded")
		assert.Len(t, s.emu.CreatedDAGs(project, flowOK, bizdate), 1)
	})
}

// A flow where one node fails and blocks two, under each API version: exit
// 1, and both the printed report and the failure Temporal stores name the
// failed and blocked nodes. 2020-05-18 reports a failed node's error
// message, and 2024-05-18 shows its log tail (GetTaskInstanceLog); 2018-06-01
// has neither.
func (s *stack) testStarterRunFails(t *testing.T) {
	t.Parallel()
	bizdates := map[string]string{dag.APIVersion2018: "2024-12-04", dag.APIVersion2020: "2024-06-01", dag.APIVersion2024: "2024-12-02"}
	eachVersion(t, bizdates, func(t *testing.T, version, bizdate string) {
		r := s.starter(t, append(append([]string{"run", "--bizdate", bizdate, "--wait"}, dagArgs(version, flowBroken)...), fastPoll...)...)
		require.Equal(t, 1, r.Code, "%s", r)
		assert.Contains(t, r.Stdout, "FAILED")
		if version != dag.APIVersion2018 {
			assert.Contains(t, r.Stdout, "ODPS-0130071", "the node's error message is in the report")
		}
		assert.Equal(t, []string{"dwd_orders_merge"}, listLine(t, r.Stdout, "failed:"))
		assert.ElementsMatch(t, []string{"dws_sales_daily", "ads_sales_report"}, listLine(t, r.Stdout, "blocked:"))

		p, f := dagNames(version, flowBroken)
		id := workflows.BizdateWorkflowID(p, f, bizdate)
		ctx := testContext(t)
		err := s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr)
		assert.Equal(t, dag.ErrDagFailed, appErr.Type())
		rep, ok := workflows.ReportFromError(err)
		require.True(t, ok, "the failure carries the report: %v", err)
		assert.Equal(t, dag.OutcomeFailed, rep.Outcome)
		assert.Equal(t, []string{"dwd_orders_merge"}, rep.FailedNodes)
		assert.ElementsMatch(t, []string{"dws_sales_daily", "ads_sales_report"}, rep.BlockedNodes)

		// What the Web UI and `temporal workflow show` display.
		closed := s.closeEvent(t, id)
		require.Equal(t, enums.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, closed.GetEventType())
		msg := closed.GetWorkflowExecutionFailedEventAttributes().GetFailure().GetMessage()
		for _, name := range []string{"dwd_orders_merge", "dws_sales_daily", "ads_sales_report"} {
			assert.Contains(t, msg, name, "the failure message Temporal stores")
		}
		assert.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowBroken, bizdate))
		if version == dag.APIVersion2020 {
			s.record("failed", id)
		}
	})
}

// The workflow started by the plain Temporal CLI with hand-written JSON
// input, its result read back by the CLI: input field names and the result
// shape are a contract with callers other than the starter.
func (s *stack) testTemporalCLI(t *testing.T) {
	t.Parallel()
	const bizdate, id = "2024-06-02", "e2e-temporal-cli"
	input := `{"projectName":"demo_project","flowName":"daily_sales_broken","bizdate":"2024-06-02",
		"dagParameters":"env=cli","nodeParameters":{"103190025":{"region":"west"}},
		"poll":{"initialInterval":"1s","maxInterval":"3s"},"blockedGrace":"5s","listSettle":"2s","failOnDagFailure":false}`
	cli, err := temporalCLI()
	require.NoError(t, err)
	r := runCommand(t, time.Minute, nil, cli, "workflow", "start", "--address", s.temporal.Address,
		"--type", workflows.WorkflowName, "--task-queue", workflows.TaskQueue, "--workflow-id", id, "--input", input)
	require.Equal(t, 0, r.Code, "%s", r)

	r = runCommand(t, 2*time.Minute, nil, cli, "workflow", "result", "--address", s.temporal.Address,
		"--workflow-id", id, "--output", "json")
	require.Equal(t, 0, r.Code, "%s", r)
	var res struct {
		Status string        `json:"status"`
		Result dag.DagReport `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), "%s", r)
	require.Equal(t, "COMPLETED", res.Status, "failOnDagFailure false completes with the report")
	rep := res.Result
	assert.Equal(t, dag.OutcomeFailed, rep.Outcome)
	assert.Equal(t, bizdate, rep.Bizdate)
	assert.Equal(t, []string{"dwd_orders_merge"}, rep.FailedNodes)
	assert.ElementsMatch(t, []string{"dws_sales_daily", "ads_sales_report"}, rep.BlockedNodes)
	assert.Contains(t, rep.Message, "dwd_orders_merge")

	require.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowBroken, bizdate))
	info, _ := s.emu.DAG(rep.DagID)
	for _, n := range info.Nodes {
		if n.NodeID == 103190025 {
			assert.ElementsMatch(t, []string{"env=cli", "region=west"}, strings.Fields(n.ParaValue), "flow and node parameters reached DataWorks")
		}
	}
}

// `starter status` on a running DAG, then `starter cancel`: the workflow
// ends CANCELED with a CANCELED report, and status reads it back.
func (s *stack) testStatusAndCancel(t *testing.T) {
	t.Parallel()
	const bizdate = "2024-06-04"
	r := s.starter(t, append([]string{"run", "--project", project, "--flow", flowSlow, "--bizdate", bizdate}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	id := strings.TrimSpace(r.Stdout)
	require.Equal(t, "manualdag/"+project+"/"+flowSlow+"/"+bizdate, id)

	dagID := s.dagFor(t, flowSlow, bizdate)
	var st result
	waitFor(t, time.Minute, "starter status shows the running DAG", func() bool {
		st = s.starter(t, "status", id)
		return st.Code == 0 && strings.Contains(st.Stdout, fmt.Sprintf("DataWorks DAG %d ", dagID)) &&
			strings.Contains(st.Stdout, "RUNNING") && strings.Contains(st.Stdout, "slow_node")
	}, func() string { return st.String() })
	st = s.starter(t, "status", id, "--json")
	require.Equal(t, 0, st.Code, "%s", st)
	var live dag.DagReport
	require.NoError(t, json.Unmarshal([]byte(st.Stdout), &live), "%s", st)
	assert.Equal(t, dag.OutcomeRunning, live.Outcome)
	assert.Equal(t, dagID, live.DagID)

	// A second start for the bizdate while the first runs is refused.
	again := s.starter(t, append([]string{"run", "--project", project, "--flow", flowSlow, "--bizdate", bizdate}, fastPoll...)...)
	require.Equal(t, 2, again.Code, "%s", again)
	assert.Contains(t, again.Stderr, "already going on")

	c := s.starter(t, "cancel", id)
	require.Equal(t, 0, c.Code, "%s", c)
	ctx := testContext(t)
	err := s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	require.ErrorAs(t, err, &canceled)
	rep, ok := workflows.ReportFromError(err)
	require.True(t, ok, "the cancellation carries the report: %v", err)
	assert.Equal(t, dag.OutcomeCanceled, rep.Outcome)
	assert.Equal(t, dagID, rep.DagID)
	assert.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_CANCELED, s.workflowStatus(t, id))

	st = s.starter(t, "status", id)
	require.Equal(t, 0, st.Code, "%s", st)
	assert.Contains(t, st.Stdout, "CANCELED")
	assert.Equal(t, []int64{dagID}, s.emu.CreatedDAGs(project, flowSlow, bizdate))
	s.record("canceled", id)
}

// A worker killed (SIGKILL) while it watches a DAG and another started in
// its place: the run completes SUCCEEDED from the history, without a second
// create. It has a task queue and workers of its own, so the kill touches
// no other test.
func (s *stack) testWorkerKilledMidRun(t *testing.T) {
	t.Parallel()
	const bizdate, queue = "2024-06-05", "manualdag-e2e-restart"
	first := s.startWorker(t, queue)
	run := startProcess(t, "starter run (worker restart)", []string{"TEMPORAL_ADDRESS=" + s.temporal.Address},
		filepath.Join(binDir, "starter"), append([]string{"run", "--project", project, "--flow", flowOK, "--bizdate", bizdate,
			"--task-queue", queue, "--wait"}, fastPoll...)...)
	id := "manualdag/" + project + "/" + flowOK + "/" + bizdate

	dagID := s.dagFor(t, flowOK, bizdate)
	// Kill once the create's result is in the history and the watch has
	// begun: the new worker must go on from there. (Killed in the middle of
	// a search, the run would still complete, after the search's 30 s
	// start-to-close timeout.)
	waitFor(t, time.Minute, "the workflow watches its DAG", func() bool {
		rep, err := s.query(id)
		return err == nil && rep.DagID == dagID && rep.Polls > 0
	}, nil)
	first.kill()
	if info, _ := s.emu.DAG(dagID); info.Status != emulator.DAGRunning {
		t.Logf("the DAG was %s already when the worker was killed", info.Status)
	}
	s.startWorker(t, queue)

	require.Equal(t, 0, run.wait(t, 3*time.Minute), "%s", run.output())
	assert.Contains(t, run.output(), "SUCCEEDED")
	ctx := testContext(t)
	var rep dag.DagReport
	require.NoError(t, s.client.GetWorkflow(ctx, id, "").Get(ctx, &rep))
	assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
	assert.Equal(t, dagID, rep.DagID)
	assert.Len(t, rep.Nodes, len(dailySalesNodes))
	assert.Equal(t, []int64{dagID}, s.emu.CreatedDAGs(project, flowOK, bizdate), "one create across both workers")
}

// Input the starter refuses: exit 2 and nothing started, neither a
// workflow nor a DAG.
func (s *stack) testInvalidInput(t *testing.T) {
	t.Parallel()
	const bizdate = "2024-06-06"
	for i, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"month 13", []string{"--flow", flowOK, "--bizdate", "2024-13-01"}, "--bizdate"},
		{"parameter value with a space", []string{"--flow", flowOK, "--bizdate", bizdate, "--param", "a=b c"}, "white space"},
		{"parameter without a value", []string{"--flow", flowOK, "--bizdate", bizdate, "--param", "novalue"}, "key=value"},
		{"node parameter without a node id", []string{"--flow", flowOK, "--bizdate", bizdate, "--node-param", "ods:k=v"}, "--node-param"},
		{"poll max below poll initial", []string{"--flow", flowOK, "--bizdate", bizdate, "--poll-initial", "10s", "--poll-max", "2s"}, "maxInterval"},
		{"no flow", []string{"--bizdate", bizdate}, "--flow"},
		{"misspelt flag", []string{"--flwo", flowOK, "--bizdate", bizdate}, "flwo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("e2e-invalid-%d", i)
			r := s.starter(t, append([]string{"run", "--workflow-id", id, "--project", project, "--wait"}, tc.args...)...)
			require.Equal(t, 2, r.Code, "%s", r)
			assert.Contains(t, r.Stderr, tc.stderr)
			s.requireNoWorkflow(t, id)
		})
	}
	for _, cmd := range []string{"status", "cancel"} {
		r := s.starter(t, cmd, "e2e-no-such-workflow")
		assert.Equal(t, 2, r.Code, "an unknown workflow id is a usage error: %s", r)
		assert.Contains(t, r.Stderr, "not found")
	}
	s.requireNoWorkflow(t, "manualdag/"+project+"/"+flowOK+"/"+bizdate)
	assert.Empty(t, s.emu.CreatedDAGs(project, flowOK, bizdate), "no create at DataWorks")
	assert.Empty(t, s.emu.CreatedDAGs(project, flowOK, "2024-13-01"))
}

func (s *stack) requireNoWorkflow(t *testing.T, id string) {
	t.Helper()
	_, err := s.client.DescribeWorkflow(testContext(t), id, "")
	var notFound *serviceerror.NotFound
	require.ErrorAs(t, err, &notFound, "workflow %s must not exist", id)
}

func (s *stack) workflowStatus(t *testing.T, id string) enums.WorkflowExecutionStatus {
	t.Helper()
	d, err := s.client.DescribeWorkflow(testContext(t), id, "")
	require.NoError(t, err)
	return d.RawResponse.GetWorkflowExecutionInfo().GetStatus()
}

func (s *stack) closeEvent(t *testing.T, id string) *historypb.HistoryEvent {
	t.Helper()
	iter := s.client.GetWorkflowHistory(testContext(t), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	require.True(t, iter.HasNext(), "no close event for %s", id)
	e, err := iter.Next()
	require.NoError(t, err)
	return e
}

func (s *stack) query(id string) (dag.DagReport, error) {
	var rep dag.DagReport
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := s.client.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return rep, err
	}
	return rep, v.Get(&rep)
}

// listLine reads a report line such as "blocked: a, b".
func listLine(t *testing.T, out, prefix string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return strings.Split(strings.TrimSpace(rest), ", ")
		}
	}
	t.Errorf("no line %q in\n%s", prefix, out)
	return nil
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond on the test's goroutine (so cond may fail the test)
// until it holds or the timeout passes; last, if set, says what was seen.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool, last func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			seen := ""
			if last != nil {
				seen = "; last seen:\n" + last()
			}
			t.Fatalf("%s: not within %s%s", what, timeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The emulator processes the create and drops the connection, under each
// API version (in parallel: nothing else runs on the emulator by then).
// Under 2018-06-01 and 2020-05-18 the worker cannot know whether a DAG run
// started: testAmbiguousCreateUnknown. Under 2024-05-18 it finds the run
// again: testAmbiguousCreate2024.
func (s *stack) testAmbiguousCreate(t *testing.T) {
	for _, action := range []string{"CreateManualDag", "CreateWorkflowInstances"} {
		s.emu.SetFaults(action, emulator.Faults{DropRate: 1})
		t.Cleanup(func() { s.emu.ClearFaults(action) })
	}
	bizdates := map[string]string{dag.APIVersion2018: "2024-07-01", dag.APIVersion2020: "2024-07-03", dag.APIVersion2024: "2024-07-02"}
	eachVersion(t, bizdates, func(t *testing.T, version, bizdate string) {
		if version == dag.APIVersion2024 {
			s.testAmbiguousCreate2024(t, bizdate)
			return
		}
		s.testAmbiguousCreateUnknown(t, version, bizdate)
	})
}

// testAmbiguousCreateUnknown: the run must end with the clear
// TriggerOutcomeUnknown (exit 4), DataWorks must have seen exactly one
// create, and a retried pipeline step must be refused without a second one;
// the refusal's next step, --dag-id, then follows the DAG to its verdict.
func (s *stack) testAmbiguousCreateUnknown(t *testing.T, version, bizdate string) {
	run := func(extra ...string) result {
		return s.starter(t, append(append(append([]string{"run", "--bizdate", bizdate, "--wait"}, dagArgs(version, flowOK)...), fastPoll...), extra...)...)
	}
	r := run()
	require.Equal(t, 4, r.Code, "%s", r)
	assert.Contains(t, r.Stdout, "may or may not have started a DAG run")
	assert.Contains(t, r.Stdout, "Manual Instances")
	require.Len(t, s.emu.CreatedDAGs(project, flowOK, bizdate), 1, "the dropped create was processed, once")

	again := run()
	require.Equal(t, 4, again.Code, "%s", again)
	assert.Contains(t, again.Stderr, "could not tell whether it triggered")
	assert.Contains(t, again.Stderr, "--dag-id")
	assert.Len(t, s.emu.CreatedDAGs(project, flowOK, bizdate), 1, "a retried step sends no second create")

	// The refusal's next step: follow the DAG run Operation Center shows,
	// on the bizdate's usual id, to its verdict, sending no create.
	dagID := s.emu.CreatedDAGs(project, flowOK, bizdate)[0]
	follow := run("--dag-id", strconv.FormatInt(dagID, 10), "--json")
	require.Equal(t, 0, follow.Code, "%s", follow)
	var rep dag.DagReport
	require.NoError(t, json.Unmarshal([]byte(follow.Stdout), &rep), "%s", follow)
	assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
	assert.Equal(t, dagID, rep.DagID)
	assert.Len(t, rep.Nodes, len(dailySalesNodes))
	assert.Len(t, s.emu.CreatedDAGs(project, flowOK, bizdate), 1, "following sends no create")
	// Now the bizdate has a verdict: a plain start is refused as a duplicate.
	done := run()
	assert.Equal(t, 2, done.Code, "%s", done)
	assert.Len(t, s.emu.CreatedDAGs(project, flowOK, bizdate), 1)
}
