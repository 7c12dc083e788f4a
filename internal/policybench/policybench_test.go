package policybench

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

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
		got := run.Timeline.Snapshot(trigger+at, nil)
		if !slices.Equal(got, nodes[:]) {
			t.Errorf("at +%d s: %+v, want %+v", at, got, nodes)
		}
		if settled := Settled(got); settled != (at >= 100) {
			t.Errorf("at +%d s: settled %v", at, settled)
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
		out, err := Simulate(twoNodes(), Fixed(tc.every))
		if err != nil {
			t.Fatal(err)
		}
		if out.Polls != tc.polls || out.Calls != tc.polls+1 || out.Delay != tc.delay ||
			out.Detected.Unix() != trigger+tc.detectedSecs || out.Final.Unix() != trigger+100 {
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
	end := tl.Snapshot(trigger+10_000, nil)
	var statuses []dag.Status
	for _, n := range end {
		statuses = append(statuses, n.Status)
	}
	want := []dag.Status{dag.StatusSuccess, dag.StatusFailure, dag.StatusNotRun, dag.StatusSuccess, dag.StatusNotRun}
	if !slices.Equal(statuses, want) {
		t.Errorf("statuses at the end %v, want %v", statuses, want)
	}
	if Settled(tl.Snapshot(tl.Final()-1, nil)) || !Settled(tl.Snapshot(tl.Final(), nil)) {
		t.Error("settled before the failure, or not at it")
	}
	out, err := Simulate(run, Fixed(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if out.Polls != 8 || out.Delay != 7*time.Second {
		t.Errorf("fixed 10 s: %d polls, delay %v; want 8 polls (+0…+70), delay 7s", out.Polls, out.Delay)
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

// A run's profile holds exactly the flow's earlier succeeded runs, the most
// recent first, at most 7 of them; first runs and one-offs have none.
func TestProfileOnlyAfterSucceededRuns(t *testing.T) {
	cfg := smallConfig()
	runs := Generate(cfg)
	failedDaily, full := 0, 0
	for f := range cfg.DailyFlows {
		var succeeded []dag.RunTimings // most recent first
		for d := range cfg.Days {
			run := &runs[f*cfg.Days+d]
			if d == 0 && run.Profile != nil {
				t.Fatalf("%s: a first run has a profile", run.WorkflowID)
			}
			if want := dag.ProfileOf(succeeded); !reflect.DeepEqual(run.Profile, want) {
				t.Fatalf("%s: profile %+v, want %+v", run.WorkflowID, run.Profile, want)
			}
			if len(succeeded) > 0 && run.Profile.Runs() != min(len(succeeded), 7) {
				t.Fatalf("%s: %d runs in the profile after %d succeeded ones", run.WorkflowID, run.Profile.Runs(), len(succeeded))
			}
			if run.Profile.Runs() == 7 {
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
		if run.Profile != nil {
			t.Fatalf("%s: a one-off run has a profile", run.WorkflowID)
		}
	}
	if failedDaily == 0 || full == 0 {
		t.Errorf("the workload does not exercise the rule: %d failed daily runs, %d full profiles", failedDaily, full)
	}
}

// Every policy sees each run at the first poll at or after its final time.
func TestDetectionIsTheFirstPollAfterTheEnd(t *testing.T) {
	policies, err := Policies()
	if err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	cfg.DailyFlows, cfg.OneOffs = 8, 4
	runs := Generate(cfg)
	res, err := Replay(cfg, runs, policies)
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		tl := &runs[i].Timeline
		if Settled(tl.Snapshot(tl.Final()-1, nil)) || !Settled(tl.Snapshot(tl.Final(), nil)) {
			t.Fatalf("%s: settled does not turn at the final time", runs[i].WorkflowID)
		}
		for p := range policies {
			o := res.Outcomes[p][i]
			if o.Final.Unix() != tl.Final() || o.Delay < 0 || o.Detected.Sub(o.Final) != o.Delay || o.Calls != o.Polls+1 {
				t.Fatalf("%s, %s: %+v (final +%d s)", runs[i].WorkflowID, policies[p].Name, o, tl.Final()-tl.Trigger)
			}
		}
		if o := res.Outcomes[0][i]; o.Delay >= 5*time.Second {
			t.Fatalf("%s: fixed 5 s sees the end %v late", runs[i].WorkflowID, o.Delay)
		}
	}
}

// recorder keeps the observations the simulator hands a policy.
type recorder struct {
	wait time.Duration
	obs  []workflows.Observation
}

func (r *recorder) Next(o workflows.Observation) time.Duration {
	o.Nodes = slices.Clone(o.Nodes)
	r.obs = append(r.obs, o)
	return r.wait
}

func TestObservationMirrorsTheWorkflow(t *testing.T) {
	run := twoNodes()
	run.Profile = &dag.Profile{Names: []string{"a", "b"}, Begin: [][]int32{{10, 75}}, Finish: [][]int32{{70, 100}}}
	rec := &recorder{wait: 20 * time.Second}
	out, err := Simulate(run, rec)
	if err != nil {
		t.Fatal(err)
	}
	// Polls at +0 (a waits), +20, +40, +60 (a runs), +80 (b runs), +100 (done).
	if out.Polls != 6 || len(rec.obs) != 5 {
		t.Fatalf("%d polls, %d observations", out.Polls, len(rec.obs))
	}
	changed := []bool{true, true, false, false, true}
	unchanged := []int{0, 0, 1, 2, 0}
	active := []int{1, 1, 1, 1, 1}
	for i, o := range rec.obs {
		at := time.Duration(20*i) * time.Second
		if o.Polls != i+1 || o.SinceTrigger != at || o.Changed != changed[i] || o.Unchanged != unchanged[i] ||
			o.Active != active[i] || o.Total != 2 || o.Seed != workflows.JitterSeed(run.WorkflowID) ||
			!o.TriggeredAt.Equal(run.TriggeredAt()) || !o.Now.Equal(run.TriggeredAt().Add(at)) || o.Profile != run.Profile {
			t.Errorf("observation %d: %+v", i, o)
		}
		if want := run.Timeline.Snapshot(trigger+int64(20*i), nil); !slices.Equal(o.Nodes, want) {
			t.Errorf("observation %d: nodes %+v, want %+v", i, o.Nodes, want)
		}
	}
}

func TestSimulateRefusesAStuckPolicy(t *testing.T) {
	if _, err := Simulate(twoNodes(), &recorder{wait: 0}); err == nil {
		t.Fatal("a policy that waits 0 was followed")
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

func TestMarkdown(t *testing.T) {
	policies, err := Policies()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Seed: 3, DailyFlows: 4, Days: 3, OneOffs: 2}
	res, err := Replay(cfg, Generate(cfg), policies)
	if err != nil {
		t.Fatal(err)
	}
	md := res.Markdown()
	for _, want := range []string{"seed 3", "| 14 |", "## all runs", "## runs with a profile", "## runs without a profile",
		"## failed runs", "## Targets", "calls/DAG ≤ 1/6 of fixed 5 s", "p95 delay ≤ 20.0 s", "blockedGrace",
		"| fixed 5 s | 14 |", "| " + Default + " | 14 |", "| " + Backoff + " |", "For comparison, fixed 30 s"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	s := res.Stats(0, Segments[0])
	if s.Runs != 14 || s.CallsMean <= 1 || s.DAGHours <= 0 || s.PollsPerDAGHour() <= 0 {
		t.Errorf("fixed 5 s stats %+v", s)
	}
}
