package workflows

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/dataworks/aliyun"
	"github.com/manualdag/manualdag/internal/emulator"
)

// fakeDW is a scripted DataWorks behind the real activities.
type fakeDW struct {
	mu         sync.Mutex
	creates    int
	createErrs []error
	panicOn    int
	list       []dataworks.NodeInstance
}

func (f *fakeDW) CreateManualDag(_ context.Context, req dataworks.CreateManualDagRequest) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := req.BeforeSend(); err != nil { // as the real client
		return 0, &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseNotSent, Code: dataworks.CodeBeforeSend, Err: err}
	}
	f.creates++
	if f.creates == f.panicOn {
		panic("worker died after sending")
	}
	if i := f.creates - 1; i < len(f.createErrs) && f.createErrs[i] != nil {
		return 0, f.createErrs[i]
	}
	return testDagID, nil
}

func (f *fakeDW) SearchManualDagNodeInstance(context.Context, dataworks.SearchManualDagNodeInstanceRequest) ([]dataworks.NodeInstance, error) {
	return f.list, nil
}

func (s *workflowSuite) useReal(dw *fakeDW) {
	s.env.RegisterActivity(&activities.Activities{DW: dw, RecordIntent: heartbeatIntent})
}

var errNotSent = &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseNotSent, Code: dataworks.CodeTransport, Err: errors.New("dial tcp: connection refused")}

// The real create activity, retried by the workflow's policy after NotSent:
// the not-sent heartbeat lets the second attempt send.
func (s *workflowSuite) TestCreateRetriedAfterNotSent() {
	s.SetupTestReal()
	dw := &fakeDW{createErrs: []error{errNotSent, errNotSent}, list: succeeded}
	s.useReal(dw)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(3, dw.creates)
	s.Equal(int64(testDagID), r.DagID)
}

// A worker that dies after sending (a panic stands in for the crash) is
// retried by Temporal; the next attempt finds the intent and does not send.
func (s *workflowSuite) TestCreateCrashAfterSendingNeverSendsTwice() {
	s.SetupTestReal()
	dw := &fakeDW{panicOn: 1, list: succeeded}
	s.useReal(dw)
	r, err := s.run(input())
	s.requireType(err, dag.ErrTriggerOutcomeUnknown)
	s.Equal(1, dw.creates)
	s.Zero(r.DagID)
	s.Contains(err.Error(), "demo_project/daily_sales (bizdate 2024-06-01)")
}

func (s *workflowSuite) TestCreateUnknownOutcomeNoSecondCreate() {
	s.SetupTestReal()
	dw := &fakeDW{createErrs: []error{&dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseUnknown, Code: dataworks.CodeTransport, Err: errors.New("i/o timeout")}}}
	s.useReal(dw)
	_, err := s.run(input())
	s.requireType(err, dag.ErrTriggerOutcomeUnknown)
	s.Equal(1, dw.creates)
	s.Contains(err.Error(), "Operation Center")
}

func (s *workflowSuite) TestCreateNotSentUntilAttemptsRunOutIsNotTriggered() {
	s.SetupTestReal()
	dw := &fakeDW{createErrs: []error{errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent}}
	s.useReal(dw)
	_, err := s.run(input())
	s.requireType(err, dag.ErrNotTriggered)
	s.Equal(createMaxAttempts, dw.creates)
	s.Contains(err.Error(), "no run was started")
}

// SetupTestReal is SetupTest without the nil-receiver registration, so that
// real activities can be registered.
func (s *workflowSuite) SetupTestReal() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(s.start)
	s.env.RegisterWorkflowWithOptions(RunManualDag, workflow.RegisterOptions{Name: WorkflowName})
	s.mockGuard()
}

// The tests below run RunManualDag with the real activities and the real
// aliyun.Client, signing its requests through the Alibaba SDK, against
// the signature-verifying emulator over HTTP. The emulator's simulation
// clock is the test environment's mock clock, so the DAG moves on exactly
// as far as the workflow's timers skip: no real sleeps, and every run sees
// the same sequence of states.

const (
	emuKeyID  = "wf-test-key-id"
	emuSecret = "wf-test-key-secret-0123456789"
	// daily_sales succeeds in about 6.5 minutes; broken_sales fails
	// dwd_merge (on every run: a rerun fails again) after about 3.5 minutes,
	// blocking ads_report and ads_export; rerun_sales is broken_sales whose
	// dwd_merge succeeds when restarted.
	emuDefinition = `
projects:
  - name: demo_project
    flows:
      - name: daily_sales
        nodes:
          - {id: 101, name: load_ods, duration: 2m}
          - {id: 102, name: dwd_merge, upstream: [101], duration: 3m}
          - {id: 103, name: ads_report, upstream: [102], duration: 1m}
          - {id: 104, name: dim_shop, duration: 1m}
      - name: broken_sales
        nodes:
          - {id: 201, name: load_ods, duration: 2m}
          - {id: 202, name: dwd_merge, upstream: [201], duration: 1m, outcome: failure, failAttempts: 100,
             errorMessage: "ODPS-0130071: Semantic analysis exception - column sale_amt cannot be resolved"}
          - {id: 203, name: ads_report, upstream: [202]}
          - {id: 204, name: ads_export, upstream: [203]}
          - {id: 205, name: dim_shop, duration: 30s}
      - name: slow_branch_sales
        nodes:
          - {id: 401, name: load_ods, duration: 2m}
          - {id: 402, name: dwd_merge, upstream: [401], duration: 1m, outcome: failure, failAttempts: 100}
          - {id: 403, name: ads_report, upstream: [402]}
          - {id: 404, name: dim_history, duration: 40m}
      - name: rerun_sales
        nodes:
          - {id: 301, name: load_ods, duration: 2m}
          - {id: 302, name: dwd_merge, upstream: [301], duration: 1m, outcome: failure}
          - {id: 303, name: ads_report, upstream: [302]}
`
)

// emulated is one emulator behind httptest, and a client for it.
type emulated struct {
	emu    *emulator.Emulator
	client *aliyun.Client
}

// useEmulator sets up a fresh environment whose activities are the real
// ones, talking to an in-process emulator that follows the environment's
// clock. apiVersion is the client's default ("" = 2018-06-01).
func (s *workflowSuite) useEmulator(apiVersion string, opts emulator.Options) emulated {
	s.SetupTestReal()
	def, err := emulator.ParseDefinition([]byte(emuDefinition))
	s.Require().NoError(err)
	env := s.env
	opts.Definition = def
	opts.Credentials = map[string]emulator.Key{emuKeyID: {Secret: emuSecret}}
	// The SDK's mock clock is lock-protected, so the emulator's handler
	// goroutines may read it while the environment skips timers.
	opts.Now = env.Now
	emu, err := emulator.New(opts)
	s.Require().NoError(err)
	srv := httptest.NewServer(emu)
	s.T().Cleanup(srv.Close)
	client, err := aliyun.New(aliyun.Config{
		Endpoint:   strings.TrimPrefix(srv.URL, "http://"),
		Scheme:     "http",
		APIVersion: apiVersion,
		Credential: credentials.NewStaticAKCredentialsProvider(emuKeyID, emuSecret),
	})
	s.Require().NoError(err)
	// A fixed jitter source: retry delays are the same on every run.
	s.env.RegisterActivity(&activities.Activities{DW: client, Rand: func() float64 { return 0.5 }, RecordIntent: heartbeatIntent})
	return emulated{emu: emu, client: client}
}

// onlyDAG returns the one DAG the emulator created for the flow, failing
// the test if there is not exactly one: manualdag never triggers twice.
func (s *workflowSuite) onlyDAG(e emulated, flow string) emulator.DAGInfo {
	ids := e.emu.CreatedDAGs("demo_project", flow, "2024-06-01")
	s.Require().Len(ids, 1, "DAG runs created for %s", flow)
	info, ok := e.emu.DAG(ids[0])
	s.Require().True(ok)
	return info
}

// apiVersions are the cases of the emulator tests: the client's default
// (2018-06-01) with no apiVersion in the input, and 2020-05-18 asked for by
// the workflow input. Only the 2020 instances carry error messages.
var apiVersions = []struct {
	name, input, want string
	errorMessages     bool
}{
	{"2018 default", "", dag.APIVersion2018, false},
	{"2020", dag.APIVersion2020, dag.APIVersion2020, true},
}

func (s *workflowSuite) TestEmulatorSuccess() {
	for _, v := range apiVersions {
		s.Run(v.name, func() {
			e := s.useEmulator("", emulator.Options{})
			in := input()
			in.APIVersion = v.input
			r, err := s.run(in)
			s.Require().NoError(err)

			info := s.onlyDAG(e, "daily_sales")
			s.Equal(v.want, info.APIVersion)
			s.Equal(emulator.DAGSuccess, info.Status)
			s.Equal(dag.OutcomeSucceeded, r.Outcome)
			s.Equal(info.DagID, r.DagID)
			s.Equal(map[string]int{"SUCCESS": 4}, r.CountsByStatus)
			s.Empty(r.FailedNodes)
			s.Empty(r.BlockedNodes)
			s.Empty(r.UnfinishedNodes)
			for _, n := range r.Nodes {
				s.False(n.BeginTime.IsZero(), "node %s has no begin time", n.Name)
				s.False(n.FinishTime.IsZero(), "node %s has no finish time", n.Name)
			}
			// The DAG progressed on the mock clock, and the workflow saw its
			// end within one long poll interval.
			s.Greater(r.Polls, 3)
			s.False(r.FinishedAt.Before(info.FinishedAt), "report finished %v before the DAG %v", r.FinishedAt, info.FinishedAt)
			s.Less(r.FinishedAt.Sub(info.FinishedAt), DefaultMaxInterval+DefaultMaxInterval/5)
			s.True(r.FinishedAt.Equal(s.env.Now()))
			s.Contains(r.Message, "succeeded: 4 of 4 nodes succeeded")
		})
	}
}

func (s *workflowSuite) TestEmulatorFailedNodeBlocksDownstreamEndsAfterGrace() {
	for _, v := range apiVersions {
		s.Run(v.name, func() {
			e := s.useEmulator("", emulator.Options{})
			in := input()
			in.FlowName = "broken_sales"
			in.APIVersion = v.input
			r, err := s.run(in)
			s.requireType(err, dag.ErrDagFailed)

			info := s.onlyDAG(e, "broken_sales")
			s.Equal(v.want, info.APIVersion)
			s.Equal(emulator.DAGFailure, info.Status)
			s.Equal(dag.OutcomeFailed, r.Outcome)
			s.Equal(info.DagID, r.DagID)
			s.Equal([]string{"dwd_merge"}, r.FailedNodes)
			s.Equal([]string{"ads_report", "ads_export"}, r.BlockedNodes)
			s.ElementsMatch(info.Blocked, r.BlockedNodes, "blocked nodes as the emulator knows them")
			s.Empty(r.UnfinishedNodes)
			s.Equal(map[string]int{"SUCCESS": 2, "FAILURE": 1, "NOT_RUN": 2}, r.CountsByStatus)
			s.Contains(err.Error(), "DataWorks DAG "+strconv.FormatInt(info.DagID, 10)+" (demo_project/broken_sales, bizdate 2024-06-01) failed: 1 of 5 nodes failed (dwd_merge), 2 blocked")
			for _, n := range r.Nodes {
				if n.Name == "dwd_merge" && v.errorMessages {
					s.Contains(n.ErrorMessage, "ODPS-0130071")
				}
			}
			// Blocked, not hung: it ends once the blocked picture has been
			// stable for the grace period, and within the failure watch of
			// the failure (issue 14).
			sinceBlocked := r.FinishedAt.Sub(info.FinishedAt)
			s.GreaterOrEqual(sinceBlocked, DefaultBlockedGrace)
			s.LessOrEqual(sinceBlocked, DefaultFailureWatch+time.Second)
		})
	}
}

// failFast "stop" ends the run FAILED at the first failure, while another
// branch still runs for half an hour, and stops that branch (2020-05-18);
// without failFast the run waits for the branch. The failure is in the
// live report before any verdict.
func (s *workflowSuite) TestEmulatorFailFast() {
	for _, tc := range []struct {
		failFast string
		stopped  []string
		status   emulator.DAGStatus
	}{
		{OnDeadlineStop, []string{"ads_report", "dim_history"}, emulator.DAGFailure},
		{OnDeadlineLeave, nil, emulator.DAGRunning},
		{"", nil, emulator.DAGFailure},
	} {
		s.Run("failFast="+tc.failFast, func() {
			e := s.useEmulator(dag.APIVersion2020, emulator.Options{})
			in := input2020()
			in.FlowName = "slow_branch_sales"
			in.FailFast = tc.failFast
			in.ListSettle = dag.Duration(time.Minute)
			var live dag.DagReport
			if tc.failFast == "" {
				s.env.RegisterDelayedCallback(func() { live = s.status() }, 10*time.Minute)
			}
			r, err := s.run(in)
			s.requireType(err, dag.ErrDagFailed)
			s.Equal(dag.OutcomeFailed, r.Outcome)
			s.Equal([]string{"dwd_merge"}, r.FailedNodes)
			info := s.onlyDAG(e, "slow_branch_sales")
			failedAt := s.start.Add(3 * time.Minute)
			if tc.failFast == "" {
				s.Greater(r.FinishedAt.Sub(s.start), 40*time.Minute, "waits for the other branch")
				s.Equal(dag.OutcomeRunning, live.Outcome)
				s.Equal([]string{"dwd_merge"}, live.FailedNodes, "the failure is published before the verdict")
			} else {
				s.LessOrEqual(r.FinishedAt.Sub(failedAt), DefaultFailureWatch+5*time.Second, "reported within the failure watch")
			}
			s.Equal(tc.stopped, r.StoppedNodes)
			s.Equal(tc.status, info.Status)
			if tc.failFast == OnDeadlineLeave {
				s.Require().NotEmpty(r.Notes)
				s.Contains(r.Notes[len(r.Notes)-1], "run on")
			}
		})
	}
}

// An operator reruns the failed node while the workflow waits out the
// blocked grace: the wait goes on, and the DAG ends SUCCEEDED.
func (s *workflowSuite) TestEmulatorOperatorRerunWhileWaitingForRecovery() {
	e := s.useEmulator("", emulator.Options{})
	in := input()
	in.FlowName = "rerun_sales"
	in.Poll.MaxInterval = dag.Duration(20 * time.Second)
	in.FailurePolicy.WaitForRecovery = dag.Duration(5 * time.Minute)
	// dwd_merge fails about 3m15s after the trigger; with 20s polls the
	// workflow sees it by 3m40s, and it would be reported by 8m40s.
	var during dag.DagReport
	s.env.RegisterDelayedCallback(func() {
		info := s.onlyDAG(e, "rerun_sales")
		s.Require().Equal(emulator.DAGFailure, info.Status, "the failure should have happened by now")
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&during))
		var failed int64
		for _, n := range info.Nodes {
			if n.Name == "dwd_merge" {
				failed = n.InstanceID
			}
		}
		s.Require().NoError(e.client.RestartInstance(context.Background(),
			dataworks.InstanceRequest{InstanceID: failed, APIVersion: dag.APIVersion2020}))
	}, 5*time.Minute)
	r, err := s.run(in)
	s.Require().NoError(err)

	s.Equal(dag.OutcomeRunning, during.Outcome, "the workflow was waiting for a rerun")
	s.Equal([]string{"dwd_merge"}, during.FailedNodes)
	s.Equal([]string{"ads_report"}, during.BlockedNodes)
	s.Contains(during.Message, "waiting until")
	s.Contains(during.Message, "for a rerun of the failed nodes")
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(map[string]int{"SUCCESS": 3}, r.CountsByStatus)
	s.Equal(emulator.DAGSuccess, s.onlyDAG(e, "rerun_sales").Status)
}

// The emulator lists no instances for a while after the trigger, as the
// real service does: tolerated, then the run is followed to its end.
func (s *workflowSuite) TestEmulatorEmptyListAtFirst() {
	e := s.useEmulator("", emulator.Options{EmptyListFor: 2 * time.Minute, PartialListFor: time.Minute})
	var early dag.DagReport
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&early))
	}, time.Minute)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeRunning, early.Outcome)
	s.Positive(early.Polls)
	s.Empty(early.Nodes)
	s.Contains(early.Message, "waiting for DataWorks to list the node instances")
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Len(r.Nodes, 4)
	s.Equal(s.onlyDAG(e, "daily_sales").DagID, r.DagID)
}

// Throttled searches are retried after their NextRetryDelay; every search
// sent counts as a poll, the throttled ones too; the trigger is not
// repeated.
func (s *workflowSuite) TestEmulatorThrottledPollsThenRecovery() {
	e := s.useEmulator("", emulator.Options{})
	e.emu.SetFaults("SearchManualDagNodeInstance", emulator.Faults{ThrottleRate: 1})
	s.env.RegisterDelayedCallback(func() { e.emu.ClearFaults("SearchManualDagNodeInstance") }, 3*time.Minute)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	search := e.emu.Stats().Calls["SearchManualDagNodeInstance"]
	s.Positive(search.Outcomes["Throttling.User"], "outcomes %v", search.Outcomes)
	s.Equal(search.Total, r.Polls, "every search sent is a poll, throttled or not")
	s.Equal(1, e.emu.Stats().Calls["CreateManualDag"].Total)
	s.onlyDAG(e, "daily_sales")
}

// heartbeatIntent records the create's intent in the SDK's test environment,
// which has no Temporal client; its first heartbeat of an attempt is
// synchronous.
func heartbeatIntent(ctx context.Context, p any) error {
	activity.RecordHeartbeat(ctx, p)
	return nil
}
