package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// backfillProgressEvery is how often `backfill --wait` asks the backfill
// for its summary (a query: Temporal only).
const backfillProgressEvery = 5 * time.Second

// backfillCmd starts BackfillManualDag: one RunManualDag per bizdate from
// --from to --to, --parallel at a time, on the bizdates' usual workflow ids.
func backfillCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o runOptions
	var from, to string
	var parallel int
	fs := o.conn.newFlagSet("starter backfill", getenv, stderr)
	o.registerDAG(fs)
	fs.StringVar(&from, "from", "", "first bizdate yyyy-MM-dd (required)")
	fs.StringVar(&to, "to", "", "last bizdate yyyy-MM-dd, inclusive (required)")
	fs.IntVar(&parallel, "parallel", workflows.DefaultBackfillParallel, fmt.Sprintf("DAG runs at once, 1 to %d", workflows.MaxBackfillParallel))
	fs.StringVar(&o.workflowID, "workflow-id", "", "workflow id of the backfill (default manualdag-backfill/<project>/<flow>/<from>..<to>)")
	fs.BoolVar(&o.wait, "wait", false, "wait for the backfill, show progress, print the per-bizdate summary")
	fs.BoolVar(&o.asJSON, "json", false, "with --wait, print the summary as JSON")
	if _, err := parseFlags(fs, args, 0, "backfill takes flags only, e.g. starter backfill --project P --flow F --from 2024-06-01 --to 2024-06-30"); err != nil {
		return err
	}
	in, err := backfillInput(&o, from, to, parallel)
	if err != nil {
		return usageErr("%v", err)
	}
	c, err := o.conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	registered := registeredSearchAttributes(ctx, c, o.conn.namespace, stderr)
	for _, k := range workflows.SearchAttributeKeys() {
		if registered(k) {
			in.SearchAttributes = append(in.SearchAttributes, k.GetName())
		}
	}
	run, err := startBackfill(ctx, c, o.workflowID, o.conn.taskQueue, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "started backfill %s (run %s)\nWeb UI: %s\n", run.GetID(), run.GetRunID(), o.conn.link(run.GetID(), run.GetRunID()))
	if !o.wait {
		fmt.Fprintln(stdout, run.GetID())
		return nil
	}
	return waitBackfill(ctx, c, run, o.asJSON, stdout, stderr)
}

// startBackfill starts the backfill on id, by default the range's id.
func startBackfill(ctx context.Context, c client.Client, id, taskQueue string, in workflows.BackfillManualDagInput) (client.WorkflowRun, error) {
	if id == "" {
		id = workflows.BackfillWorkflowID(in.Run.ProjectName, in.Run.FlowName, in.From, in.To)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: taskQueue,
		// Running a backfill again is how its failed bizdates are retried:
		// the bizdates that succeeded are skipped.
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("backfill %s/%s %s..%s", in.Run.ProjectName, in.Run.FlowName, in.From, in.To),
	}, workflows.BackfillWorkflowName, in)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return nil, usageErr("a backfill of %s/%s %s..%s is going on (workflow %s): follow it with `temporal workflow describe --workflow-id %s`, or cancel it with `starter cancel %s`", in.Run.ProjectName, in.Run.FlowName, in.From, in.To, id, id, id)
		}
		return nil, infraErr(fmt.Errorf("start workflow %s: %w", id, err))
	}
	return run, nil
}

// backfillInput builds and validates the workflow's input.
func backfillInput(o *runOptions, from, to string, parallel int) (workflows.BackfillManualDagInput, error) {
	if from == "" || to == "" {
		return workflows.BackfillManualDagInput{}, errors.New("--from and --to are required")
	}
	tmpl, err := o.template()
	if err != nil {
		return workflows.BackfillManualDagInput{}, err
	}
	if parallel < 1 {
		return workflows.BackfillManualDagInput{}, fmt.Errorf("--parallel %d is out of range: use 1 to %d", parallel, workflows.MaxBackfillParallel)
	}
	tmpl.Timezone = ""
	in := workflows.BackfillManualDagInput{Run: tmpl, From: from, To: to, Parallel: parallel}
	// Normalise the dates (2024-06-01 00:00:00 → 2024-06-01) for the id.
	dates, err := in.Bizdates()
	if err != nil {
		return in, err
	}
	in.From, in.To = dates[0], dates[len(dates)-1]
	return in, nil
}

// waitBackfill shows progress until the backfill closes, then prints the
// summary. Exit 0 when every bizdate succeeded or was skipped, 1 otherwise.
func waitBackfill(ctx context.Context, c client.Client, run client.WorkflowRun, asJSON bool, stdout, stderr io.Writer) error {
	type closed struct {
		report workflows.BackfillReport
		err    error
	}
	done := make(chan closed, 1)
	go func() {
		var r workflows.BackfillReport
		err := run.Get(ctx, &r)
		done <- closed{r, err}
	}()
	last := ""
	tick := time.NewTicker(backfillProgressEvery)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			return backfillResult(res.report, res.err, run.GetID(), asJSON, stdout)
		case <-tick.C:
			v, err := c.QueryWorkflow(ctx, run.GetID(), "", workflows.QueryStatus)
			var r workflows.BackfillReport
			if err == nil && v.Get(&r) == nil && r.Message != last {
				last = r.Message
				fmt.Fprintln(stderr, r.Message)
			}
		case <-ctx.Done():
			return infraErr(fmt.Errorf("stopped waiting (the backfill %s goes on; `starter cancel %s` stops it and its DAG runs)", run.GetID(), run.GetID()))
		}
	}
}

func backfillResult(r workflows.BackfillReport, runErr error, workflowID string, asJSON bool, stdout io.Writer) error {
	if runErr != nil {
		var appErr *temporal.ApplicationError
		var canceled *temporal.CanceledError
		switch {
		case errors.As(runErr, &appErr) && appErr.Type() == dag.ErrInvalidInput:
			return usageErr("backfill %s refused its input: %s", workflowID, appErr.Message())
		case errors.As(runErr, &canceled) && canceled.HasDetails() && canceled.Details(&r) == nil:
		case isWorkflowFailure(runErr):
			return dagFailedErr(fmt.Errorf("backfill %s failed: %w", workflowID, runErr))
		default:
			return infraErr(fmt.Errorf("waiting for backfill %s: %w", workflowID, runErr))
		}
	}
	if asJSON {
		if err := printJSON(stdout, r); err != nil {
			return err
		}
	} else {
		printBackfill(stdout, r)
	}
	if runErr != nil || !r.OK() {
		return &exitError{code: exitDagFailed, err: errors.New("")}
	}
	return nil
}

// printBackfill writes the summary line and one row per bizdate.
func printBackfill(w io.Writer, r workflows.BackfillReport) {
	fmt.Fprintln(w, r.Message)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BIZDATE\tOUTCOME\tDAG ID\tFAILED NODES\tMESSAGE")
	for _, x := range r.Results {
		dag, failed := "-", "-"
		if x.DagID != 0 {
			dag = fmt.Sprint(x.DagID)
		}
		if len(x.FailedNodes) > 0 {
			failed = strings.Join(x.FailedNodes, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", x.Bizdate, x.Outcome, dag, failed, oneLine(x.Message))
	}
	_ = tw.Flush()
}

// oneLine keeps a message on its table row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
