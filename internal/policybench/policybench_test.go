package policybench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// trigger is a hand-built run's trigger (unix seconds).
var trigger = time.Date(2024, 6, 1, 2, 0, 0, 0, time.UTC).Unix()

func handRun(plan ...PlannedNode) *Run {
	for i := range plan {
		plan[i].ID = int64(100 + i)
		if plan[i].WaitStatus == "" {
			plan[i].WaitStatus = dag.StatusWaitResource
		}
	}
	return &Run{Flow: "hand", Bizdate: "2024-06-01", WorkflowID: "manualdag/bench/hand/2024-06-01", Timeline: Plan(trigger, plan)}
}

// A waits 10 s and runs 60 s; B, behind it, waits 5 s and runs 25 s: the
// DAG ends 100 s after the trigger.
func twoNodes() *Run {
	return handRun(
		PlannedNode{Name: "a", Wait: 10, Run: 60},
		PlannedNode{Name: "b", Deps: []int{0}, Wait: 5, Run: 25},
	)
}

func follow(t *testing.T, run *Run, poll workflows.PollOptions) Outcome {
	t.Helper()
	if err := warmUp(); err != nil {
		t.Fatal(err)
	}
	out, err := Follow(run, DefaultConfig().Input(run, poll))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTwoNodeTimeline(t *testing.T) {
	run := twoNodes()
	if got := run.Timeline.Final() - trigger; got != 100 {
		t.Fatalf("final %d s after the trigger, want 100", got)
	}
	want := map[int64][2]dag.Node{ // second after the trigger: a, b
		0:   {{ID: 100, Name: "a", Status: dag.StatusWaitResource, Begin: trigger}, {ID: 101, Name: "b", Status: dag.StatusNotRun}},
		10:  {{ID: 100, Name: "a", Status: dag.StatusRunning, Begin: trigger + 10}, {ID: 101, Name: "b", Status: dag.StatusNotRun}},
		70:  {{ID: 100, Name: "a", Status: dag.StatusSuccess, Begin: trigger + 10, Finish: trigger + 70}, {ID: 101, Name: "b", Status: dag.StatusWaitResource, Begin: trigger + 70}},
		99:  {{ID: 100, Name: "a", Status: dag.StatusSuccess, Begin: trigger + 10, Finish: trigger + 70}, {ID: 101, Name: "b", Status: dag.StatusRunning, Begin: trigger + 75}},
		100: {{ID: 100, Name: "a", Status: dag.StatusSuccess, Begin: trigger + 10, Finish: trigger + 70}, {ID: 101, Name: "b", Status: dag.StatusSuccess, Begin: trigger + 75, Finish: trigger + 100}},
	}
	for at, nodes := range want {
		if got := run.Timeline.Snapshot(trigger+at, nil); !slices.Equal(got, nodes[:]) {
			t.Errorf("at +%d s: %+v, want %+v", at, got, nodes)
		}
		// What the search activity makes of DataWorks' answer is the snapshot.
		res := activities.Compact(run.Timeline.Instances(trigger+at), 200, activities.Known{})
		if got, err := res.Nodes(nil); err != nil || !slices.Equal(got, nodes[:]) {
			t.Errorf("at +%d s: the search sees %+v (%v), want %+v", at, got, err, nodes)
		}
	}
}

func TestFixedIntervalDetection(t *testing.T) {
	for _, tc := range []struct {
		every        time.Duration
		polls        int
		delay        time.Duration
		detectedSecs int64
	}{
		// Polls at +0, +30, +60, +90 see it running; +120 sees it done.
		{30 * time.Second, 5, 20 * time.Second, 120},
		{5 * time.Second, 21, 0, 100},
		{60 * time.Second, 3, 20 * time.Second, 120},
		{7 * time.Second, 16, 5 * time.Second, 105},
	} {
		out := follow(t, twoNodes(), Fixed(tc.every))
		if out.Polls != tc.polls || out.Calls != tc.polls+1 || out.Returns != tc.polls || out.Runs != 1 || out.Delay != tc.delay ||
			out.Verdict != dag.OutcomeSucceeded || out.Detected.Unix() != trigger+tc.detectedSecs || out.Final.Unix() != trigger+100 {
			t.Errorf("every %v: %+v, want %d polls, %d calls, delay %v, detected at +%d s", tc.every, out, tc.polls, tc.polls+1, tc.delay, tc.detectedSecs)
		}
	}
}

func TestFailureBlocksDownstream(t *testing.T) {
	// a → b → c, and d alone: b fails after 40 s of running; d ends first.
	run := handRun(
		PlannedNode{Name: "a", Wait: 0, Run: 20},
		PlannedNode{Name: "b", Deps: []int{0}, Wait: 3, Run: 40, Fails: true},
		PlannedNode{Name: "c", Deps: []int{1}, Wait: 1, Run: 1000},
		PlannedNode{Name: "d", Wait: 2, Run: 30},
		PlannedNode{Name: "e", Deps: []int{2, 3}, Wait: 1, Run: 5},
	)
	tl := &run.Timeline
	if !tl.Failed() {
		t.Fatal("the run does not fail")
	}
	b := tl.Nodes[1]
	if b.Finish != trigger+63 || tl.Final() != b.Finish {
		t.Fatalf("b finishes at +%d s, the run is final at +%d s; want both at +63", b.Finish-trigger, tl.Final()-trigger)
	}
	for _, i := range []int{2, 4} {
		if tl.Nodes[i].Ready != 0 {
			t.Errorf("%s behind the failure is ready at +%d s", tl.Nodes[i].Name, tl.Nodes[i].Ready-trigger)
		}
	}
	var statuses []dag.Status
	for _, n := range tl.Snapshot(trigger+10_000, nil) {
		statuses = append(statuses, n.Status)
	}
	want := []dag.Status{dag.StatusSuccess, dag.StatusFailure, dag.StatusNotRun, dag.StatusSuccess, dag.StatusNotRun}
	if !slices.Equal(statuses, want) {
		t.Errorf("statuses at the end %v, want %v", statuses, want)
	}
	// Polls at +0…+70 every 10 s; +70 sees it blocked since b failed at
	// +63 by DataWorks' clock, longer than blockedGrace (1 s): FAILED then.
	out := follow(t, run, Fixed(10*time.Second))
	if out.Verdict != dag.OutcomeFailed || out.Polls != 8 || out.Delay != 7*time.Second {
		t.Errorf("fixed 10 s: %s after %d polls, delay %v; want FAILED after 8 polls (+0…+70), delay 7s", out.Verdict, out.Polls, out.Delay)
	}
}

// Under the workflow's default listSettle (5m) a DAG that ends sooner is
// reported at the end of it, whatever the polls saw.
func TestDefaultListSettleHoldsTheVerdict(t *testing.T) {
	run := twoNodes()
	out, err := Follow(run, Config{}.Input(run, Fixed(30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if out.Verdict != dag.OutcomeSucceeded || out.Detected.Unix() != trigger+300 || out.Polls != 11 {
		t.Errorf("%+v; want SUCCEEDED at +300 s after 11 polls (+0…+300)", out)
	}
}

// A run longer than continueAsNewEvery (200) searches goes on in a second
// workflow run, which neither triggers nor loses count.
func TestContinueAsNew(t *testing.T) {
	run := handRun(PlannedNode{Name: "long", Run: 1200})
	out := follow(t, run, Fixed(5*time.Second))
	if out.Runs != 2 || out.Polls != 241 || out.Calls != 242 || out.Delay != 0 || out.Verdict != dag.OutcomeSucceeded {
		t.Errorf("%+v; want 2 workflow runs, 241 polls, 242 calls, no delay", out)
	}
}

// The predictive policy polls the end of a run like its earlier ones in
// repeat windows: many polls, few returns to the workflow.
func TestPredictiveWindows(t *testing.T) {
	run := twoNodes()
	end := run.Timeline.Snapshot(run.Timeline.Final(), nil)
	run.Earlier = []dag.RunTimings{dag.TimingsOf(end, run.TriggeredAt())}
	run.Profile = dag.ProfileOf(run.Earlier)
	out := follow(t, run, workflows.PollOptions{})
	if out.Verdict != dag.OutcomeSucceeded || out.Delay > 10*time.Second || out.Returns >= out.Polls {
		t.Errorf("%+v; want SUCCEEDED within 10 s, fewer returns than polls", out)
	}
}

// serverRetries lets an activity retry past the test environment's 10
// attempts, as a server would.
func TestServerRetries(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := ts.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&serverRetries{}}})
	attempts := 0
	flaky := func(context.Context) (int, error) {
		if attempts++; attempts < 25 {
			return 0, errors.New("not yet")
		}
		return attempts, nil
	}
	env.RegisterActivityWithOptions(flaky, activity.RegisterOptions{Name: "flaky"})
	env.ExecuteWorkflow(func(ctx workflow.Context) (int, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Second,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 1},
		})
		var n int
		err := workflow.ExecuteActivity(ctx, "flaky").Get(ctx, &n)
		return n, err
	})
	var n int
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if err := env.GetWorkflowResult(&n); err != nil || n != 25 {
		t.Fatalf("succeeded at attempt %d (%v), want 25", n, err)
	}
}

func smallConfig() Config {
	return Config{Seed: 7, DailyFlows: 25, Days: 9, OneOffs: 10}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(smallConfig()), Generate(smallConfig())
	if len(a) != 25*9+10 {
		t.Fatalf("%d runs, want %d", len(a), 25*9+10)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two workloads of the same seed differ")
	}
	other := smallConfig()
	other.Seed++
	if reflect.DeepEqual(a, Generate(other)) {
		t.Fatal("another seed gives the same workload")
	}
	// Each flow draws on its own: fewer one-offs leave the daily flows be.
	fewer := smallConfig()
	fewer.OneOffs = 3
	if c := Generate(fewer); !reflect.DeepEqual(a[:25*9], c[:25*9]) {
		t.Error("changing the one-off count changed the daily flows")
	}
}

func TestWorkloadShape(t *testing.T) {
	runs := Generate(smallConfig())
	for i := range runs {
		tl := &runs[i].Timeline
		n := len(tl.Nodes)
		if n < 1 || n > MaxNodes {
			t.Fatalf("%s: %d nodes", runs[i].WorkflowID, n)
		}
		if !slices.IsSortedFunc(tl.Nodes, func(a, b NodeTimes) int { return int(a.ID - b.ID) }) {
			t.Fatalf("%s: nodes not in instance id order", runs[i].WorkflowID)
		}
		for _, nt := range tl.Nodes {
			if nt.Ready != 0 && (nt.Ready < tl.Trigger || nt.Start < nt.Ready || nt.Start-nt.Ready > int64(MaxWait/time.Second) || nt.Finish <= nt.Start) {
				t.Fatalf("%s: node %+v", runs[i].WorkflowID, nt)
			}
		}
		if d := time.Duration(tl.Final()-tl.Trigger) * time.Second; !tl.Failed() && (d < MinDuration/2 || d > 3*MaxDuration) {
			t.Errorf("%s: lasts %v", runs[i].WorkflowID, d)
		}
		if !strings.HasPrefix(runs[i].WorkflowID, "manualdag/bench/"+runs[i].Flow+"/") {
			t.Errorf("workflow id %q", runs[i].WorkflowID)
		}
	}
}

// A run's earlier timings are exactly the flow's earlier succeeded runs,
// the most recent first, at most EarlierRuns of them; first runs and
// one-offs have none.
func TestProfileOnlyAfterSucceededRuns(t *testing.T) {
	cfg := smallConfig()
	runs := Generate(cfg)
	failedDaily, full := 0, 0
	for f := range cfg.DailyFlows {
		var succeeded []dag.RunTimings // most recent first
		for d := range cfg.Days {
			run := &runs[f*cfg.Days+d]
			if d == 0 && (run.Profile != nil || run.Earlier != nil) {
				t.Fatalf("%s: a first run has earlier runs", run.WorkflowID)
			}
			if want := succeeded[:min(len(succeeded), EarlierRuns)]; len(want) > 0 && !reflect.DeepEqual(run.Earlier, want) {
				t.Fatalf("%s: earlier runs %+v, want %+v", run.WorkflowID, run.Earlier, want)
			}
			if want := dag.ProfileOf(succeeded); !reflect.DeepEqual(run.Profile, want) {
				t.Fatalf("%s: profile %+v, want %+v", run.WorkflowID, run.Profile, want)
			}
			if run.Profile.Runs() == EarlierRuns {
				full++
			}
			if run.Timeline.Failed() {
				failedDaily++
				continue
			}
			end := run.Timeline.Snapshot(run.Timeline.Final(), nil)
			for _, n := range end {
				if n.Status != dag.StatusSuccess {
					t.Fatalf("%s: %s is %s at the end of a succeeded run", run.WorkflowID, n.Name, n.Status)
				}
			}
			succeeded = slices.Insert(succeeded, 0, dag.TimingsOf(end, run.TriggeredAt()))
		}
	}
	for _, run := range runs[cfg.DailyFlows*cfg.Days:] {
		if run.Profile != nil || run.Earlier != nil {
			t.Fatalf("%s: a one-off run has earlier runs", run.WorkflowID)
		}
	}
	if failedDaily == 0 || full == 0 {
		t.Errorf("the workload does not exercise the rule: %d failed daily runs, %d full profiles", failedDaily, full)
	}
}

// shortRuns are the runs of a small workload that last under half an hour
// (replays of hours at 5 s polls are slow under the race detector), with
// failed runs and runs with a profile among them.
func shortRuns(t *testing.T) (Config, []Run) {
	t.Helper()
	cfg := Config{Seed: 11, DailyFlows: 12, Days: 4, OneOffs: 6, ListSettle: BenchListSettle, BlockedGrace: BenchBlockedGrace}
	var runs []Run
	failed, profiled := 0, 0
	for _, run := range Generate(cfg) {
		if run.Timeline.Final()-run.Timeline.Trigger < 1800 {
			runs = append(runs, run)
			if run.Timeline.Failed() {
				failed++
			}
			if run.Profile != nil {
				profiled++
			}
		}
	}
	if failed == 0 || profiled == 0 {
		t.Fatalf("%d short runs, %d failed, %d with a profile: pick another seed", len(runs), failed, profiled)
	}
	return cfg, runs
}

// Every policy gives every run its true verdict, after its end; fixed 5 s
// sees the end within 5 s (a blocked failure blockedGrace and a poll later).
func TestReplayGivesTrueVerdicts(t *testing.T) {
	cfg, runs := shortRuns(t)
	res, err := Replay(cfg, runs, Policies())
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		tl := &runs[i].Timeline
		for p, name := range res.Policies {
			o := res.Outcomes[p][i]
			if o.Final.Unix() != tl.Final() || o.Delay < 0 || o.Detected.Sub(o.Final) != o.Delay || o.Calls != o.Polls+1 ||
				o.Returns < 1 || o.Returns > o.Polls || o.Runs < 1 {
				t.Fatalf("%s, %s: %+v (final +%d s)", runs[i].WorkflowID, name, o, tl.Final()-tl.Trigger)
			}
		}
		if o := res.Outcomes[0][i]; o.Delay >= 5*time.Second+BenchBlockedGrace+time.Second {
			t.Fatalf("%s: fixed 5 s sees the end %v late", runs[i].WorkflowID, o.Delay)
		}
	}
	md := res.Markdown()
	for _, want := range []string{"seed 11", "## all runs", "## runs with a profile", "## runs without a profile",
		"## failed runs", "## Targets", "calls/DAG ≤ 1/6 of fixed 5 s", "p95 delay ≤ 20.0 s", "listSettle 1s", "blockedGrace 1s",
		"RunManualDag", "| fixed 5 s | " + strconv.Itoa(len(runs)) + " |", "| " + Default + " | " + strconv.Itoa(len(runs)) + " |",
		"| " + Backoff + " |", "For comparison, fixed 30 s", "Wall time"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if ev := res.EventsMarkdown(); !strings.Contains(ev, "## DataWorks events (issue 16)") || !strings.Contains(ev, "| all runs | "+strconv.Itoa(len(runs))+" |") {
		t.Errorf("events report:\n%s", ev)
	}
	s := res.Stats(0, Segments[0])
	if s.Runs != len(runs) || s.CallsMean <= 1 || s.DAGHours <= 0 || s.PollsPerDAGHour() <= 0 {
		t.Errorf("fixed 5 s stats %+v", s)
	}

	cfg.ListSettle, cfg.BlockedGrace = 0, 0
	product, err := Replay(cfg, runs, []Policy{{Name: Default}})
	if err != nil {
		t.Fatal(err)
	}
	md = product.PolicyMarkdown(Default)
	for _, want := range []string{"## " + Default, "listSettle at its default", "blockedGrace at its default", "| all runs |", "| failed runs |", "Wall time"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for i := range runs {
		// Short runs wait out the list's settling, failed ones the grace.
		if o := product.Outcomes[0][i]; o.Detected.Before(runs[i].TriggeredAt().Add(workflows.HistorySettle)) {
			t.Fatalf("%s: reported %v after the trigger", runs[i].WorkflowID, o.Detected.Sub(runs[i].TriggeredAt()))
		}
	}
}

func TestQuantileIsNearestRank(t *testing.T) {
	xs := []int{20, 1, 19, 2, 18, 3, 17, 4, 16, 5, 15, 6, 14, 7, 13, 8, 12, 9, 11, 10}
	for q, want := range map[float64]int{0.5: 10, 0.95: 19, 1: 20, 0.01: 1, 0: 1} {
		if got := Quantile(xs, q); got != want {
			t.Errorf("q %v: %d, want %d", q, got, want)
		}
	}
	if got := Quantile([]time.Duration{3 * time.Second}, 0.95); got != 3*time.Second {
		t.Errorf("one value: %v", got)
	}
	if xs[0] != 20 {
		t.Error("Quantile sorted its argument")
	}
}

// followWith is follow with events delivered.
func followWith(t *testing.T, run *Run, d Delivery) Outcome {
	t.Helper()
	if err := warmUp(); err != nil {
		t.Fatal(err)
	}
	out, err := FollowEvents(run, DefaultConfig().Input(run, workflows.PollOptions{}), d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// An hour-long chain with a profile: with events the run sees the end at
// the final event and polls on the safety net; losing the final event
// costs delay, never the verdict; forged events cost searches, never the
// verdict.
func TestEventsLeadTheRun(t *testing.T) {
	plan := func() *Run {
		return handRun(
			PlannedNode{Name: "extract", Wait: 5, Run: 1200},
			PlannedNode{Name: "load", Deps: []int{0}, Wait: 5, Run: 2390},
		)
	}
	run := plan()
	end := run.Timeline.Snapshot(run.Timeline.Final(), nil)
	run.Earlier = []dag.RunTimings{dag.TimingsOf(end, run.TriggeredAt()), dag.TimingsOf(end, run.TriggeredAt()), dag.TimingsOf(end, run.TriggeredAt())} // events lead from 3 (workflows.EventTrustRuns)
	run.Profile = dag.ProfileOf(run.Earlier)

	base := followWith(t, run, Delivery{})
	with := followWith(t, run, Events)
	if with.Verdict != dag.OutcomeSucceeded || with.Delay > 3*time.Second {
		t.Errorf("with events: %s after %v, want SUCCEEDED within 3 s", with.Verdict, with.Delay)
	}
	hours := time.Duration(run.Timeline.Final()-run.Timeline.Trigger) * time.Second
	if perHour := float64(with.Calls) / hours.Hours(); perHour > 10 {
		t.Errorf("with events: %d calls in %v, %.1f per DAG-hour, want ≤ 10 (without: %d)", with.Calls, hours, perHour, base.Calls)
	}
	lost := Delivery{On: true, Delay: Events.Delay, Drop: 1}
	if o := followWith(t, run, lost); o.Verdict != dag.OutcomeSucceeded || o.Calls != base.Calls || o.Delay != base.Delay {
		t.Errorf("every event lost: %+v, want what the policy does alone (%d calls, delay %v)", o, base.Calls, base.Delay)
	}
	if o := followWith(t, run, forged); o.Verdict != dag.OutcomeSucceeded || o.Delay > 3*time.Second {
		t.Errorf("forged events: %s after %v", o.Verdict, o.Delay)
	}
	t.Logf("calls: alone %d, with events %d", base.Calls, with.Calls)
}

// The delivery sends the DAG's start and end events a delay after them,
// loses the same ones on every replay, forges and replays on demand, and
// the earlier runs' memos count what they lost.
func TestDelivery(t *testing.T) {
	run := twoNodes()
	evs := Events.events(run)
	if len(evs) != 2 || evs[0].ev.Status != dag.StatusRunning || evs[1].ev.Status != dag.StatusSuccess || !evs[1].ev.Final ||
		evs[0].at != run.TriggeredAt().Add(Events.Delay) || evs[1].at.Unix() != trigger+100+1 || evs[1].ev.DagID != DagID {
		t.Fatalf("events %+v", evs)
	}
	if got := (Delivery{On: true, Drop: 1}).events(run); len(got) != 0 {
		t.Errorf("every event lost: %d sent", len(got))
	}
	inst := Delivery{On: true, Instances: true}.events(run)
	if len(inst) != 2+3*2 {
		t.Errorf("%d events with the instances', want 8", len(inst))
	}
	long := handRun(PlannedNode{Name: "long", Run: 1800})
	f := forged.events(long)
	fakes, others, replays := 0, 0, 0
	for _, e := range f {
		switch {
		case e.ev.DagID != DagID:
			others++
		case strings.HasPrefix(e.ev.ID, "forged/"):
			fakes++
		case e.at.After(time.Unix(long.Timeline.Trigger, 0).Add(replayAfter)) && !e.ev.Final:
			replays++
		}
	}
	if fakes != 4 || others != 4 || replays != 1 || len(f) != 2*2+8 {
		t.Errorf("forged delivery: %d forged, %d about another DAG, %d replayed starts, %d in all", fakes, others, replays, len(f))
	}
	lossy := Delivery{On: true, Drop: 0.5}
	lost, kept := 0, 0
	for i := range 200 {
		r := *twoNodes()
		r.WorkflowID = fmt.Sprint("w", i)
		n := len(lossy.events(&r))
		if n != len(lossy.events(&r)) {
			t.Fatal("a replay loses other events")
		}
		lost, kept = lost+2-n, kept+n
	}
	if lost < 150 || kept < 150 {
		t.Errorf("half lost: %d lost, %d kept", lost, kept)
	}
	run.Earlier = []dag.RunTimings{{Names: []string{"a"}, Begin: []int32{0}, Finish: []int32{60}}, {Names: []string{"a"}, Begin: []int32{0}, Finish: []int32{61}}}
	for _, e := range Events.earlier(run) {
		if e.Events != 2 || e.EventMiss != 0 {
			t.Errorf("delivered: memo %+v", e)
		}
	}
	for _, e := range (Delivery{On: true, Drop: 1}).earlier(run) {
		if e.Events != 0 || e.EventMiss != 0 {
			t.Errorf("all lost: memo %+v, want no events", e)
		}
	}
	if got := (Delivery{}).earlier(run); got[0].Events != 0 {
		t.Errorf("no delivery: memo %+v", got[0])
	}
}
