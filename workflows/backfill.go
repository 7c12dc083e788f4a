package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

const (
	// BackfillWorkflowName is the name BackfillManualDag is registered under.
	BackfillWorkflowName = "BackfillManualDag"
	// DefaultBackfillParallel and MaxBackfillParallel bound the DAG runs a
	// backfill has going at once.
	DefaultBackfillParallel = 3
	MaxBackfillParallel     = 10
	// MaxBackfillDays bounds a backfill's range (the per-bizdate summary is
	// carried across continue-as-new).
	MaxBackfillDays = 1000
	// BackfillBatch is how many bizdates one workflow run starts before it
	// continues as new (earlier when Temporal suggests it).
	BackfillBatch = 100
)

// lookUpStartToClose bounds one look-up of earlier runs (a describe and a
// result read); lookUpScheduleToClose with its retries.
const (
	lookUpStartToClose    = 30 * time.Second
	lookUpScheduleToClose = 10 * time.Minute
)

// BackfillManualDagInput is the backfill's input:
//
//	{"run":{"projectName":"demo_project","flowName":"daily_sales","dagParameters":{"k":"v"}},
//	 "from":"2024-06-01","to":"2024-06-30","parallel":3}
type BackfillManualDagInput struct {
	// Run is every child's RunManualDagInput, without bizdate (the backfill
	// sets it), timezone or continued.
	Run RunManualDagInput `json:"run"`
	// From and To are the first and last bizdate, yyyy-MM-dd, inclusive.
	From string `json:"from"`
	To   string `json:"to"`
	// Parallel is the number of DAG runs going at once. Default 3, at most 10.
	Parallel int `json:"parallel,omitempty"`
	// SearchAttributes names the search attributes of RunManualDag
	// (SearchAttributeKeys) the namespace has registered: the children start
	// with those (see StartSearchAttributes). The starter looks them up; a
	// workflow cannot. Default none.
	SearchAttributes []string `json:"searchAttributes,omitempty"`

	// Done is set by the workflow when it continues as new: the results of
	// the bizdates handled so far.
	Done []BizdateResult `json:"done,omitempty"`

	decodeErr error
}

// UnmarshalJSON decodes strictly, keeping the problem for the workflow to
// report as InvalidInput (see RunManualDagInput.UnmarshalJSON).
func (in *BackfillManualDagInput) UnmarshalJSON(b []byte) error {
	type plain BackfillManualDagInput
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		*in = BackfillManualDagInput{decodeErr: fmt.Errorf("backfill input: %s; the fields are run, from, to, parallel, searchAttributes", msg)}
		return nil
	}
	*in = BackfillManualDagInput(p)
	return nil
}

// BackfillReport is the backfill's result and the answer to its status query.
type BackfillReport struct {
	ProjectName string `json:"projectName"`
	FlowName    string `json:"flowName"`
	From        string `json:"from"`
	To          string `json:"to"`
	// Results has one entry per bizdate handled so far, in date order.
	Results []BizdateResult `json:"results"`
	// Counts counts Results by outcome.
	Counts  map[dag.Outcome]int `json:"counts"`
	Message string              `json:"message"`
}

// BizdateResult is what became of one bizdate.
type BizdateResult struct {
	Bizdate    string      `json:"bizdate"`
	Outcome    dag.Outcome `json:"outcome"`
	WorkflowID string      `json:"workflowId"`
	DagID      int64       `json:"dagId,omitempty"`
	// FailedNodes are the DAG's failed node names.
	FailedNodes []string `json:"failedNodes,omitempty"`
	// ErrorType is the type of the child's error (DagFailed, NotTriggered, …).
	ErrorType string `json:"errorType,omitempty"`
	Message   string `json:"message"`
}

// BizdateWorkflowID is the workflow id of one bizdate's RunManualDag, the
// same for `starter run` and a backfill: a bizdate that succeeded is not
// triggered again by either.
func BizdateWorkflowID(project, flow, bizdate string) string {
	return "manualdag/" + idSegment(project) + "/" + idSegment(flow) + "/" + idSegment(bizdate)
}

// BackfillWorkflowID is the default workflow id of a backfill of from..to.
func BackfillWorkflowID(project, flow, from, to string) string {
	return "manualdag-backfill/" + idSegment(project) + "/" + idSegment(flow) + "/" + idSegment(from) + ".." + idSegment(to)
}

// idSegment escapes one part of a workflow id. Flow names may hold '/', and
// unescaped "a/b"+"c" and "a"+"b/c" would share an id: one run would stand
// for the other's bizdate. Only '%' and '/' are escaped, so the id of
// every other name, the usual case, is the name itself, as before.
func idSegment(s string) string {
	if !strings.ContainsAny(s, "%/") {
		return s
	}
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(s)
}

// Bizdates validates the input and lists its bizdates in order.
func (in BackfillManualDagInput) Bizdates() ([]string, error) {
	if in.decodeErr != nil {
		return nil, in.decodeErr
	}
	if in.Run.Bizdate != "" || in.Run.Timezone != "" || in.Run.Continued != nil {
		return nil, errors.New("run must not set bizdate, timezone or continued: the backfill sets the bizdate of each run")
	}
	from, err := parseDay("from", in.From)
	if err != nil {
		return nil, err
	}
	to, err := parseDay("to", in.To)
	if err != nil {
		return nil, err
	}
	if to.Before(from) {
		return nil, fmt.Errorf("to %s is before from %s", in.To, in.From)
	}
	days := int(to.Sub(from)/(24*time.Hour)) + 1
	if days > MaxBackfillDays {
		return nil, fmt.Errorf("from %s to %s is %d bizdates; a backfill covers at most %d: split it", in.From, in.To, days, MaxBackfillDays)
	}
	if in.Parallel < 0 || in.Parallel > MaxBackfillParallel {
		return nil, fmt.Errorf("parallel %d is out of range: use 1 to %d (0 for the default, %d)", in.Parallel, MaxBackfillParallel, DefaultBackfillParallel)
	}
	first := in.Run
	first.Bizdate = from.Format(dag.BizdateLayout)
	if _, err := first.settings(time.Time{}); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	dates := make([]string, 0, days)
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		dates = append(dates, d.Format(dag.BizdateLayout))
	}
	return dates, nil
}

func parseDay(field, s string) (time.Time, error) {
	d, err := dag.ParseBizdate(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	return time.Parse(dag.BizdateLayout, d)
}

// BackfillManualDag runs RunManualDag once per bizdate from From to To, at
// most Parallel at a time, each as a child on the bizdate's usual workflow
// id (BizdateWorkflowID). Before starting a bizdate it looks up the id's
// latest run (the LookUpRun activity): one that succeeded or is going on is
// skipped, one that may have left a DAG run behind is refused; the child's id
// reuse policy (failed runs only) backs that up. Failed bizdates do not fail
// the backfill: it returns the per-bizdate summary. Cancelled, it cancels the
// children (which stop their DAG runs) and fails with the summary in the
// CanceledError's details.
func BackfillManualDag(ctx workflow.Context, in BackfillManualDagInput) (BackfillReport, error) {
	b := &backfill{
		in:      in,
		results: map[string]BizdateResult{},
		logger:  log.With(workflow.GetLogger(ctx), "project", in.Run.ProjectName, "flow", in.Run.FlowName, "from", in.From, "to", in.To),
	}
	for _, r := range in.Done {
		b.results[r.Bizdate] = r
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (BackfillReport, error) { return b.report(), nil }); err != nil {
		return b.report(), err
	}
	dates, err := in.Bizdates()
	if err != nil {
		msg := "invalid input: " + err.Error()
		return b.report(), temporal.NewNonRetryableApplicationError(msg, dag.ErrInvalidInput, nil)
	}
	b.parallel = in.Parallel
	if b.parallel == 0 {
		b.parallel = DefaultBackfillParallel
	}
	return b.run(ctx, dates)
}

// backfill is one workflow run's state.
type backfill struct {
	in       BackfillManualDagInput
	parallel int
	logger   log.Logger
	// results by bizdate; running counts the bizdates in flight.
	results map[string]BizdateResult
	running int
}

func (b *backfill) run(ctx workflow.Context, dates []string) (BackfillReport, error) {
	var todo []string
	for _, d := range dates {
		if _, done := b.results[d]; !done {
			todo = append(todo, d)
		}
	}
	started := 0
	for _, d := range todo {
		if started >= BackfillBatch || started > 0 && workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
		if err := workflow.Await(ctx, func() bool { return b.running < b.parallel }); err != nil {
			break // cancelled
		}
		started++
		b.running++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { b.running-- }()
			b.results[d] = b.one(ctx, d)
		})
	}
	// Children in flight finish, or finish cancelling, before the run ends:
	// continuing as new or closing would cancel them (ParentClosePolicy).
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = workflow.Await(dctx, func() bool { return b.running == 0 })

	if ctx.Err() != nil {
		for _, d := range todo {
			if _, done := b.results[d]; !done {
				b.results[d] = BizdateResult{Bizdate: d, Outcome: dag.OutcomeNotStarted, WorkflowID: b.workflowID(d), Message: "the backfill was cancelled first"}
			}
		}
		rep := b.report()
		b.logger.Info("Backfill canceled", "message", rep.Message)
		return rep, temporal.NewCanceledError(rep)
	}
	if started < len(todo) {
		next := b.in
		next.Done = b.report().Results
		b.logger.Info("Continuing as new", "done", len(next.Done), "left", len(todo)-started)
		return b.report(), workflow.NewContinueAsNewError(ctx, BackfillWorkflowName, next)
	}
	rep := b.report()
	b.logger.Info("Backfill finished", "message", rep.Message)
	return rep, nil
}

func (b *backfill) workflowID(bizdate string) string {
	return BizdateWorkflowID(b.in.Run.ProjectName, b.in.Run.FlowName, bizdate)
}

// one handles a bizdate: look up its earlier runs, then run it as a child.
func (b *backfill) one(ctx workflow.Context, bizdate string) BizdateResult {
	id := b.workflowID(bizdate)
	res := BizdateResult{Bizdate: bizdate, WorkflowID: id}

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    lookUpStartToClose,
		ScheduleToCloseTimeout: lookUpScheduleToClose,
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: time.Minute},
		Summary:                "look up earlier runs of " + id,
	})
	var runs *activities.Runs
	var prev activities.LookUpRunResult
	if err := workflow.ExecuteActivity(actx, runs.LookUpRun, activities.LookUpRunInput{WorkflowID: id}).Get(ctx, &prev); err != nil {
		res.Outcome, res.Message = dag.OutcomeNotStarted, "could not look up earlier runs: "+err.Error()
		if ctx.Err() != nil {
			res.Message = "the backfill was cancelled first"
		}
		return res
	}
	if skip, ok := b.judgePrevious(id, prev); ok {
		skip.Bizdate, skip.WorkflowID = bizdate, id
		b.logger.Info("Bizdate not started", "bizdate", bizdate, "outcome", skip.Outcome, "message", skip.Message)
		return skip
	}

	in := b.in.Run
	in.Bizdate = bizdate
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: id,
		// The same guard as `starter run`: a bizdate that succeeded (or
		// completed at all) is refused, a failed one may run again.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		// A backfill that is cancelled, terminated or continues as new with
		// children in flight cancels them: they stop their DAG runs and
		// report CANCELED, instead of dying with the DAG untracked.
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
		StaticSummary:       fmt.Sprintf("%s/%s @ %s", in.ProjectName, in.FlowName, bizdate),
		TypedSearchAttributes: StartSearchAttributes(in, func(k temporal.SearchAttributeKey) bool {
			return slices.Contains(b.in.SearchAttributes, k.GetName())
		}),
	})
	fut := workflow.ExecuteChildWorkflow(cctx, WorkflowName, in)
	if err := fut.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			res.Outcome, res.Message = dag.OutcomeSkipped, "already started: a run of this bizdate is going on or has succeeded"
			return res
		}
		res.Outcome, res.Message = dag.OutcomeNotStarted, "child workflow not started: "+err.Error()
		if ctx.Err() != nil {
			res.Message = "the backfill was cancelled first"
		}
		return res
	}
	var rep dag.DagReport
	err := fut.Get(ctx, &rep)
	if err != nil {
		if r, ok := ReportFromError(err); ok {
			rep = r
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			res.ErrorType = appErr.Type()
		}
	}
	res.Outcome, res.DagID, res.FailedNodes, res.Message = rep.Outcome, rep.DagID, rep.FailedNodes, rep.Message
	switch {
	case res.Outcome == "" || res.Outcome == dag.OutcomeTriggering || res.Outcome == dag.OutcomeRunning:
		// No report in the error (invalid input, a terminated child).
		res.Outcome = dag.OutcomeFailed
		if temporal.IsCanceledError(err) {
			res.Outcome = dag.OutcomeCanceled
		}
		if err != nil {
			res.Message = err.Error()
		}
	case res.Message == "" && err != nil:
		res.Message = err.Error()
	}
	return res
}

// judgePrevious decides from the latest run of the bizdate's workflow id
// whether to start it; ok means not to.
func (b *backfill) judgePrevious(id string, prev activities.LookUpRunResult) (BizdateResult, bool) {
	r := BizdateResult{DagID: prev.DagID}
	switch {
	case prev.Refusal != "":
		r.Outcome, r.Message, r.ErrorType = dag.OutcomeRefused, prev.Refusal, prev.ErrorType
	case prev.Status == activities.RunRunning || prev.Status == activities.RunContinuedAsNew:
		r.Outcome, r.Message = dag.OutcomeSkipped, fmt.Sprintf("a run of this bizdate is going on (workflow %s): follow it with `starter status %s`", id, id)
	case prev.Status == activities.RunCompleted && dag.Outcome(prev.Outcome) == dag.OutcomeSucceeded:
		r.Outcome, r.Message = dag.OutcomeSkipped, "already succeeded"
		if prev.DagID != 0 {
			r.Message = fmt.Sprintf("already succeeded (DataWorks DAG %d)", prev.DagID)
		}
	case prev.Status == activities.RunCompleted:
		// failOnDagFailure false: the run completed with a failed report,
		// and the id reuse policy would refuse the child.
		r.Outcome, r.Message = dag.OutcomeRefused, fmt.Sprintf("an earlier run completed with outcome %s (failOnDagFailure false), so its workflow id is not reused: start it with `starter run --allow-duplicate`", prev.Outcome)
	default:
		return r, false
	}
	return r, true
}

// report summarises the results so far, in date order.
func (b *backfill) report() BackfillReport {
	rep := BackfillReport{
		ProjectName: b.in.Run.ProjectName,
		FlowName:    b.in.Run.FlowName,
		From:        b.in.From,
		To:          b.in.To,
		Results:     make([]BizdateResult, 0, len(b.results)),
		Counts:      map[dag.Outcome]int{},
	}
	for _, d := range slices.Sorted(maps.Keys(b.results)) {
		r := b.results[d]
		rep.Results = append(rep.Results, r)
		rep.Counts[r.Outcome]++
	}
	rep.Message = rep.summary()
	return rep
}

// summary is e.g. "backfill demo/daily 2024-06-01..2024-06-30: 30 bizdates,
// 27 succeeded, 2 skipped, 1 failed (2024-06-14)".
func (r BackfillReport) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backfill %s/%s %s..%s: %d bizdate", r.ProjectName, r.FlowName, r.From, r.To, len(r.Results))
	if len(r.Results) != 1 {
		b.WriteString("s")
	}
	for _, o := range []dag.Outcome{dag.OutcomeSucceeded, dag.OutcomeSkipped, dag.OutcomeFailed, dag.OutcomeTimedOut, dag.OutcomeCanceled, dag.OutcomeRefused, dag.OutcomeNotStarted} {
		n := r.Counts[o]
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, ", %d %s", n, strings.ToLower(strings.ReplaceAll(string(o), "_", " ")))
		if o == dag.OutcomeSucceeded || o == dag.OutcomeSkipped {
			continue
		}
		var dates []string
		for _, x := range r.Results {
			if x.Outcome == o {
				dates = append(dates, x.Bizdate)
			}
		}
		fmt.Fprintf(&b, " (%s)", dag.JoinNames(dates))
	}
	return b.String()
}

// OK says whether every bizdate succeeded or was skipped.
func (r BackfillReport) OK() bool {
	for _, x := range r.Results {
		if x.Outcome != dag.OutcomeSucceeded && x.Outcome != dag.OutcomeSkipped {
			return false
		}
	}
	return true
}
