package policybench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Segment is a subset of the runs.
type Segment struct {
	Name string
	In   func(*Run) bool
}

// Segments are the subsets the report tabulates.
var Segments = []Segment{
	{"all runs", func(*Run) bool { return true }},
	{"runs with a profile", func(r *Run) bool { return r.Profile != nil }},
	{"runs without a profile", func(r *Run) bool { return r.Profile == nil }},
	{"succeeded runs", func(r *Run) bool { return !r.Timeline.Failed() }},
	{"succeeded runs with a profile", func(r *Run) bool { return !r.Timeline.Failed() && r.Profile != nil }},
	{"failed runs", func(r *Run) bool { return r.Timeline.Failed() }},
}

// Stats are one policy's figures over a segment.
type Stats struct {
	Runs                      int
	CallsMean                 float64
	CallsP95                  int
	DelayP50, DelayP95, Delay time.Duration // Delay is the largest
	Polls, Returns            int
	DAGHours                  float64 // trigger to final, summed
}

// PollsPerDAGHour is the polls per hour of DAG run time.
func (s Stats) PollsPerDAGHour() float64 {
	if s.DAGHours == 0 {
		return 0
	}
	return float64(s.Polls) / s.DAGHours
}

// ReturnsPerDAGHour is the search activity's returns to the workflow per
// hour of DAG run time: the history grows by about a dozen events a return.
func (s Stats) ReturnsPerDAGHour() float64 {
	if s.DAGHours == 0 {
		return 0
	}
	return float64(s.Returns) / s.DAGHours
}

// What a run's history costs, measured on a real dev server by
// e2e/history_bench_test.go (BenchmarkHistory): events per search that
// returns to the workflow, and the fixed events of a run (start, trigger,
// learning, memo, completion).
const (
	EventsPerReturn = 11.2
	EventsPerRun    = 25
)

// HistoryEventsPerDAGHour estimates the history events per hour of DAG run
// time from the returns and runs, with EventsPerReturn and EventsPerRun.
func (s Stats) HistoryEventsPerDAGHour() float64 {
	if s.DAGHours == 0 {
		return 0
	}
	return (EventsPerReturn*float64(s.Returns) + EventsPerRun*float64(s.Runs)) / s.DAGHours
}

// Stats are policy p's figures over the runs in seg.
func (r *Result) Stats(p int, seg Segment) Stats {
	var s Stats
	var calls []int
	var delays []time.Duration
	for i := range r.Runs {
		if !r.Runs[i].Measured || !seg.In(&r.Runs[i]) {
			continue
		}
		o := r.Outcomes[p][i]
		s.Runs++
		s.Polls += o.Polls
		s.Returns += o.Returns
		s.DAGHours += o.Final.Sub(r.Runs[i].TriggeredAt()).Hours()
		calls = append(calls, o.Calls)
		delays = append(delays, o.Delay)
	}
	if s.Runs == 0 {
		return s
	}
	total := 0
	for _, c := range calls {
		total += c
	}
	s.CallsMean = float64(total) / float64(s.Runs)
	s.CallsP95 = Quantile(calls, 0.95)
	s.DelayP50 = Quantile(delays, 0.50)
	s.DelayP95 = Quantile(delays, 0.95)
	s.Delay = slices.Max(delays)
	return s
}

// Quantile is the nearest-rank q-quantile: the smallest value with at
// least q of the values at or below it. xs must not be empty; it is not
// modified.
func Quantile[T int | time.Duration | float64](xs []T, q float64) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(q * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// policyIndex is the index of the named policy, -1 when absent.
func (r *Result) policyIndex(name string) int {
	return slices.Index(r.Policies, name)
}

// Targets of issue 6 for the default policy over all runs.
const (
	TargetCallsRatio = 1.0 / 6 // of the fixed 5 s policy's mean calls per DAG
	TargetDelayP95   = 20 * time.Second
	// TargetEventsPerDAGHour bounds the history at the default policy.
	TargetEventsPerDAGHour = 400
)

// Markdown is the report: the workload, a table per segment, and the
// issue's targets checked for the default policy.
func (r *Result) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Poll policy benchmark\n\n")
	r.workload(&b)
	w("Each run is a RunManualDag workflow run on the Temporal SDK's test environment (mock clock), with the product's search activity over a simulated DataWorks that answers from the run's timeline; ")
	w("the policies are poll options of the workflow's input (fixed N s: mode backoff, initialInterval = maxInterval = N s, multiplier 1, no jitter). ")
	w("%s\n\n", r.settings())
	w("Delay is the time from the moment the DAG's nodes stop changing (for a failed run, when its failure leaves nothing running) to the report's finishedAt. ")
	w("Calls per DAG count the searches DataWorks received (every poll of a repeat window is one) and the create. A return is a search activity's result reaching the workflow (a repeat window returns once, however many polls it made): the workflow's history grows by about a dozen events per return, not per poll.\n\n")
	base := r.policyIndex(Baseline)
	for _, seg := range Segments {
		w("## %s\n\n", seg.Name)
		w("| policy | runs | calls/DAG mean | calls/DAG p95 | delay p50 | delay p95 | delay max | calls vs fixed 5 s | p95 delay vs fixed 5 s | polls per DAG-hour | returns per DAG-hour |\n")
		w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		var bs Stats
		if base >= 0 {
			bs = r.Stats(base, seg)
		}
		for p, name := range r.Policies {
			s := r.Stats(p, seg)
			if s.Runs == 0 {
				w("| %s | 0 | | | | | | | | | |\n", name)
				continue
			}
			w("| %s | %d | %.1f | %d | %s | %s | %s | %s | %s | %.1f | %.1f |\n", name, s.Runs, s.CallsMean, s.CallsP95,
				secs(s.DelayP50), secs(s.DelayP95), secs(s.Delay),
				ratio(s.CallsMean, bs.CallsMean), ratio(s.DelayP95.Seconds(), bs.DelayP95.Seconds()), s.PollsPerDAGHour(), s.ReturnsPerDAGHour())
		}
		w("\n")
	}
	r.targets(&b)
	runs := 0
	for _, outs := range r.Outcomes {
		for _, o := range outs {
			runs += o.Runs
		}
	}
	w("\nWall time: %s for %d workflow runs (continue-as-new included), %d at once.\n", r.Elapsed.Round(100*time.Millisecond), runs, r.Workers)
	return b.String()
}

// settings says what the runs' inputs set besides the poll options.
func (r *Result) settings() string {
	var b strings.Builder
	if d := r.Config.ListSettle; d > 0 {
		fmt.Fprintf(&b, "The inputs set listSettle %v, since the simulated DataWorks lists every node at once (the default, 5m, holds back the verdict on short runs); ", d)
	} else {
		b.WriteString("The inputs leave listSettle at its default (no verdict within 5m of the trigger, 1m when the flow's earlier runs vouch for the node count); ")
	}
	if d := r.Config.BlockedGrace; d > 0 {
		fmt.Fprintf(&b, "they set blockedGrace %v: a blocked failed run otherwise waits up to 30s more under every policy alike.", d)
	} else {
		b.WriteString("they leave blockedGrace at its default: a blocked failed run is called failed 30s after its last change by DataWorks' clock, and its delay includes that.")
	}
	return b.String()
}

// PolicyMarkdown is a short report of one policy: a row per segment.
func (r *Result) PolicyMarkdown(name string) string {
	p := r.policyIndex(name)
	if p < 0 {
		return ""
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## %s, %d runs, on their own\n\n%s\n\n", name, len(r.Runs), r.settings())
	w("| runs | segment | calls/DAG mean | calls/DAG p95 | delay p50 | delay p95 | delay max |\n")
	w("|---:|---|---:|---:|---:|---:|---:|\n")
	for _, seg := range Segments {
		if s := r.Stats(p, seg); s.Runs > 0 {
			w("| %d | %s | %.1f | %d | %s | %s | %s |\n", s.Runs, seg.Name, s.CallsMean, s.CallsP95, secs(s.DelayP50), secs(s.DelayP95), secs(s.Delay))
		}
	}
	w("\nWall time: %s.\n", r.Elapsed.Round(100*time.Millisecond))
	return b.String()
}

func (r *Result) workload(b *strings.Builder) {
	var nodes []int
	var durations []time.Duration
	failed, profiled := 0, 0
	for i := range r.Runs {
		run := &r.Runs[i]
		nodes = append(nodes, len(run.Timeline.Nodes))
		durations = append(durations, time.Duration(run.Timeline.Final()-run.Timeline.Trigger)*time.Second)
		if run.Timeline.Failed() {
			failed++
		}
		if run.Profile != nil {
			profiled++
		}
	}
	fmt.Fprintf(b, "Workload: seed %d; %d daily flows × %d days and %d one-off runs; failure rate %.0f%%.\n\n",
		r.Config.Seed, r.Config.DailyFlows, r.Config.Days, r.Config.OneOffs, FailureRate*100)
	if len(r.Runs) == 0 {
		fmt.Fprintf(b, "No runs.\n\n")
		return
	}
	fmt.Fprintf(b, "| runs | nodes min / median / max | duration min / median / max | failed runs | runs with a profile |\n")
	fmt.Fprintf(b, "|---:|---|---|---:|---:|\n")
	fmt.Fprintf(b, "| %d | %d / %d / %d | %s / %s / %s | %d | %d |\n\n", len(r.Runs),
		slices.Min(nodes), Quantile(nodes, 0.5), slices.Max(nodes),
		secs(slices.Min(durations)), secs(Quantile(durations, 0.5)), secs(slices.Max(durations)),
		failed, profiled)
}

func (r *Result) targets(b *strings.Builder) {
	def, base, f30 := r.policyIndex(Default), r.policyIndex(Baseline), r.policyIndex(Fixed30)
	if def < 0 || base < 0 || len(r.Runs) == 0 {
		return
	}
	all := Segments[0]
	ds, bs := r.Stats(def, all), r.Stats(base, all)
	callsRatio := ds.CallsMean / bs.CallsMean
	fmt.Fprintf(b, "## Targets (issue 6), %s over all runs\n\n", Default)
	fmt.Fprintf(b, "| target | %s | met |\n|---|---:|---|\n", Default)
	fmt.Fprintf(b, "| calls/DAG ≤ 1/6 of fixed 5 s (%.1f) | %.1f (%.3f of it) | %s |\n",
		bs.CallsMean*TargetCallsRatio, ds.CallsMean, callsRatio, yes(callsRatio <= TargetCallsRatio))
	fmt.Fprintf(b, "| p95 delay ≤ %s | %s | %s |\n", secs(TargetDelayP95), secs(ds.DelayP95), yes(ds.DelayP95 <= TargetDelayP95))
	est := ds.HistoryEventsPerDAGHour()
	fmt.Fprintf(b, "| history ≤ %d events per DAG-hour (estimated: %.1f events per search return + %d per run, as measured by BenchmarkHistory) | %.0f | %s |\n\n",
		TargetEventsPerDAGHour, EventsPerReturn, EventsPerRun, est, yes(est <= TargetEventsPerDAGHour))
	if f30 >= 0 {
		fs := r.Stats(f30, all)
		fmt.Fprintf(b, "For comparison, %s: calls/DAG %.1f (%.3f of fixed 5 s), p95 delay %s.\n",
			Fixed30, fs.CallsMean, fs.CallsMean/bs.CallsMean, secs(fs.DelayP95))
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func ratio(x, base float64) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", x/base)
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}
