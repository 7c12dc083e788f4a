package policybench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/manualdag/manualdag/workflows"
)

// Band is a range of DAG durations (trigger to the end of the last node).
type Band struct {
	Name   string
	Lo, Hi time.Duration
}

// Bands are the duration bands of the report.
var Bands = []Band{
	{"< 5 min", 0, 5 * time.Minute},
	{"5–30 min", 5 * time.Minute, 30 * time.Minute},
	{"30 min–2 h", 30 * time.Minute, 2 * time.Hour},
	{"≥ 2 h", 2 * time.Hour, math.MaxInt64},
}

// In reports whether run lasts within the band.
func (b Band) In(run *Run) bool {
	d := time.Duration(run.Timeline.Final()-run.Timeline.Trigger) * time.Second
	return d >= b.Lo && d < b.Hi
}

// Targets of issue 14, for the default policy, per stratum and band.
const (
	TargetFailureP95      = 60 * time.Second
	TargetCallsShortOrNew = 0.30 // first-time runs and DAGs under 5 min
	// MinEarlierRuns is how many earlier runs a flow needs for the delay
	// goal to hold per stratum and band.
	MinEarlierRuns = 3
	// LongRun is the shortest run whose history counts towards
	// TargetEventsPerDAGHour.
	LongRun = time.Hour
)

// Figures are one policy's figures over a set of runs.
type Figures struct {
	Runs      int
	CallsMean float64
	// RatioOfMeans is CallsMean over fixed 5 s's; MedianRatio the median
	// of the runs' own calls ratios.
	RatioOfMeans, MedianRatio float64
	EndP95                    time.Duration
	// Failed counts the runs with a failure; FailP95 is how late a search
	// first saw it, FailedEndP95 how late the FAILED report came after the
	// DAG could go no further.
	Failed                int
	FailP95, FailedEndP95 time.Duration
	// Long counts the runs of LongRun or more; EventsP95 is the p95 of
	// their history events per DAG-hour.
	Long      int
	EventsP95 float64
	// PeakSecond and Peak10s are the most searches DataWorks received in
	// one second and in ten, over every run (kept for bursts only).
	PeakSecond, Peak10s int
	// CallsPerDAGHour is the calls over the hours of DAG run time (trigger
	// to final), pooled: long runs weigh by their length.
	CallsPerDAGHour float64
}

// figures are policy p's figures over the measured runs that in selects;
// p -1 is the bound: a clairvoyant policy that knows when the DAG ends and
// still keeps the failure watch (boundCalls), with no delay; p -2 the
// blind bound: the least a policy that knows nothing of the end needs to
// see it within the goal (blindCalls); p -3 the events bound: a clairvoyant
// policy whose failure watch events stretch to the safety net
// (eventsBoundCalls).
func (r *Result) figures(p int, in func(*Run) bool) Figures {
	var f Figures
	base := r.policyIndex(Baseline)
	var calls, baseCalls []float64
	var ratios []float64
	var ends, fails, failedEnds []time.Duration
	var events []float64
	hours := 0.0
	burst := map[int64]int{}
	for i := range r.Runs {
		run := &r.Runs[i]
		if !run.Measured || !in(run) {
			continue
		}
		f.Runs++
		var o Outcome
		c := float64(boundCalls(run))
		switch p {
		case -2:
			c = float64(blindCalls(run))
		case -3:
			c = float64(eventsBoundCalls(run))
		}
		if p >= 0 {
			o = r.Outcomes[p][i]
			c = float64(o.Calls)
		}
		calls = append(calls, c)
		hours += float64(run.Timeline.Final()-run.Timeline.Trigger) / 3600
		if base >= 0 {
			b := float64(r.Outcomes[base][i].Calls)
			baseCalls = append(baseCalls, b)
			ratios = append(ratios, c/b)
		}
		ends = append(ends, o.Delay)
		if run.Timeline.FirstFailure() > 0 {
			fails = append(fails, o.FailureDelay)
			failedEnds = append(failedEnds, o.Delay)
		}
		if hours := o.Detected.Sub(run.TriggeredAt()).Hours(); p >= 0 && hours >= LongRun.Hours() {
			events = append(events, (EventsPerReturn*float64(o.Returns)+EventsPerRun*float64(o.Runs))/hours)
		}
		for _, t := range o.Searches {
			burst[t]++
		}
	}
	if f.Runs == 0 {
		return f
	}
	f.CallsMean = mean(calls)
	if hours > 0 {
		f.CallsPerDAGHour = f.CallsMean * float64(f.Runs) / hours
	}
	if len(baseCalls) > 0 {
		f.RatioOfMeans = f.CallsMean / mean(baseCalls)
		f.MedianRatio = Quantile(ratios, 0.5)
	}
	f.EndP95 = Quantile(ends, 0.95)
	if f.Failed = len(fails); f.Failed > 0 {
		f.FailP95, f.FailedEndP95 = Quantile(fails, 0.95), Quantile(failedEnds, 0.95)
	}
	if f.Long = len(events); f.Long > 0 {
		f.EventsP95 = Quantile(events, 0.95)
	}
	f.PeakSecond, f.Peak10s = peaks(burst)
	return f
}

// boundCalls is what a policy that knew the end would spend: the create,
// a first look, a look every failure watch while the DAG runs, and one at
// the end.
func boundCalls(run *Run) int {
	d := time.Duration(run.Timeline.Final()-run.Timeline.Trigger) * time.Second
	return 3 + int(d/workflows.DefaultFailureWatch)
}

// eventsBoundCalls is boundCalls with events leading: the failure watch
// stretched to workflows.EventSafetyNet. No run can spend fewer than 2 (the
// create and the search that sees the end).
func eventsBoundCalls(run *Run) int {
	d := time.Duration(run.Timeline.Final()-run.Timeline.Trigger) * time.Second
	return 3 + int(d/workflows.EventSafetyNet)
}

// blindCalls is what a policy that knows nothing of when the DAG ends
// must spend to see the end within the delay goal however it comes: the
// create, a first look, and a look every goal until the end.
func blindCalls(run *Run) int {
	d := time.Duration(run.Timeline.Final()-run.Timeline.Trigger) * time.Second
	return 2 + int((d+workflows.DelayGoal-1)/workflows.DelayGoal)
}

func peaks(perSecond map[int64]int) (second, tenSeconds int) {
	for t, n := range perSecond {
		second = max(second, n)
		sum := 0
		for dt := range int64(10) {
			sum += perSecond[t+dt]
		}
		tenSeconds = max(tenSeconds, sum)
	}
	return second, tenSeconds
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// StrataNames are the strata of the result's runs, in order.
func (r *Result) StrataNames() []string {
	var names []string
	for i := range r.Runs {
		if s := r.Runs[i].Stratum; s != "" && !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	return names
}

func inStratum(name string) func(*Run) bool { return func(r *Run) bool { return r.Stratum == name } }

// profiled selects the runs whose flow has at least MinEarlierRuns earlier
// succeeded runs.
func profiled(r *Run) bool { return r.Profile.Runs() >= MinEarlierRuns }

// StrataMarkdown is the strata report: a table per stratum and per
// duration band with every policy and the bound, then issue 14's targets
// for the default policy.
func (r *Result) StrataMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Strata: the workload hardened one way at a time (issue 14)\n\n")
	w("Each stratum is %d daily flows over %d days (seeded on its own), of which the runs of days %d–%d are followed, so that each has at least %d earlier days; ",
		StrataFlows, StrataDays, StrataMeasureFrom, StrataDays-1, StrataMeasureFrom)
	w("'only 2 earlier days' follows the third day of %d flows, 'first-time flows' %d flows that never ran before, '10–14 h DAGs' %d flows. ", 4*StrataFlows, 4*StrataFlows, StrataFlows/2)
	w("The inputs set listSettle %v and blockedGrace %v, as in the main tables.\n\n", r.Config.ListSettle, r.Config.BlockedGrace)
	w("Columns: calls per DAG (searches and the create), vs fixed 5 s as the ratio of the means and as the median of each DAG's own ratio; ")
	w("p95 end-detection delay (DAG end to the report); p95 failure-detection delay (a node's failure to the first search that saw it) and p95 FAILED-report delay (failed runs: the DAG could go no further to the report); ")
	w("p95 history events per DAG-hour over runs of an hour or more (estimated: %.1f events per search return + %d per run); ", EventsPerReturn, EventsPerRun)
	w("for the bursts, the most searches DataWorks received in one second and in ten. ")
	w("**Bound**: a clairvoyant policy that knows when the DAG ends and still looks every %v while it runs (the failure watch): the create, a first look, the watch's looks and one at the end, with no delay. No policy can do better on both axes. ", workflows.DefaultFailureWatch)
	w("For first-time runs the targets table shows the **blind bound** instead: what a policy that knows nothing of the end must spend to see it within %v however it comes (the create, a first look, a look every %v).\n\n", workflows.DelayGoal, workflows.DelayGoal)
	for _, name := range r.StrataNames() {
		w("### %s\n\n", name)
		r.figuresTable(&b, inStratum(name), strings.HasPrefix(name, "bursts"))
	}
	w("### By duration band (every stratum's runs whose flow has ≥ %d earlier runs)\n\n", MinEarlierRuns)
	for _, band := range Bands {
		w("#### %s\n\n", band.Name)
		r.figuresTable(&b, func(run *Run) bool { return run.Stratum != "" && profiled(run) && band.In(run) }, false)
	}
	r.strataTargets(&b)
	return b.String()
}

func (r *Result) figuresTable(b *strings.Builder, in func(*Run) bool, burst bool) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("| policy | runs | calls/DAG | vs fixed 5 s (means) | vs fixed 5 s (median per DAG) | end p95 | failed runs | failure seen p95 | FAILED reported p95 | runs ≥ 1 h | events/DAG-hour p95 |")
	if burst {
		w(" peak searches/s | peak searches/10 s |")
	}
	w("\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	if burst {
		w("---:|---:|")
	}
	w("\n")
	rows := append(slices.Clone(r.Policies), "bound (clairvoyant)")
	for p, name := range rows {
		if p == len(r.Policies) {
			p = -1
		}
		f := r.figures(p, in)
		if f.Runs == 0 {
			continue
		}
		events := "–"
		if f.Long > 0 {
			events = fmt.Sprintf("%.0f", f.EventsP95)
		}
		fail, failedEnd := "–", "–"
		if f.Failed > 0 {
			fail, failedEnd = secs(f.FailP95), secs(f.FailedEndP95)
		}
		w("| %s | %d | %.1f | %.3f | %.3f | %s | %d | %s | %s | %d | %s |", name, f.Runs, f.CallsMean, f.RatioOfMeans, f.MedianRatio,
			secs(f.EndP95), f.Failed, fail, failedEnd, f.Long, events)
		if burst {
			if p < 0 {
				w(" – | – |")
			} else {
				w(" %d | %d |", f.PeakSecond, f.Peak10s)
			}
		}
		w("\n")
	}
	w("\n")
}

// strataTargets checks issue 14's targets for the default policy, with the
// bound beside each calls figure.
func (r *Result) strataTargets(b *strings.Builder) {
	def := r.policyIndex(Default)
	if def < 0 || r.policyIndex(Baseline) < 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("### Targets of issue 14, %s\n\n", Default)
	w("| where | runs | end p95 ≤ %s | failure seen p95 ≤ %s | FAILED reported p95 ≤ %s | calls vs fixed 5 s (bound) ≤ goal | events/DAG-hour p95 ≤ %d |\n",
		secs(TargetDelayP95), secs(TargetFailureP95), secs(TargetFailureP95), TargetEventsPerDAGHour)
	w("|---|---:|---|---|---|---|---|\n")
	row := func(label string, in func(*Run) bool, endGoal bool, callsGoal float64, blind bool) {
		f, bound := r.figures(def, in), r.figures(-1, in)
		if blind {
			bound = r.figures(-2, in)
		}
		if f.Runs == 0 {
			return
		}
		end := "(no goal: fewer than 3 earlier runs) " + secs(f.EndP95)
		if endGoal {
			end = secs(f.EndP95) + " " + yes(f.EndP95 <= TargetDelayP95)
		}
		fail, failedEnd := "–", "–"
		if f.Failed > 0 {
			fail = secs(f.FailP95) + " " + yes(f.FailP95 <= TargetFailureP95)
			failedEnd = secs(f.FailedEndP95) + " " + yes(f.FailedEndP95 <= TargetFailureP95)
		}
		calls := fmt.Sprintf("%.3f (%.3f)", f.RatioOfMeans, bound.RatioOfMeans)
		if callsGoal > 0 {
			verdict := yes(f.RatioOfMeans <= callsGoal)
			if bound.RatioOfMeans > callsGoal {
				verdict = "NO; impossible: the bound is above the goal"
			}
			calls = fmt.Sprintf("%.3f (%.3f) ≤ %.3f %s", f.RatioOfMeans, bound.RatioOfMeans, callsGoal, verdict)
		}
		events := "–"
		if f.Long > 0 {
			events = fmt.Sprintf("%.0f %s", f.EventsP95, yes(f.EventsP95 <= TargetEventsPerDAGHour))
		}
		w("| %s | %d | %s | %s | %s | %s | %s |\n", label, f.Runs, end, fail, failedEnd, calls, events)
	}
	for _, name := range r.StrataNames() {
		in := inStratum(name)
		switch {
		case strings.HasPrefix(name, "first-time"):
			row(name+" (blind bound)", in, true, TargetCallsShortOrNew, true)
		case strings.HasPrefix(name, "only 2"):
			row(name, in, false, 0, false)
		default:
			row(name, func(run *Run) bool { return in(run) && profiled(run) }, true, 0, false)
		}
	}
	for _, band := range Bands {
		goal := TargetCallsRatio
		if band.Hi <= 5*time.Minute {
			goal = TargetCallsShortOrNew
		}
		row("band "+band.Name+", ≥ 3 earlier runs", func(run *Run) bool { return run.Stratum != "" && profiled(run) && band.In(run) }, true, goal, false)
	}
	row("band < 5 min, first-time (blind bound)", func(run *Run) bool { return run.Stratum != "" && run.Profile == nil && Bands[0].In(run) }, true, TargetCallsShortOrNew, true)
	all := func(run *Run) bool { return run.Stratum != "" }
	f := r.figures(def, all)
	if f30 := r.policyIndex(Fixed30); f30 >= 0 {
		g := r.figures(f30, all)
		w("\nPooled over every stratum: %s %.1f calls/DAG and end p95 %s; %s %.1f calls/DAG and end p95 %s: below fixed 30 s on both axes: %s.\n",
			Default, f.CallsMean, secs(f.EndP95), Fixed30, g.CallsMean, secs(g.EndP95), yes(f.CallsMean < g.CallsMean && f.EndP95 < g.EndP95))
	}
}
