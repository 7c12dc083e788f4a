package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/dag"
)

// Search attributes of RunManualDag (docs/operations.md). A namespace must
// have them registered before a run can carry them; one that lacks some of
// them still runs every DAG, without those columns.
var (
	SearchAttributeProject = temporal.NewSearchAttributeKeyKeyword("DataWorksProject")
	SearchAttributeFlow    = temporal.NewSearchAttributeKeyKeyword("DataWorksFlow")
	// SearchAttributeBizdate is the business date as yyyy-MM-dd.
	SearchAttributeBizdate = temporal.NewSearchAttributeKeyKeyword("DataWorksBizdate")
	// SearchAttributeDagID is 0 until the trigger returns the DAG id.
	SearchAttributeDagID = temporal.NewSearchAttributeKeyInt64("DataWorksDagId")
	// SearchAttributeOutcome is the report's outcome: TRIGGERING, RUNNING,
	// SUCCEEDED, FAILED, TIMED_OUT or CANCELED.
	SearchAttributeOutcome = temporal.NewSearchAttributeKeyKeyword("DagOutcome")
	// SearchAttributeFailedNodes counts the nodes in FAILURE in the latest
	// snapshot (it goes down again when a rerun succeeds).
	SearchAttributeFailedNodes = temporal.NewSearchAttributeKeyInt64("DagFailedNodes")
)

// SearchAttributeKeys are every search attribute RunManualDag uses, in the
// order the docs and the registration script list them.
func SearchAttributeKeys() []temporal.SearchAttributeKey {
	return []temporal.SearchAttributeKey{SearchAttributeProject, SearchAttributeFlow, SearchAttributeBizdate,
		SearchAttributeDagID, SearchAttributeOutcome, SearchAttributeFailedNodes}
}

// StartSearchAttributes are the search attributes a run of in starts with
// (for client.StartWorkflowOptions or workflow.ChildWorkflowOptions):
// project, flow, bizdate, DagId 0, outcome TRIGGERING and 0 failed nodes,
// each only when registered says the namespace has it. Without in.Bizdate
// (a schedule, whose runs pick the date) the bizdate starts empty and the
// workflow sets it.
//
// RunManualDag keeps up to date exactly the attributes it started with: the
// workflow cannot learn deterministically which ones the namespace has, and
// upserting one it lacks would fail every workflow task. So whoever starts
// a run decides, and a run started without them (the plain Temporal CLI, a
// namespace without the registration) works as before.
func StartSearchAttributes(in RunManualDagInput, registered func(temporal.SearchAttributeKey) bool) temporal.SearchAttributes {
	var set []temporal.SearchAttributeUpdate
	add := func(k temporal.SearchAttributeKey, u temporal.SearchAttributeUpdate) {
		if registered(k) {
			set = append(set, u)
		}
	}
	add(SearchAttributeProject, SearchAttributeProject.ValueSet(in.ProjectName))
	add(SearchAttributeFlow, SearchAttributeFlow.ValueSet(in.FlowName))
	bizdate, err := dag.ParseBizdate(in.Bizdate)
	if err != nil {
		bizdate = "" // the workflow sets it once it has picked the date
	}
	add(SearchAttributeBizdate, SearchAttributeBizdate.ValueSet(bizdate))
	add(SearchAttributeDagID, SearchAttributeDagID.ValueSet(0))
	add(SearchAttributeOutcome, SearchAttributeOutcome.ValueSet(string(dag.OutcomeTriggering)))
	add(SearchAttributeFailedNodes, SearchAttributeFailedNodes.ValueSet(0))
	return temporal.NewSearchAttributes(set...)
}

// MetricDagRuns counts finished runs by outcome (a counter, exported as
// manualdag_dag_runs_total); the SDK suppresses it during replay.
const MetricDagRuns = "manualdag_dag_runs"

// outcomeWatchStopped is MetricDagRuns' outcome for a run that stopped
// watching (a search failed for good): the DAG's own outcome is unknown.
const outcomeWatchStopped = "WATCH_STOPPED"

// visibility is what the Web UI shows of a run, as last published, so that
// it is published again only when it changes.
type visibility struct {
	has     map[string]bool // search attributes the run started with
	bizdate string
	dagID   int64
	outcome string
	failed  int64
	details string
}

// startVisibility reads the search attributes the run started with.
func startVisibility(ctx workflow.Context) visibility {
	vis := visibility{
		has: map[string]bool{},
	}
	sa := workflow.GetTypedSearchAttributes(ctx)
	for _, k := range SearchAttributeKeys() {
		vis.has[k.GetName()] = sa.ContainsKey(k)
	}
	vis.bizdate, _ = sa.GetKeyword(SearchAttributeBizdate)
	vis.dagID, _ = sa.GetInt64(SearchAttributeDagID)
	vis.outcome, _ = sa.GetKeyword(SearchAttributeOutcome)
	vis.failed, _ = sa.GetInt64(SearchAttributeFailedNodes)
	return vis
}

// publish brings the search attributes the run started with and the current
// details up to date with the report, changing only what changed.
func (r *run) publish(ctx workflow.Context) {
	if d := r.details(); d != r.vis.details {
		r.vis.details = d
		workflow.SetCurrentDetails(ctx, d)
	}
	var set []temporal.SearchAttributeUpdate
	if b := r.report.Bizdate; b != "" && b != r.vis.bizdate && r.vis.has[SearchAttributeBizdate.GetName()] {
		r.vis.bizdate = b
		set = append(set, SearchAttributeBizdate.ValueSet(b))
	}
	if id := r.report.DagID; id != 0 && id != r.vis.dagID && r.vis.has[SearchAttributeDagID.GetName()] {
		r.vis.dagID = id
		set = append(set, SearchAttributeDagID.ValueSet(id))
	}
	if o := string(r.report.Outcome); o != r.vis.outcome && r.vis.has[SearchAttributeOutcome.GetName()] {
		r.vis.outcome = o
		set = append(set, SearchAttributeOutcome.ValueSet(o))
	}
	if n := int64(len(r.report.FailedNodes)); n != r.vis.failed && r.vis.has[SearchAttributeFailedNodes.GetName()] {
		r.vis.failed = n
		set = append(set, SearchAttributeFailedNodes.ValueSet(n))
	}
	if len(set) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, set...); err != nil {
		r.logger.Warn("Could not update the search attributes", "error", err)
	}
}

// ended publishes the run's last state and counts its outcome, unless it
// continues as new (the next run goes on with the same DAG).
func (r *run) ended(ctx workflow.Context, err error) {
	if workflow.IsContinueAsNewError(err) {
		return
	}
	r.publish(ctx)
	outcome := string(r.report.Outcome)
	if !r.report.Outcome.Final() {
		outcome = outcomeWatchStopped
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": outcome}).Counter(MetricDagRuns).Inc(1)
}

// details is the run's current details for the Web UI: a header line and a
// small markdown table of node counts by state.
func (r *run) details() string {
	rep := &r.report
	var b strings.Builder
	fmt.Fprintf(&b, "**%s/%s @ %s**", rep.ProjectName, rep.FlowName, rep.Bizdate)
	if rep.DagID != 0 {
		fmt.Fprintf(&b, " · DAG %d", rep.DagID)
	}
	fmt.Fprintf(&b, " · **%s**\n", rep.Outcome)
	if len(rep.Nodes) > 0 {
		b.WriteString("\n| state | nodes |\n|---|---:|\n")
		for _, st := range detailsOrder(rep.CountsByStatus) {
			fmt.Fprintf(&b, "| %s | %d |\n", st, rep.CountsByStatus[st])
		}
	}
	for _, l := range []struct {
		label string
		names []string
	}{{"failed", rep.FailedNodes}, {"blocked", rep.BlockedNodes}} {
		if len(l.names) > 0 {
			fmt.Fprintf(&b, "\n%s: %s\n", l.label, dag.JoinNames(l.names))
		}
	}
	return b.String()
}

// detailsOrder lists the states present: failures first, then the active
// ones, NOT_RUN and SUCCESS, then any undocumented status.
func detailsOrder(counts map[string]int) []string {
	order := []dag.Status{dag.StatusFailure, dag.StatusRunning, dag.StatusCheckingCondition,
		dag.StatusChecking, dag.StatusWaitResource, dag.StatusWaitTime, dag.StatusNotRun, dag.StatusSuccess}
	var out, rest []string
	for _, st := range order {
		if counts[string(st)] > 0 {
			out = append(out, string(st))
		}
	}
	for st, n := range counts {
		if n > 0 && !slices.Contains(out, st) {
			rest = append(rest, st)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
