package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/manualdag/manualdag/dag"
)

func statusCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var conn connection
	var asJSON bool
	fs := conn.newFlagSet("starter status", getenv, stderr)
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	pos, err := parseFlags(fs, args, 1, "usage: starter status WORKFLOW_ID [--json]")
	if err != nil {
		return err
	}
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := queryStatus(ctx, c, pos[0], "")
	if err != nil {
		return workflowErr(fmt.Errorf("status of workflow %s: %w", pos[0], err), conn.namespace)
	}
	return printOrJSON(stdout, r, asJSON)
}

func cancelCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var conn connection
	fs := conn.newFlagSet("starter cancel", getenv, stderr)
	pos, err := parseFlags(fs, args, 1, "usage: starter cancel WORKFLOW_ID")
	if err != nil {
		return err
	}
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.CancelWorkflow(ctx, pos[0], ""); err != nil {
		return workflowErr(fmt.Errorf("cancel workflow %s: %w", pos[0], err), conn.namespace)
	}
	fmt.Fprintf(stdout, "cancellation requested for %s; the workflow stops the DAG's unfinished instances in DataWorks (2020-05-18 and 2024-05-18 APIs) and reports CANCELED\n", pos[0])
	return nil
}

// workflowErr classifies a failed call about one workflow: an id Temporal
// does not know is the caller's mistake (exit 2), anything else is
// infrastructure (exit 3).
func workflowErr(err error, namespace string) error {
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return usageErr("%v (namespace %q): check the workflow id, which `starter run` prints", err, namespace)
	}
	return infraErr(err)
}

// progressLine is one line of counts, e.g. "RUNNING  SUCCESS 3  RUNNING 1  NOT_RUN 5".
func progressLine(r dag.DagReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s", r.Outcome)
	if r.DagID != 0 {
		fmt.Fprintf(&b, " DAG %d", r.DagID)
	}
	for _, s := range statusOrder(r.CountsByStatus) {
		fmt.Fprintf(&b, "  %s %d", s, r.CountsByStatus[s])
	}
	return b.String()
}

// statusOrder lists statuses in the order a DAG moves through them, unknown
// ones last.
func statusOrder(counts map[string]int) []string {
	order := []string{"SUCCESS", "FAILURE", "CHECKING", "CHECKING_CONDITION", "RUNNING", "WAIT_RESOURCE", "WAIT_TIME", "NOT_RUN"}
	var out []string
	seen := map[string]bool{}
	for _, s := range order {
		seen[s] = true
		if counts[s] > 0 {
			out = append(out, s)
		}
	}
	var unknown []string
	for s, n := range counts {
		if !seen[s] && n > 0 {
			unknown = append(unknown, s)
		}
	}
	// Sorted: map order would make the same counts print differently, and
	// the progress display print a line for a change that is none.
	slices.Sort(unknown)
	return append(out, unknown...)
}

// printReport writes the report as a table a person reads.
func printReport(w io.Writer, r dag.DagReport) {
	fmt.Fprintf(w, "DataWorks DAG %d  %s/%s  bizdate %s  %s\n", r.DagID, r.ProjectName, r.FlowName, r.Bizdate, r.Outcome)
	if r.Message != "" {
		fmt.Fprintln(w, r.Message)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE ID\tNAME\tSTATUS\tBEGIN\tFINISH\tDURATION\tERROR")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.Name, n.Status, clock(n.BeginTime), clock(n.FinishTime), dur(n.Duration), n.ErrorMessage)
	}
	_ = tw.Flush()
	if len(r.FailedNodes) > 0 {
		fmt.Fprintf(w, "failed:  %s\n", strings.Join(r.FailedNodes, ", "))
	}
	if len(r.BlockedNodes) > 0 {
		fmt.Fprintf(w, "blocked: %s\n", strings.Join(r.BlockedNodes, ", "))
	}
	if len(r.UnfinishedNodes) > 0 {
		fmt.Fprintf(w, "unfinished: %s\n", strings.Join(r.UnfinishedNodes, ", "))
	}
	if len(r.StoppedNodes) > 0 {
		fmt.Fprintf(w, "stopped: %s\n", strings.Join(r.StoppedNodes, ", "))
	}
	for _, f := range r.StopFailures {
		fmt.Fprintf(w, "not stopped: %s\n", f)
	}
	for _, op := range r.Operations {
		fmt.Fprintf(w, "operation: %s %s %s %s\n", op.At.Local().Format(time.DateTime), op.Op, strings.Join(op.Nodes, ", "), op.Detail)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.Truncated != "" {
		fmt.Fprintf(w, "note: %s\n", r.Truncated)
	}
	for _, n := range r.Nodes {
		if n.LogTail != "" {
			fmt.Fprintf(w, "--- log of %s (tail) ---\n%s", n.Name, n.LogTail)
			if !strings.HasSuffix(n.LogTail, "\n") {
				fmt.Fprintln(w)
			}
		}
	}
	fmt.Fprintf(w, "polls: %d\n", r.Polls)
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("15:04:05")
}

func dur(d dag.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}
