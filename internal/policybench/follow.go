package policybench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/workflows"
)

// Outcome is how RunManualDag followed one run under one policy.
type Outcome struct {
	// Polls is the number of DataWorks searches (every poll of a repeat
	// window is one); Calls the DataWorks calls for the DAG: the polls and
	// the create.
	Polls, Calls int
	// Returns is the number of search activities that returned to the
	// workflow (a repeat window returns once): what the history grows by.
	// Runs counts the workflow runs, continue-as-new included.
	Returns, Runs int
	// Verdict is the report's outcome.
	Verdict dag.Outcome
	// Final is when the nodes stopped changing; Detected the report's
	// FinishedAt, Delay the difference.
	Final, Detected time.Time
	Delay           time.Duration
	// FailureDelay is how long after the first node failed a search first
	// saw it (a repeat window returns at once on a new failure); 0 for a
	// run without a failure.
	FailureDelay time.Duration
	// Searches are the unix seconds of the searches, kept for runs of a
	// burst (the load DataWorks sees at once).
	Searches []int64
}

// The benchmark's settings of RunManualDagInput (DefaultConfig). The
// simulated DataWorks lists every node of a DAG run at once, so the list
// needs no time to settle: the default listSettle (5m) would only hold back
// the verdict of short runs. A blocked failed run waits blockedGrace under
// every policy alike before it counts as failed (default 3m): the figures
// measure how late the polls see the end, not the grace.
const (
	BenchListSettle   = time.Second
	BenchBlockedGrace = time.Second
	// Project is the DataWorks project of every run.
	Project = "bench"
	// DagID is what the create answers.
	DagID = 700_000_000_001
)

// Input is the input a user would start run with under the poll options.
func (cfg Config) Input(run *Run, poll workflows.PollOptions) workflows.RunManualDagInput {
	return workflows.RunManualDagInput{
		ProjectName:  Project,
		FlowName:     run.Flow,
		Bizdate:      run.Bizdate,
		Poll:         poll,
		ListSettle:   dag.Duration(cfg.ListSettle),
		BlockedGrace: dag.Duration(cfg.BlockedGrace),
	}
}

// Follow runs RunManualDag with input in over run's timeline on the SDK's test
// environment (a mock clock: no wall time passes while the workflow waits)
// and measures it. The workflow and the search activity are the product's;
// DataWorks answers from the timeline at the mock clock's time; the create,
// the guard ("no other runs") and FlowTimings (run.Earlier) are answered
// as a worker would answer them. A run that continues as new goes on in a
// fresh environment with the continued input, as on a server.
func Follow(run *Run, in workflows.RunManualDagInput) (Outcome, error) {
	return FollowEvents(run, in, Delivery{})
}

// FollowEvents is Follow with DataWorks' pushed events delivered to the
// run as the OpenEvent receiver would signal them (Delivery).
func FollowEvents(run *Run, in workflows.RunManualDagInput, d Delivery) (Outcome, error) {
	dw := &simDataWorks{tl: &run.Timeline, keep: run.Burst}
	start := run.TriggeredAt()
	out := Outcome{Final: time.Unix(run.Timeline.Final(), 0).UTC()}
	events := d.events(run)
	for {
		out.Runs++
		env := newEnv(run, dw, d)
		env.SetStartTime(start)
		for _, te := range events {
			if !te.at.Before(start) {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(dag.SignalEvent, te.ev) }, te.at.Sub(start))
			}
		}
		env.ExecuteWorkflow(workflows.WorkflowName, in)
		if !env.IsWorkflowCompleted() {
			return out, fmt.Errorf("%s: the workflow did not complete", run.WorkflowID)
		}
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			in = workflows.RunManualDagInput{}
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
				return out, fmt.Errorf("%s: continue-as-new input: %w", run.WorkflowID, err)
			}
			start = env.Now()
			continue
		}
		var rep dag.DagReport
		if err == nil {
			err = env.GetWorkflowResult(&rep)
		} else if r, ok := workflows.ReportFromError(err); ok {
			rep, err = r, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", run.WorkflowID, err)
		}
		// An event that cuts a repeat window short leaves its polls
		// estimated from the window's start and pace (a cancelled activity
		// does not say how many it made): one off at most per event.
		return dw.measure(run, rep, out, len(events))
	}
}

// measure completes out from the report and what DataWorks saw, and checks
// the verdict against the timeline.
func (dw *simDataWorks) measure(run *Run, rep dag.DagReport, out Outcome, pollSlack int) (Outcome, error) {
	out.Polls, out.Returns = int(dw.searches.Load()), int(dw.returns.Load())
	out.Calls = out.Polls + 1
	out.Verdict, out.Detected = rep.Outcome, rep.FinishedAt
	out.Delay = out.Detected.Sub(out.Final)
	if ff := run.Timeline.FirstFailure(); ff > 0 {
		if dw.failureSeen.Load() == 0 {
			return out, fmt.Errorf("%s: no search saw the failure at +%d s", run.WorkflowID, ff-run.Timeline.Trigger)
		}
		out.FailureDelay = time.Duration(dw.failureSeen.Load()-ff) * time.Second
	}
	out.Searches = dw.times
	want := dag.OutcomeSucceeded
	if run.Timeline.Failed() {
		want = dag.OutcomeFailed
	}
	switch {
	case rep.Outcome != want:
		return out, fmt.Errorf("%s: %s, want %s: %s", run.WorkflowID, rep.Outcome, want, rep.Message)
	case out.Delay < 0:
		return out, fmt.Errorf("%s: %s %v before the DAG ended", run.WorkflowID, rep.Outcome, -out.Delay)
	case rep.Polls < out.Polls-pollSlack || rep.Polls > out.Polls+pollSlack:
		return out, fmt.Errorf("%s: the report counts %d polls, DataWorks saw %d searches", run.WorkflowID, rep.Polls, out.Polls)
	}
	return out, nil
}

// newEnv is a test environment for one workflow run of run.
func newEnv(run *Run, dw *simDataWorks, d Delivery) *testsuite.TestWorkflowEnvironment {
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := ts.NewTestWorkflowEnvironment()
	// The idle timeout is wall time; a loaded machine needs more than 3s.
	env.SetTestTimeout(time.Minute)
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&serverRetries{}}})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: run.WorkflowID, TaskQueue: workflows.TaskQueue})
	env.RegisterWorkflowWithOptions(workflows.RunManualDag, workflow.RegisterOptions{Name: workflows.WorkflowName})
	dw.now = env.Now

	var a *activities.Activities
	env.RegisterActivity(&activities.Activities{DW: dw})
	env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).Return(activities.CreateManualDagResult{DagID: DagID}, nil)
	unsupported := "the benchmark reads no logs and stops nothing"
	env.OnActivity(a.GetInstanceLogs, mock.Anything, mock.Anything).Return(activities.LogsResult{Unsupported: unsupported}, nil)
	env.OnActivity(a.StopInstances, mock.Anything, mock.Anything).Return(activities.InstancesResult{Unsupported: unsupported}, nil)

	var runs *activities.Runs
	env.RegisterActivity(runs)
	env.OnActivity(runs.GuardTrigger, mock.Anything, mock.Anything).Return(activities.GuardTriggerResult{}, nil)
	timings := activities.FlowTimingsResult{Runs: d.earlier(run)}
	if len(run.Earlier) == 0 {
		timings.Note = "no earlier successful run of the flow"
	}
	env.OnActivity(runs.FlowTimings, mock.Anything, mock.Anything).Return(timings, nil)
	return env
}

// simDataWorks is DataWorks running one DAG run: the search answers what
// the timeline shows at the mock clock's second.
type simDataWorks struct {
	tl  *Timeline
	now func() time.Time
	// searches counts the searches, returns the search activities (first
	// attempts): the activity and the workflow run on other goroutines.
	searches, returns atomic.Int64
	// failureSeen is the unix second of the first search at or after the
	// first failure (0 until then).
	failureSeen atomic.Int64
	// keep: record the searches' times in times.
	keep  bool
	mu    sync.Mutex
	times []int64
}

var _ activities.DataWorks = (*simDataWorks)(nil)

func (dw *simDataWorks) CreateManualDag(context.Context, dataworks.CreateManualDagRequest) (int64, error) {
	return 0, errors.New("the benchmark answers the create activity itself")
}

func (dw *simDataWorks) SearchManualDagNodeInstance(ctx context.Context, req dataworks.SearchManualDagNodeInstanceRequest) ([]dataworks.NodeInstance, error) {
	if req.DagID != DagID {
		return nil, fmt.Errorf("search of DAG %d; the benchmark's is %d", req.DagID, DagID)
	}
	dw.searches.Add(1)
	if activity.GetInfo(ctx).Attempt == 1 {
		dw.returns.Add(1)
	}
	now := dw.now().Unix()
	if ff := dw.tl.FirstFailure(); ff > 0 && now >= ff {
		dw.failureSeen.CompareAndSwap(0, now)
	}
	if dw.keep {
		dw.mu.Lock()
		dw.times = append(dw.times, now)
		dw.mu.Unlock()
	}
	return dw.tl.Instances(now), nil
}

// serverRetries lifts the test environment's limit of 10 attempts for an
// activity whose retry policy sets none (the server has no limit), so that
// a repeat window makes all its polls in one activity, as on a server.
type serverRetries struct {
	interceptor.WorkerInterceptorBase
}

func (*serverRetries) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &retriesInbound{interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type retriesInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *retriesInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&retriesOutbound{interceptor.WorkflowOutboundInterceptorBase{Next: outbound}})
}

type retriesOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (o *retriesOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if opts := workflow.GetActivityOptions(ctx); opts.RetryPolicy != nil && opts.RetryPolicy.MaximumAttempts == 0 {
		p := *opts.RetryPolicy
		p.MaximumAttempts = math.MaxInt32
		opts.RetryPolicy = &p
		ctx = workflow.WithActivityOptions(ctx, opts)
	}
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}
