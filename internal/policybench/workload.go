// Package policybench replays simulated DataWorks DAG timelines through
// RunManualDag itself, under each poll policy a user can ask for in its
// input (the predictive default, backoff, and fixed-interval baselines),
// and tabulates how many DataWorks calls each spends per DAG and how late
// each reports the DAG's end (issue 6 §1). Each run is a workflow run on
// the Temporal SDK's test environment: a mock clock, so that hours of DAG
// take milliseconds, and the product's search activity over a simulated
// DataWorks that answers from the timeline. Figures are deterministic for a
// seed.
//
// Generate builds the workload, Replay follows it with each policy (Follow
// runs one workflow), and Result.Markdown prints the figures;
// BenchmarkPolicies (bench_test.go, make bench-policy) runs the three.
package policybench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// The default workload. Daily flows run Days days in a row with similar
// durations (the profile the predictive policy learns from); one-off flows
// run once, with no profile.
const (
	DefaultSeed       = 20240601
	DefaultDailyFlows = 100
	DefaultDays       = 8
	DefaultOneOffs    = 200

	// MaxNodes bounds a flow's size; sizes are log-uniform on [1, MaxNodes].
	MaxNodes = 200
	// MinDuration and MaxDuration bound the critical path of a flow's base
	// running durations, log-uniform between them.
	MinDuration = time.Minute
	MaxDuration = 6 * time.Hour
	// MaxWait bounds a node's WAIT_TIME/WAIT_RESOURCE phase (uniform from 0).
	MaxWait = 30 * time.Second
	// NodeSpread and RunSpread are the standard deviations of the log of a
	// node's duration from one run to the next, per node and for the whole
	// run.
	NodeSpread = 0.10
	RunSpread  = 0.05
	// FailureRate is the chance that a run has a failing node; the node
	// fails after FailAtMin..1 of its duration.
	FailureRate = 0.08
	FailAtMin   = 0.2
	// EarlierRuns is how many earlier runs' timings the FlowTimings
	// activity reads at most.
	EarlierRuns = 7
)

// Config shapes a workload and the input its runs are started with;
// DefaultConfig is the benchmark's.
type Config struct {
	Seed       uint64
	DailyFlows int // flows that run Days days in a row
	Days       int
	OneOffs    int // flows that run once
	// ListSettle and BlockedGrace go into every run's input; 0 leaves the
	// workflow's default (5m and 30s).
	ListSettle, BlockedGrace time.Duration
	// Variant hardens the workload (strata.go); the zero value is the
	// workload of issue 6. MeasureFrom is the first day whose runs are
	// followed: earlier days only make the profile.
	Variant     Variant
	MeasureFrom int
	// Stratum names the workload in the report ("" for the main one).
	Stratum string
}

// DefaultConfig is the benchmark's workload, started with BenchListSettle
// and BenchBlockedGrace.
func DefaultConfig() Config {
	return Config{Seed: DefaultSeed, DailyFlows: DefaultDailyFlows, Days: DefaultDays, OneOffs: DefaultOneOffs,
		ListSettle: BenchListSettle, BlockedGrace: BenchBlockedGrace}
}

// NodeTimes is one node instance's life in a run. A node is NOT_RUN until
// Ready (0 = never: it waits behind a failure), waits (status Wait) until
// Start, runs until Finish and ends SUCCESS, or FAILURE when Failed. Unix
// seconds; Ready <= Start <= Finish.
type NodeTimes struct {
	ID     int64
	Name   string
	Wait   dag.Status // WAIT_TIME or WAIT_RESOURCE
	Ready  int64
	Start  int64
	Finish int64
	Failed bool
}

// Timeline is a DAG run: its trigger and its nodes in instance id order.
type Timeline struct {
	Trigger int64 // unix seconds
	Nodes   []NodeTimes
}

// Snapshot is what a search at unix second t sees, as activities.Compact
// builds it: Begin is the RUNNING start once running, the wait start before
// that. It reuses dst's storage.
func (tl *Timeline) Snapshot(t int64, dst []dag.Node) []dag.Node {
	dst = dst[:0]
	for _, n := range tl.Nodes {
		node := dag.Node{ID: n.ID, Name: n.Name, Status: dag.StatusNotRun}
		switch {
		case n.Ready == 0 || t < n.Ready:
		case t < n.Start:
			node.Status, node.Begin = n.Wait, n.Ready
		case t < n.Finish:
			node.Status, node.Begin = dag.StatusRunning, n.Start
		default:
			node.Status, node.Begin, node.Finish = dag.StatusSuccess, n.Start, n.Finish
			if n.Failed {
				node.Status = dag.StatusFailure
			}
		}
		dst = append(dst, node)
	}
	return dst
}

// Instances is what DataWorks answers a search at unix second t: the
// node instances as aliyun.Client returns them, which the search
// activity compacts into Snapshot's nodes.
func (tl *Timeline) Instances(t int64) []dataworks.NodeInstance {
	list := make([]dataworks.NodeInstance, len(tl.Nodes))
	for i, n := range tl.Nodes {
		ni := &list[i]
		ni.InstanceID, ni.NodeName, ni.Status = n.ID, n.Name, dag.StatusNotRun
		switch {
		case n.Ready == 0 || t < n.Ready:
			continue
		case n.Wait == dag.StatusWaitTime:
			ni.BeginWaitTimeTime = time.Unix(n.Ready, 0)
		default:
			ni.BeginWaitResTime = time.Unix(n.Ready, 0)
		}
		switch {
		case t < n.Start:
			ni.Status = n.Wait
		case t < n.Finish:
			ni.Status, ni.BeginRunningTime = dag.StatusRunning, time.Unix(n.Start, 0)
		default:
			ni.Status, ni.BeginRunningTime, ni.FinishTime = dag.StatusSuccess, time.Unix(n.Start, 0), time.Unix(n.Finish, 0)
			if n.Failed {
				ni.Status = dag.StatusFailure
			}
		}
	}
	return list
}

// Final is the unix second after which no node changes any more: every
// node that will ever run has finished, and the rest wait behind a failure.
func (tl *Timeline) Final() int64 {
	end := tl.Trigger
	for _, n := range tl.Nodes {
		if n.Ready != 0 {
			end = max(end, n.Finish)
		}
	}
	return end
}

// FirstFailure is the unix second the first node fails (0 when none does).
func (tl *Timeline) FirstFailure() int64 {
	first := int64(0)
	for _, n := range tl.Nodes {
		if n.Failed && n.Ready != 0 && (first == 0 || n.Finish < first) {
			first = n.Finish
		}
	}
	return first
}

// Failed reports whether a node of the run fails.
func (tl *Timeline) Failed() bool {
	return slices.ContainsFunc(tl.Nodes, func(n NodeTimes) bool { return n.Failed })
}

// Run is one simulated DAG run, with the profile the product would hand it.
type Run struct {
	Flow       string
	Bizdate    string
	WorkflowID string // manualdag/bench/<flow>/<bizdate>: seeds the jitter
	Timeline   Timeline
	// Earlier are the timings the flow's earlier succeeded runs kept
	// (most recent first), as RunManualDag keeps them in its memo: what the
	// FlowTimings activity answers. Profile is dag.ProfileOf them,
	// nil for a first run, a one-off, or after failures only.
	Earlier []dag.RunTimings
	Profile *dag.Profile
	// Stratum is the workload the run belongs to ("" for the main one),
	// Day its day in it; a run not Measured only built the profile of the
	// flow's later runs and is not followed.
	Stratum  string
	Day      int
	Measured bool
	// Burst: the run starts with the other flows of its stratum; its
	// searches' times are kept to show the load at once.
	Burst bool
}

// TriggeredAt is the run's trigger time.
func (r *Run) TriggeredAt() time.Time { return time.Unix(r.Timeline.Trigger, 0).UTC() }

// flow is a DAG shape and its nodes' base running durations (seconds).
type flow struct {
	name string
	deps [][]int
	base []float64
}

// origin is the first day of the workload: daily flows run at 02:00 UTC
// plus a per-flow offset on consecutive days from here.
var origin = time.Date(2024, 6, 1, 2, 0, 0, 0, time.UTC)

// Generate builds the workload of cfg: cfg.DailyFlows flows run cfg.Days
// days in a row, then cfg.OneOffs flows run once. Deterministic for a
// config; each flow draws from its own generator, so that changing one count
// leaves the other flows as they were.
func Generate(cfg Config) []Run {
	var runs []Run
	v := cfg.Variant
	for f := range cfg.DailyFlows {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(f)))
		fl := newFlow(rng, fmt.Sprintf("daily_%03d", f), v)
		offset := time.Duration(rng.IntN(120*60)) * time.Second
		if v.Burst {
			offset = 0 // every flow at 02:00, as one schedule starts them
		}
		var learned []dag.RunTimings // most recent first
		for d := range cfg.Days {
			day := origin.AddDate(0, 0, d)
			trigger := day.Add(offset + time.Duration(rng.IntN(60))*time.Second)
			run := fl.run(rng, v, day, trigger, int64(len(runs)))
			run.Earlier = slices.Clone(learned[:min(len(learned), EarlierRuns)])
			run.Profile = dag.ProfileOf(learned)
			run.Stratum, run.Day, run.Measured, run.Burst = cfg.Stratum, d, d >= cfg.MeasureFrom, v.Burst
			if !run.Timeline.Failed() {
				end := run.Timeline.Snapshot(run.Timeline.Final(), nil)
				learned = slices.Insert(learned, 0, dag.TimingsOf(end, run.TriggeredAt()))
			}
			runs = append(runs, run)
		}
	}
	for f := range cfg.OneOffs {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(1<<32+f)))
		fl := newFlow(rng, fmt.Sprintf("oneoff_%03d", f), v)
		day := origin.AddDate(0, 0, rng.IntN(max(cfg.Days, 1)))
		trigger := day.Add(time.Duration(rng.IntN(22*3600)) * time.Second)
		run := fl.run(rng, v, day, trigger, int64(len(runs)))
		run.Stratum, run.Measured = cfg.Stratum, true
		runs = append(runs, run)
	}
	return runs
}

// newFlow draws a DAG: a log-uniform number of nodes, each depending on 0
// to 2 earlier ones, with log-normal relative durations scaled so that the
// critical path is log-uniform between MinDuration and MaxDuration.
func newFlow(rng *rand.Rand, name string, v Variant) flow {
	n := int(math.Round(logUniform(rng, 1, MaxNodes)))
	if v.Nodes > 0 {
		n = v.Nodes
	}
	fl := flow{name: name, deps: make([][]int, n), base: make([]float64, n)}
	for i := 1; i < n; i++ {
		k := 0 // 0 deps (a root) 15%, 1 dep 50%, 2 deps 35%
		switch u := rng.Float64(); {
		case u >= 0.65:
			k = 2
		case u >= 0.15:
			k = 1
		}
		fl.deps[i] = rng.Perm(i)[:min(k, i)]
		slices.Sort(fl.deps[i])
	}
	for i := range fl.base {
		fl.base[i] = math.Exp(rng.NormFloat64())
	}
	lo, hi := MinDuration, MaxDuration
	if v.MaxDuration > 0 {
		lo, hi = v.MinDuration, v.MaxDuration
	}
	scale := logUniform(rng, lo.Seconds(), hi.Seconds()) / criticalPath(fl.deps, fl.base)
	for i := range fl.base {
		fl.base[i] = max(fl.base[i]*scale, 1)
	}
	return fl
}

// criticalPath is the longest chain of durations through the DAG (nodes
// depend only on earlier ones).
func criticalPath(deps [][]int, dur []float64) float64 {
	end := make([]float64, len(dur))
	longest := 0.0
	for i := range dur {
		start := 0.0
		for _, j := range deps[i] {
			start = max(start, end[j])
		}
		end[i] = start + dur[i]
		longest = max(longest, end[i])
	}
	return longest
}

// run draws one run of the flow triggered at trigger: durations near the
// base ones, short waits, and with FailureRate one node failing; the
// variant v spreads, scales, delays and fails more.
func (fl flow) run(rng *rand.Rand, v Variant, day, trigger time.Time, index int64) Run {
	n := len(fl.base)
	runFactor := math.Exp(v.spread()*RunSpread*rng.NormFloat64()) * v.dayFactor(day)
	failing := -1
	if rng.Float64() < v.failureRate() {
		failing = rng.IntN(n)
	}
	plan := make([]PlannedNode, n)
	for i := range plan {
		p := &plan[i]
		p.ID = 1_000_000*(index+1) + int64(i)
		p.Name = fmt.Sprintf("%s_n%03d", fl.name, i)
		p.Deps = fl.deps[i]
		p.WaitStatus = dag.StatusWaitTime
		if rng.IntN(2) == 1 {
			p.WaitStatus = dag.StatusWaitResource
		}
		p.Wait = int64(rng.IntN(int(MaxWait/time.Second) + 1))
		dur := fl.base[i] * math.Exp(v.spread()*NodeSpread*rng.NormFloat64()) * runFactor
		u := rng.Float64()
		// The variant's draws come after the workload's own, so that the
		// main workload is the same with or without them.
		if v.Stragglers > 0 && rng.Float64() < v.Stragglers {
			dur *= 3
		}
		if v.QueueShare > 0 && rng.Float64() < v.QueueShare {
			p.Wait += int64(rng.ExpFloat64() * v.QueueMean.Seconds())
		}
		if i == failing {
			frac := FailAtMin + (1-FailAtMin)*u
			if v.FailEarly {
				frac = 0.05 * u
			}
			dur *= frac
			p.Fails = true
		}
		p.Run = max(int64(math.Round(dur)), 1)
	}
	bizdate := day.Format(time.DateOnly)
	return Run{
		Flow:       fl.name,
		Bizdate:    bizdate,
		WorkflowID: "manualdag/bench/" + fl.name + "/" + bizdate,
		Timeline:   Plan(trigger.Unix(), plan),
	}
}

// PlannedNode is a node of a run to be laid out by Plan: it waits Wait
// seconds (in status WaitStatus) once every node of Deps (indexes of earlier
// nodes) has succeeded, then runs Run seconds and succeeds, or fails when
// Fails.
type PlannedNode struct {
	ID         int64
	Name       string
	Deps       []int
	WaitStatus dag.Status
	Wait, Run  int64
	Fails      bool
}

// Plan lays out a run triggered at unix second trigger: roots are ready at
// the trigger, a node is ready when its last upstream succeeds, and a node
// with a failed or never-ready upstream is never ready (NOT_RUN for good).
func Plan(trigger int64, plan []PlannedNode) Timeline {
	tl := Timeline{Trigger: trigger, Nodes: make([]NodeTimes, len(plan))}
	for i, p := range plan {
		nt := &tl.Nodes[i]
		nt.ID, nt.Name, nt.Wait = p.ID, p.Name, p.WaitStatus
		ready := trigger
		for _, j := range p.Deps {
			up := tl.Nodes[j]
			if up.Ready == 0 || up.Failed {
				ready = 0
				break
			}
			ready = max(ready, up.Finish)
		}
		if ready == 0 {
			continue
		}
		nt.Ready, nt.Start = ready, ready+p.Wait
		nt.Finish = nt.Start + p.Run
		nt.Failed = p.Fails
	}
	return tl
}

func logUniform(rng *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
}
