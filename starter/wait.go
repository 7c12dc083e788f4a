package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// progressEvery is how often --wait asks the workflow for its status. It
// reads Temporal only (a query), never DataWorks.
const progressEvery = 2 * time.Second

// waitAndReport shows progress until the run closes, then prints the report
// and returns the exit status the outcome calls for.
func waitAndReport(ctx context.Context, c client.Client, run client.WorkflowRun, asJSON bool, stdout, stderr io.Writer) error {
	type closed struct {
		report dag.DagReport
		err    error
	}
	done := make(chan closed, 1)
	go func() {
		var r dag.DagReport
		err := run.Get(ctx, &r)
		done <- closed{r, err}
	}()

	p := newProgress(stderr)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			p.finish()
			return report(res.report, res.err, run.GetID(), asJSON, stdout)
		case <-tick.C:
			// The latest run: after continue-as-new the first one is closed.
			if r, err := queryStatus(ctx, c, run.GetID(), ""); err == nil {
				p.show(r)
			}
		case <-ctx.Done():
			p.finish()
			return infraErr(fmt.Errorf("stopped waiting (the workflow %s goes on; `starter status %s` shows it, `starter cancel %s` stops it)", run.GetID(), run.GetID(), run.GetID()))
		}
	}
}

func queryStatus(ctx context.Context, c client.Client, workflowID, runID string) (dag.DagReport, error) {
	var r dag.DagReport
	v, err := c.QueryWorkflow(ctx, workflowID, runID, workflows.QueryStatus)
	if err != nil {
		return r, err
	}
	return r, v.Get(&r)
}

// report prints the final report and maps the run's end to an exit code.
func report(r dag.DagReport, runErr error, workflowID string, asJSON bool, stdout io.Writer) error {
	if runErr != nil {
		rep, ok := workflows.ReportFromError(runErr)
		if ok {
			r = rep
		}
		var appErr *temporal.ApplicationError
		if errors.As(runErr, &appErr) && appErr.Type() == dag.ErrInvalidInput {
			return usageErr("workflow %s refused its input: %s", workflowID, appErr.Message())
		}
		if errors.As(runErr, &appErr) && appErr.Type() == dag.ErrDuplicateRefused {
			return usageErr("workflow %s: %s", workflowID, appErr.Message())
		}
		// A run that ended with a DAG id and no verdict left a DAG run that
		// may go on: exit 4 like an unknown trigger, never 1, which a
		// pipeline would answer by triggering again.
		noVerdict := ok && r.DagID != 0 && !r.Outcome.Final()
		if errors.As(runErr, &appErr) && appErr.Type() == dag.ErrTriggerOutcomeUnknown || noVerdict {
			if ok && printOrJSON(stdout, r, asJSON) == nil {
				// The report's message says what to check.
				return &exitError{code: exitOutcomeUnknown, err: errors.New("")}
			}
			return &exitError{code: exitOutcomeUnknown, err: fmt.Errorf("workflow %s: %s", workflowID, appErr.Message())}
		}
		if !ok {
			// No report to show: the workflow failed before it had one, or
			// Temporal could not be read.
			if errors.As(runErr, &appErr) || isWorkflowFailure(runErr) {
				return dagFailedErr(fmt.Errorf("workflow %s failed: %w", workflowID, runErr))
			}
			return infraErr(fmt.Errorf("waiting for workflow %s: %w", workflowID, runErr))
		}
	}
	if err := printOrJSON(stdout, r, asJSON); err != nil {
		return infraErr(err)
	}
	if runErr != nil || r.Outcome != dag.OutcomeSucceeded {
		// The report has said it all; no second message.
		return &exitError{code: exitDagFailed, err: errors.New("")}
	}
	return nil
}

func isWorkflowFailure(err error) bool {
	var we *temporal.WorkflowExecutionError
	return errors.As(err, &we)
}

// progress prints counts by status: in place on a terminal, one line per
// change otherwise (logs, CI).
type progress struct {
	w        io.Writer
	terminal bool
	last     string
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) show(r dag.DagReport) {
	line := progressLine(r)
	if line == p.last {
		return
	}
	p.last = line
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) finish() {
	if p.terminal && p.last != "" {
		fmt.Fprintln(p.w)
	}
}

// printOrJSON writes the report as a table or, with --json, as JSON.
func printOrJSON(w io.Writer, r dag.DagReport, asJSON bool) error {
	if !asJSON {
		printReport(w, r)
		return nil
	}
	return printJSON(w, r)
}
