//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/dataworks/aliyun"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// Operating a run (docs/design.md, "Operate a run") end to end: stop on
// cancel and at the deadline, log tails, reruns, wait-for-recovery, and
// what each does under 2018-06-01.
//
// The emulator counts calls per action for all the DAGs at once, and these
// runs go in parallel, so the 2020 checks look at the DAG's own instances
// (a stop or a restart that reached the emulator changes them). The 2018
// runs have an emulator and a worker of their own, where any StopInstance,
// RestartInstance or GetInstanceLog call is one too many.

// queue2018 is the task queue of the worker on the 2018-only emulator; that
// worker keeps its default API version, 2018-06-01.
const queue2018 = "manualdag-e2e-2018"

// stoppedByUser is the error message the emulator gives an instance it
// stopped (as DataWorks does).
const stoppedByUser = "the instance was stopped by the user"

// instanceOps are the calls that do not exist under 2018-06-01.
var instanceOps = []string{"StopInstance", "RestartInstance", "GetInstanceLog"}

var brokenBlocked = []string{"dws_sales_daily", "ads_sales_report"}

const brokenFailed = "dwd_orders_merge"

// Poll flags for runs that must stay open while a test acts on them: the
// blocked grace outlasts the test.
var openPoll = []string{"--poll-initial", "1s", "--poll-max", "3s", "--blocked-grace", "10m", "--list-settle", "2s"}

var fastPollInput = workflows.PollOptions{InitialInterval: dag.Duration(time.Second), MaxInterval: dag.Duration(3 * time.Second)}

// fastSettle is fastPoll's --list-settle: the emulator lists every node at once.
const fastSettle = dag.Duration(2 * time.Second)

// runOperations registers the operation tests in the parallel group. The
// deadline runs start here, before the group waits for free slots: their
// minute-long timeout then overlaps the other tests.
func (s *stack) runOperations(t *testing.T) {
	emu2018 := s.startEmulator2018(t)
	deadlines := s.startDeadlineRuns(t)
	t.Run("OpsCancelStopsRemoteNodes", s.testOpsCancelStopsRemoteNodes)
	t.Run("OpsDeadline", func(t *testing.T) { s.testOpsDeadline(t, deadlines, emu2018) })
	t.Run("OpsLogTailBounded", s.testOpsLogTailBounded)
	t.Run("OpsRerunFailed", s.testOpsRerunFailed)
	t.Run("OpsRerunValidatorRejects", s.testOpsRerunValidatorRejects)
	t.Run("OpsWaitForRecoveryConsoleRerun", s.testOpsWaitForRecoveryConsoleRerun)
	t.Run("Ops2018", func(t *testing.T) { s.testOps2018(t, emu2018) })
}

// startEmulator2018 serves a second emulator with the same definition and
// starts a worker on queue2018 that talks to it.
func (s *stack) startEmulator2018(t *testing.T) *emulator.Emulator {
	t.Helper()
	def := emulator.SampleDefinition()
	tenHours := emulator.Duration(10 * time.Hour)
	def.Projects[0].Flows = append(def.Projects[0].Flows, emulator.Flow{
		Name:  flowSlow,
		Nodes: []emulator.Node{{ID: 103990001, Name: "slow_node", Duration: &tenHours}},
	})
	log := &syncBuffer{}
	emu, err := emulator.New(emulator.Options{
		Definition:   def,
		Credentials:  map[string]emulator.Key{accessKeyID: {Secret: s.secret}},
		TimeScale:    timeScale,
		EmptyListFor: 300 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(log, nil)),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- 2018 emulator requests ---\n%s", log.String())
		}
	})
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	s.startWorker(t, queue2018, "MANUALDAG_DATAWORKS_ENDPOINT="+u.Host)
	return emu
}

// deadlineRuns are the slow-flow runs with a one-minute timeout, the
// shortest the input allows: workflow ids.
type deadlineRuns struct {
	stop, leave, stop2018 string
}

// startDeadlineRuns starts them with the workflow input any Temporal client
// may send (the starter has no onDeadline flag), which is quicker than
// three starter processes on the way to every other test.
func (s *stack) startDeadlineRuns(t *testing.T) deadlineRuns {
	t.Helper()
	start := func(bizdate, queue, apiVersion, onDeadline string) string {
		id := "manualdag/" + project + "/" + flowSlow + "/" + bizdate
		_, err := s.client.ExecuteWorkflow(testContext(t), client.StartWorkflowOptions{ID: id, TaskQueue: queue},
			workflows.WorkflowName, workflows.RunManualDagInput{
				ProjectName: project, FlowName: flowSlow, Bizdate: bizdate, APIVersion: apiVersion,
				Timeout: dag.Duration(time.Minute), OnDeadline: onDeadline, Poll: fastPollInput, ListSettle: fastSettle,
			})
		require.NoError(t, err)
		return id
	}
	return deadlineRuns{
		// onDeadline left to its default, stop.
		stop:     start("2024-08-02", workflows.TaskQueue, dag.APIVersion2020, ""),
		leave:    start("2024-08-03", workflows.TaskQueue, dag.APIVersion2020, workflows.OnDeadlineLeave),
		stop2018: start("2024-08-12", queue2018, "", ""),
	}
}

// `starter cancel` during a run of the slow flow under 2020-05-18: the
// workflow stops the running instance in DataWorks before it ends CANCELED,
// and the emulator shows the instance stopped.
func (s *stack) testOpsCancelStopsRemoteNodes(t *testing.T) {
	t.Parallel()
	const bizdate = "2024-08-01"
	r := s.starter(t, append([]string{"run", "--project", project, "--flow", flowSlow, "--bizdate", bizdate,
		"--api-version", dag.APIVersion2020}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	id := strings.TrimSpace(r.Stdout)
	dagID := s.dagFor(t, flowSlow, bizdate)
	s.waitReport(t, id, "the workflow sees slow_node RUNNING", func(rep dag.DagReport) bool {
		return nodeStatus(rep, "slow_node") == dag.StatusRunning
	})

	c := s.starter(t, "cancel", id)
	require.Equal(t, 0, c.Code, "%s", c)
	ctx := testContext(t)
	err := s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	require.ErrorAs(t, err, &canceled)
	rep, ok := workflows.ReportFromError(err)
	require.True(t, ok, "the cancellation carries the report: %v", err)
	assert.Equal(t, dag.OutcomeCanceled, rep.Outcome)
	assert.Equal(t, []string{"slow_node"}, rep.StoppedNodes)
	assert.Empty(t, rep.StopFailures)
	assert.Empty(t, rep.Notes)
	requireOperation(t, rep, "stop", []string{"slow_node"})

	node := emuNode(t, s.emu, dagID, "slow_node")
	assert.Equal(t, emulator.StatusFailure, node.Status, "DataWorks has the instance final")
	assert.Equal(t, stoppedByUser, node.ErrorMessage)
	assert.Equal(t, 1, node.Runs)
	info, _ := s.emu.DAG(dagID)
	assert.NotEqual(t, emulator.DAGRunning, info.Status, "nothing of the DAG runs on")

	st := s.starter(t, "status", id, "--json")
	require.Equal(t, 0, st.Code, "%s", st)
	var after dag.DagReport
	require.NoError(t, json.Unmarshal([]byte(st.Stdout), &after), "%s", st)
	assert.Equal(t, []string{"slow_node"}, after.StoppedNodes, "starter status shows what was stopped")
	s.record("canceled-stop", id)
}

// The deadline passes with a slow node running: with onDeadline stop
// (the default) the node is stopped in DataWorks and listed; with leave it
// runs on and a note says so; under 2018-06-01 nothing is called and a note
// says what to stop by hand.
func (s *stack) testOpsDeadline(t *testing.T, d deadlineRuns, emu2018 *emulator.Emulator) {
	t.Parallel()
	timedOut := func(t *testing.T, id string) dag.DagReport {
		t.Helper()
		ctx := testContext(t)
		err := s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr)
		require.Equal(t, dag.ErrDagTimedOut, appErr.Type(), "%v", err)
		rep, ok := workflows.ReportFromError(err)
		require.True(t, ok, "the failure carries the report: %v", err)
		assert.Equal(t, dag.OutcomeTimedOut, rep.Outcome)
		assert.Equal(t, dag.StatusRunning, nodeStatus(rep, "slow_node"), "the node table keeps the picture at the deadline")
		return rep
	}

	t.Run("stop", func(t *testing.T) {
		rep := timedOut(t, d.stop)
		assert.Equal(t, []string{"slow_node"}, rep.StoppedNodes)
		assert.Empty(t, rep.StopFailures)
		requireOperation(t, rep, "stop", []string{"slow_node"})
		node := emuNode(t, s.emu, rep.DagID, "slow_node")
		assert.Equal(t, emulator.StatusFailure, node.Status)
		assert.Equal(t, stoppedByUser, node.ErrorMessage)
		s.record("timed-out-stop", d.stop)
	})
	t.Run("leave", func(t *testing.T) {
		rep := timedOut(t, d.leave)
		assert.Empty(t, rep.StoppedNodes)
		assert.Empty(t, rep.Operations)
		requireNote(t, rep, `onDeadline is "leave"`)
		node := emuNode(t, s.emu, rep.DagID, "slow_node")
		assert.Equal(t, emulator.StatusRunning, node.Status, "the instance runs on in DataWorks")
		assert.Empty(t, node.ErrorMessage)
	})
	t.Run("2018", func(t *testing.T) {
		rep := timedOut(t, d.stop2018)
		assert.Empty(t, rep.StoppedNodes)
		assert.Empty(t, rep.Operations)
		note := requireNote(t, rep, "nothing was stopped (the deadline passed)")
		for _, want := range []string{"no StopInstance", "slow_node", "Operation Center"} {
			assert.Contains(t, note, want)
		}
		assert.Equal(t, emulator.StatusRunning, emuNode(t, emu2018, rep.DagID, "slow_node").Status)
		requireNoInstanceOps(t, emu2018)
	})
}

// A failed node's log tail reaches the report, cut to
// the per-node bound (activities.DefaultLogTailBytes): the end of the log DataWorks holds.
func (s *stack) testOpsLogTailBounded(t *testing.T) {
	t.Parallel()
	const bizdate, maxBytes = "2024-08-04", activities.DefaultLogTailBytes
	id := "manualdag/" + project + "/" + flowBroken + "/" + bizdate
	failOnDagFailure := false
	ctx := testContext(t)
	run, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, workflows.RunManualDagInput{
			ProjectName: project, FlowName: flowBroken, Bizdate: bizdate, APIVersion: dag.APIVersion2020,
			Poll: fastPollInput, BlockedGrace: dag.Duration(2 * time.Second), FailOnDagFailure: &failOnDagFailure, ListSettle: fastSettle,
		})
	require.NoError(t, err)
	var rep dag.DagReport
	require.NoError(t, run.Get(ctx, &rep))
	require.Equal(t, dag.OutcomeFailed, rep.Outcome)
	require.Equal(t, []string{brokenFailed}, rep.FailedNodes)

	var tail string
	for _, n := range rep.Nodes {
		if n.Name == brokenFailed {
			tail = n.LogTail
			continue
		}
		assert.Empty(t, n.LogTail, "node %s did not fail", n.Name)
	}
	require.NotEmpty(t, tail, "the failed node's log tail is in the report")
	assert.LessOrEqual(t, len(tail), maxBytes)
	assert.Contains(t, tail, "ODPS-0130071", "the failure reason reaches the caller")
	assert.Contains(t, tail, "status: FAILURE")
	assert.Empty(t, rep.Notes)

	// The report has the end of the whole log, marked when it was cut.
	full, err := s.dataworks2020(t).GetInstanceLog(ctx, dataworks.InstanceLogRequest{InstanceID: nodeID(t, rep, brokenFailed)})
	require.NoError(t, err)
	if len(full) > maxBytes {
		assert.True(t, strings.HasPrefix(tail, "…"), "a cut tail is marked: %q", tail)
	} else {
		assert.Equal(t, full, tail, "a log within the bound is whole")
	}
	assert.True(t, strings.HasSuffix(full, strings.TrimPrefix(tail, "…")), "the tail is the end of the log\ntail: %q\nlog: %q", tail, full)
}

// `starter rerun` on a DAG that failed (its failed node fails only its
// first run): the same workflow goes on and `starter run --wait` ends
// SUCCEEDED with the merged report.
func (s *stack) testOpsRerunFailed(t *testing.T) {
	t.Parallel()
	const bizdate = "2024-08-05"
	id := "manualdag/" + project + "/" + flowBroken + "/" + bizdate
	waiting := s.starterAsync(t, append([]string{"run", "--project", project, "--flow", flowBroken, "--bizdate", bizdate,
		"--api-version", dag.APIVersion2020, "--wait", "--json"}, openPoll...)...)

	var failed dag.DagReport
	var st result
	waitFor(t, time.Minute, "starter status shows the failure and its log", func() bool {
		st = s.starter(t, "status", id, "--json")
		failed = dag.DagReport{}
		return st.Code == 0 && json.Unmarshal([]byte(st.Stdout), &failed) == nil &&
			slices.Equal(failed.FailedNodes, []string{brokenFailed}) && logTail(failed, brokenFailed) != ""
	}, func() string { return st.String() })
	assert.Equal(t, dag.OutcomeRunning, failed.Outcome, "blocked, within the grace")
	assert.ElementsMatch(t, brokenBlocked, failed.BlockedNodes)
	assert.Contains(t, logTail(failed, brokenFailed), "ODPS-0130071")

	r := s.starter(t, "rerun", id, "--json")
	require.Equal(t, 0, r.Code, "%s", r)
	var res workflows.RerunResult
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), "%s", r)
	assert.Equal(t, []string{brokenFailed}, res.Restarted)
	assert.Empty(t, res.Refused)

	w := awaitResult(t, waiting, 2*time.Minute)
	require.Equal(t, 0, w.Code, "%s", w)
	var rep dag.DagReport
	require.NoError(t, json.Unmarshal([]byte(w.Stdout), &rep), "%s", w)
	assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
	assert.Empty(t, rep.FailedNodes)
	assert.Empty(t, rep.BlockedNodes)
	for _, n := range rep.Nodes {
		assert.Equal(t, dag.StatusSuccess, n.Status, "node %s", n.Name)
		assert.Empty(t, n.LogTail, "node %s: a tail goes with its failure", n.Name)
	}
	requireOperation(t, rep, "rerun", []string{brokenFailed})

	require.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowBroken, bizdate), "one DAG run, rerun in place")
	info, _ := s.emu.DAG(rep.DagID)
	assert.Equal(t, emulator.DAGSuccess, info.Status)
	assert.Equal(t, 2, emuNode(t, s.emu, rep.DagID, brokenFailed).Runs, "restarted once")
	s.record("rerun", id)
}

// rerunFailed's validator refuses nodes that did not fail, unknown nodes,
// and a request naming one of them beside a failed node: exit 2, a message
// naming the node, and nothing restarted in DataWorks. extendDeadline and a
// cancel of the blocked DAG (which stops the nodes that never ran) follow.
func (s *stack) testOpsRerunValidatorRejects(t *testing.T) {
	t.Parallel()
	const bizdate = "2024-08-06"
	r := s.starter(t, append([]string{"run", "--project", project, "--flow", flowBroken, "--bizdate", bizdate,
		"--api-version", dag.APIVersion2020}, openPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	id := strings.TrimSpace(r.Stdout)
	failed := s.waitReport(t, id, "the DAG is blocked behind its failure", func(rep dag.DagReport) bool {
		return slices.Equal(rep.FailedNodes, []string{brokenFailed})
	})
	before := runsByNode(t, s.emu, failed.DagID)

	for _, tc := range []struct {
		nodes  []string
		stderr string
	}{
		{[]string{"ods_orders_sync"}, "node ods_orders_sync is SUCCESS, not FAILURE: only failed nodes can be rerun"},
		{[]string{"dws_sales_daily"}, "node dws_sales_daily is NOT_RUN, not FAILURE"},
		{[]string{"no_such_node"}, `has no node "no_such_node"`},
		{[]string{brokenFailed, "ads_sales_report"}, "node ads_sales_report is NOT_RUN, not FAILURE"},
	} {
		args := []string{"rerun", id}
		for _, n := range tc.nodes {
			args = append(args, "--node", n)
		}
		r := s.starter(t, args...)
		assert.Equal(t, 2, r.Code, "rerun %v: %s", tc.nodes, r)
		assert.Contains(t, r.Stderr, "rerunFailed refused", "rerun %v", tc.nodes)
		assert.Contains(t, r.Stderr, tc.stderr, "rerun %v", tc.nodes)
	}

	// Nothing restarted: a restart of a final instance adds a run, and one
	// of an unfinished instance is refused by DataWorks (no other test
	// restarts an unfinished one).
	assert.Equal(t, before, runsByNode(t, s.emu, failed.DagID), "runs per node at DataWorks")
	assert.Zero(t, s.emu.Stats().Calls["RestartInstance"].Outcomes[emulator.CodeInstanceStatus], "RestartInstance calls DataWorks refused")
	rep, err := s.query(id)
	require.NoError(t, err)
	assert.Equal(t, dag.OutcomeRunning, rep.Outcome)
	assert.Empty(t, rep.Operations, "no rerun was recorded")

	e := s.starter(t, "extend", id, "--by", "2h")
	require.Equal(t, 0, e.Code, "%s", e)
	assert.Contains(t, e.Stdout, "deadline of "+id+" moved from")

	c := s.starter(t, "cancel", id)
	require.Equal(t, 0, c.Code, "%s", c)
	ctx := testContext(t)
	err = s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	require.ErrorAs(t, err, &canceled)
	rep, ok := workflows.ReportFromError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, dag.OutcomeCanceled, rep.Outcome)
	var ops []string
	for _, op := range rep.Operations {
		ops = append(ops, op.Op)
	}
	assert.Equal(t, []string{"extendDeadline", "stop"}, ops)
	assert.ElementsMatch(t, brokenBlocked, rep.StoppedNodes, "the nodes that never ran are stopped too")
	assert.Empty(t, rep.StopFailures)
	for _, name := range brokenBlocked {
		assert.Equal(t, stoppedByUser, emuNode(t, s.emu, rep.DagID, name).ErrorMessage, "node %s", name)
	}
	assert.Equal(t, 1, emuNode(t, s.emu, rep.DagID, brokenFailed).Runs)
}

// failurePolicy.waitForRecovery holds a failed DAG open after its blocked
// grace; an operator reruns the failed node from the DataWorks console (a
// RestartInstance the workflow did not send) and the run ends SUCCEEDED.
func (s *stack) testOpsWaitForRecoveryConsoleRerun(t *testing.T) {
	t.Parallel()
	const bizdate = "2024-08-07"
	id := "manualdag/" + project + "/" + flowBroken + "/" + bizdate
	ctx := testContext(t)
	run, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, workflows.RunManualDagInput{
			ProjectName: project, FlowName: flowBroken, Bizdate: bizdate, APIVersion: dag.APIVersion2020,
			Poll: fastPollInput, BlockedGrace: dag.Duration(2 * time.Second), ListSettle: fastSettle,
			FailurePolicy: workflows.FailurePolicy{WaitForRecovery: dag.Duration(10 * time.Minute)},
		})
	require.NoError(t, err)
	// The blocked grace is over and the failure is held for recovery.
	held := s.waitReport(t, id, "the failure is held by waitForRecovery", func(rep dag.DagReport) bool {
		return slices.Equal(rep.FailedNodes, []string{brokenFailed}) && strings.Contains(rep.Message, "failurePolicy.waitForRecovery")
	})
	assert.Equal(t, dag.OutcomeRunning, held.Outcome)

	require.NoError(t, s.dataworks2020(t).RestartInstance(ctx, dataworks.InstanceRequest{InstanceID: nodeID(t, held, brokenFailed)}))

	var rep dag.DagReport
	require.NoError(t, run.Get(ctx, &rep))
	assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
	assert.Empty(t, rep.FailedNodes)
	assert.Empty(t, rep.Operations, "the rerun was the operator's, not the workflow's")
	assert.Equal(t, 2, emuNode(t, s.emu, rep.DagID, brokenFailed).Runs)
	require.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowBroken, bizdate))
}

// Under 2018-06-01 (the worker's default here), a cancel stops nothing, a
// failure has no log tail, a rerun is refused (exit 2): each says what to do
// in DataWorks instead, and the emulator sees none of the 2020-only calls.
func (s *stack) testOps2018(t *testing.T, emu2018 *emulator.Emulator) {
	t.Parallel()
	const slowDate, brokenDate = "2024-08-11", "2024-08-13"
	r := s.starter(t, append([]string{"run", "--project", project, "--flow", flowSlow, "--bizdate", slowDate,
		"--task-queue", queue2018}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	slowID := strings.TrimSpace(r.Stdout)
	r = s.starter(t, append([]string{"run", "--project", project, "--flow", flowBroken, "--bizdate", brokenDate,
		"--task-queue", queue2018}, openPoll...)...)
	require.Equal(t, 0, r.Code, "%s", r)
	brokenID := strings.TrimSpace(r.Stdout)

	cancel := func(t *testing.T, id string) dag.DagReport {
		t.Helper()
		c := s.starter(t, "cancel", id)
		require.Equal(t, 0, c.Code, "%s", c)
		ctx := testContext(t)
		err := s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
		var canceled *temporal.CanceledError
		require.ErrorAs(t, err, &canceled)
		rep, ok := workflows.ReportFromError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, dag.OutcomeCanceled, rep.Outcome)
		assert.Empty(t, rep.StoppedNodes)
		assert.Empty(t, rep.Operations)
		return rep
	}

	s.waitReport(t, slowID, "the workflow sees slow_node RUNNING", func(rep dag.DagReport) bool {
		return nodeStatus(rep, "slow_node") == dag.StatusRunning
	})
	rep := cancel(t, slowID)
	note := requireNote(t, rep, "nothing was stopped (the workflow was cancelled)")
	for _, want := range []string{"no StopInstance", "stop slow_node in DataWorks Operation Center > Manual Instances"} {
		assert.Contains(t, note, want)
	}
	assert.Equal(t, emulator.StatusRunning, emuNode(t, emu2018, rep.DagID, "slow_node").Status, "nothing stopped it")

	failed := s.waitReport(t, brokenID, "the DAG is blocked behind its failure", func(rep dag.DagReport) bool {
		return slices.Equal(rep.FailedNodes, []string{brokenFailed}) && len(rep.Notes) > 0
	})
	assert.Empty(t, logTail(failed, brokenFailed))
	note = requireNote(t, failed, "no GetInstanceLog")
	assert.Contains(t, note, "read the logs of "+brokenFailed+" in DataWorks Operation Center")

	rr := s.starter(t, "rerun", brokenID)
	assert.Equal(t, 2, rr.Code, "%s", rr)
	assert.Contains(t, rr.Stderr, "no RestartInstance")
	assert.Contains(t, rr.Stderr, "rerun the failed nodes in DataWorks Operation Center")

	rep = cancel(t, brokenID)
	note = requireNote(t, rep, "nothing was stopped (the workflow was cancelled)")
	for _, name := range brokenBlocked {
		assert.Contains(t, note, name)
		assert.Equal(t, emulator.StatusNotRun, emuNode(t, emu2018, rep.DagID, name).Status)
	}
	assert.Equal(t, 1, emuNode(t, emu2018, rep.DagID, brokenFailed).Runs)
	requireNoInstanceOps(t, emu2018)
}

// waitReport polls the status query until cond holds.
func (s *stack) waitReport(t *testing.T, id, what string, cond func(dag.DagReport) bool) dag.DagReport {
	t.Helper()
	var rep dag.DagReport
	var err error
	waitFor(t, time.Minute, what, func() bool {
		rep, err = s.query(id)
		return err == nil && cond(rep)
	}, func() string {
		b, _ := json.MarshalIndent(rep, "", "  ")
		return string(b) + "\nquery error: " + errString(err)
	})
	return rep
}

// dataworks2020 is a client of the emulator as an operator's tool would
// have one.
func (s *stack) dataworks2020(t *testing.T) *aliyun.Client {
	t.Helper()
	c, err := aliyun.New(aliyun.Config{
		Endpoint:   s.endpoint,
		Scheme:     "http",
		APIVersion: dag.APIVersion2020,
		Credential: credentials.NewStaticAKCredentialsProvider(accessKeyID, s.secret),
	})
	require.NoError(t, err)
	return c
}

// starterAsync runs the starter in the background; the process is killed
// when the test ends.
func (s *stack) starterAsync(t *testing.T, args ...string) <-chan result {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "starter"), args...)
	cmd.Env = childEnv([]string{"TEMPORAL_ADDRESS=" + s.temporal.Address})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan result, 1)
	go func() {
		err := cmd.Run()
		r := result{Stdout: stdout.String(), Stderr: stderr.String()}
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			r.Code = exit.ExitCode()
		case err != nil:
			r.Code, r.Stderr = -1, r.Stderr+"\n"+err.Error()
		}
		done <- r
	}()
	return done
}

func awaitResult(t *testing.T, ch <-chan result, timeout time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(timeout):
		t.Fatalf("the starter did not finish within %s", timeout)
		return result{}
	}
}

func requireNoInstanceOps(t *testing.T, emu *emulator.Emulator) {
	t.Helper()
	st := emu.Stats()
	require.NotZero(t, st.Calls["SearchManualDagNodeInstance"].Total, "the 2018 emulator was not used: this check means nothing")
	for _, action := range instanceOps {
		assert.Zero(t, st.Calls[action].Total, "%s calls at the 2018-only emulator", action)
	}
}

func requireOperation(t *testing.T, rep dag.DagReport, op string, nodes []string) {
	t.Helper()
	for _, o := range rep.Operations {
		if o.Op == op {
			assert.ElementsMatch(t, nodes, o.Nodes, "operation %s", op)
			return
		}
	}
	t.Errorf("no %q operation in the report: %+v", op, rep.Operations)
}

// requireNote returns the report's note that contains part.
func requireNote(t *testing.T, rep dag.DagReport, part string) string {
	t.Helper()
	for _, n := range rep.Notes {
		if strings.Contains(n, part) {
			return n
		}
	}
	t.Errorf("no note with %q in %q", part, rep.Notes)
	return ""
}

func nodeStatus(rep dag.DagReport, name string) dag.Status {
	for _, n := range rep.Nodes {
		if n.Name == name {
			return n.Status
		}
	}
	return ""
}

func logTail(rep dag.DagReport, name string) string {
	for _, n := range rep.Nodes {
		if n.Name == name {
			return n.LogTail
		}
	}
	return ""
}

// nodeID is the instance id of the node called name in the report.
func nodeID(t *testing.T, rep dag.DagReport, name string) int64 {
	t.Helper()
	for _, n := range rep.Nodes {
		if n.Name == name {
			return n.ID
		}
	}
	t.Fatalf("no node %s in the report", name)
	return 0
}

// emuNode is what DataWorks (the emulator) holds for one node of a DAG.
func emuNode(t *testing.T, emu *emulator.Emulator, dagID int64, name string) emulator.NodeInfo {
	t.Helper()
	info, ok := emu.DAG(dagID)
	require.True(t, ok, "no DAG %d at the emulator", dagID)
	for _, n := range info.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("DAG %d has no node %s", dagID, name)
	return emulator.NodeInfo{}
}

func runsByNode(t *testing.T, emu *emulator.Emulator, dagID int64) map[string]int {
	t.Helper()
	info, ok := emu.DAG(dagID)
	require.True(t, ok, "no DAG %d at the emulator", dagID)
	out := map[string]int{}
	for _, n := range info.Nodes {
		out[n.Name] = n.Runs
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}
