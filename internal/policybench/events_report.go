package policybench

import (
	"fmt"
	"strings"
	"time"

	"github.com/manualdag/manualdag/workflows"
)

// Targets of issue 16 for the default policy with events.
const (
	// TargetEventsDelayP95 and TargetEventsCallsPerHour hold with every
	// event delivered.
	TargetEventsDelayP95     = 3 * time.Second
	TargetEventsCallsPerHour = 10.0
)

// EventsMarkdown compares the default policy with and without DataWorks'
// pushed events, one row per set of runs: the main workload's segments, or
// the strata, the duration bands and every stratum pooled. Empty when the
// result has no event rows.
func (r *Result) EventsMarkdown() string {
	def, with, lost, forged := r.policyIndex(Default), r.policyIndex(WithEvents), r.policyIndex(EventsDropped), r.policyIndex(EventsForged)
	if def < 0 || with < 0 || lost < 0 || forged < 0 {
		return ""
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## DataWorks events (issue 16): %s with and without them\n\n", Default)
	w("Events reach the run %v after DataWorks' change (EventBridge, the receiver, a signal): a DAG event when the run starts and one when it ends (instance events off). ", Events.Delay)
	w("**events**: every event delivered; **%.0f %% lost**: each event lost with that chance, seeded, and the flow's earlier runs lost theirs alike (their memos count the events they missed); ", DropRate*100)
	w("**forged**: every event delivered, each replayed %v later, and every %v from %v after the trigger a forged final DAG event (SUCCESS and FAILURE by turns) and one about another DAG. ", replayAfter, forgedEvery, forgedFirst)
	w("Calls per DAG-hour are the calls (searches and the create) over the hours from trigger to end, pooled. ")
	w("Goals: with every event, end p95 ≤ %s and ≤ %.0f calls per DAG-hour; with %.0f %% lost, no worse than without events on either; forged and replayed events: no wrong verdict. ",
		secs(TargetEventsDelayP95), TargetEventsCallsPerHour, DropRate*100)
	w("**bound**: what a policy that knew the end would spend with events leading (the create, a first look, a look every %v safety net, one at the end): ", workflows.EventSafetyNet)
	w("for DAGs under about 40 min the bound itself can be over %.0f per DAG-hour, and under 12 min even 2 calls (the create and the search that sees the end, which no run can do without) are, so short DAGs cannot meet that goal. ", TargetEventsCallsPerHour)
	w("A run that goes on %v past the end its flow's earlier runs predicted hears no event (a DAG sends none between its start and its end), so the run falls back to its poll policy, as designed, at the policy's price: that is most of what the drifting and spread strata spend over the bound. ", workflows.EventSilence)
	w("Wrong verdicts: 0 in every row (the replay stops at the first one).\n\n")
	w("| runs of | runs | no events: end p95 | calls/DAG-h | events: end p95 | calls/DAG-h | %.0f %% lost: end p95 | calls/DAG-h | forged: end p95 | calls/DAG-h | bound: calls/DAG-h | events ≤ %s and ≤ %.0f/h | lost no worse |\n",
		DropRate*100, secs(TargetEventsDelayP95), TargetEventsCallsPerHour)
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	row := func(label string, in func(*Run) bool) {
		d, e, l, f, bound := r.figures(def, in), r.figures(with, in), r.figures(lost, in), r.figures(forged, in), r.figures(-3, in)
		if d.Runs == 0 {
			return
		}
		w("| %s | %d | %s | %.1f | %s | %.1f | %s | %.1f | %s | %.1f | %.1f | %s | %s |\n", label, d.Runs,
			secs(d.EndP95), d.CallsPerDAGHour, secs(e.EndP95), e.CallsPerDAGHour, secs(l.EndP95), l.CallsPerDAGHour, secs(f.EndP95), f.CallsPerDAGHour, bound.CallsPerDAGHour,
			yes(e.EndP95 <= TargetEventsDelayP95 && e.CallsPerDAGHour <= TargetEventsCallsPerHour),
			yes(l.EndP95 <= d.EndP95 && l.CallsPerDAGHour <= d.CallsPerDAGHour))
	}
	if names := r.StrataNames(); len(names) > 0 {
		for _, name := range names {
			row(name, inStratum(name))
		}
		for _, band := range Bands {
			row("band "+band.Name, func(run *Run) bool { return run.Stratum != "" && band.In(run) })
		}
		row("every stratum", func(run *Run) bool { return run.Stratum != "" })
	} else {
		for _, seg := range Segments {
			row(seg.Name, seg.In)
		}
		// Events lead a flow's runs from its EventTrustRuns-th on: these
		// rows are what a flow pays once its feed has earned trust.
		trusted := func(run *Run) bool { return len(run.Earlier) >= workflows.EventTrustRuns }
		row(fmt.Sprintf("runs with %d earlier runs (events may lead)", workflows.EventTrustRuns), trusted)
		row("runs with fewer (events only hint)", func(run *Run) bool { return !trusted(run) })
	}
	return b.String()
}
