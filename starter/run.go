package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type runOptions struct {
	conn                         connection
	project, flow, bizdate       string
	timezone                     string
	params, nodeParams           multiFlag
	apiVersion, projectEnv       string
	timeout, pollInitial         string
	pollMax, blockedGrace        string
	workflowID                   string
	dagID                        int64
	listSettle, failureWatch     string
	failFast                     string
	allowDuplicate, wait, asJSON bool
}

func runCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o runOptions
	fs := o.runFlagSet(getenv, stderr)
	if _, err := parseFlags(fs, args, 0, "run takes flags only, e.g. starter run --project P --flow F"); err != nil {
		return err
	}
	now := time.Now()
	in, err := o.input(now)
	if err != nil {
		return usageErr("%v", err)
	}
	id := o.runWorkflowID(in, now)

	c, err := o.conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	opts := runStartOptions(id, o.conn.taskQueue, in, registeredSearchAttributes(ctx, c, o.conn.namespace, stderr))
	// Following a DAG run triggers nothing, so an earlier run that may have
	// left one behind (the usual reason to follow) does not stop it.
	if !o.allowDuplicate && o.dagID == 0 {
		if err := checkPrevious(ctx, c, o.conn.namespace, id); err != nil {
			return err
		}
	}
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.WorkflowName, in)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return usageErr("%s", alreadyStarted(ctx, c, id, in))
		}
		return infraErr(fmt.Errorf("start workflow %s: %w", id, err))
	}
	fmt.Fprintf(stderr, "started workflow %s (run %s)\nWeb UI: %s\n", run.GetID(), run.GetRunID(), o.conn.link(run.GetID(), run.GetRunID()))
	if !o.wait {
		fmt.Fprintln(stdout, run.GetID())
		return nil
	}
	return waitAndReport(ctx, c, run, o.asJSON, stdout, stderr)
}

func (o *runOptions) runFlagSet(getenv func(string) string, stderr io.Writer) *flag.FlagSet {
	fs := o.conn.newFlagSet("starter run", getenv, stderr)
	o.registerDAG(fs)
	fs.StringVar(&o.bizdate, "bizdate", "", "business date yyyy-MM-dd (default: yesterday in --timezone, the DataWorks convention)")
	fs.StringVar(&o.timezone, "timezone", workflows.DefaultTimezone, "time zone of the default bizdate")
	fs.StringVar(&o.workflowID, "workflow-id", "", "workflow id (default manualdag/<project>/<flow>/<bizdate>)")
	fs.BoolVar(&o.allowDuplicate, "allow-duplicate", false, "start even if a run for this project, flow and bizdate is running or has succeeded: triggers another DAG run")
	fs.Int64Var(&o.dagID, "dag-id", 0, "follow this existing DAG run of the project, flow and bizdate (from Operation Center) instead of triggering one")
	fs.BoolVar(&o.wait, "wait", false, "wait for the DAG, show progress, print the report")
	fs.BoolVar(&o.asJSON, "json", false, "with --wait, print the report as JSON")
	return fs
}

// runWorkflowID is --workflow-id, or the bizdate's id; --allow-duplicate
// without --workflow-id makes it unique.
func (o *runOptions) runWorkflowID(in workflows.RunManualDagInput, now time.Time) string {
	if o.workflowID != "" {
		return o.workflowID
	}
	id := workflows.BizdateWorkflowID(in.ProjectName, in.FlowName, in.Bizdate)
	if o.allowDuplicate {
		id += "/" + strconv.FormatInt(now.UnixMilli(), 10)
	}
	return id
}

func runStartOptions(id, taskQueue string, in workflows.RunManualDagInput, registered func(temporal.SearchAttributeKey) bool) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: taskQueue,
		// A bizdate whose run succeeded is not triggered again by accident
		// (a retried pipeline step); a failed one may be rerun.
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without it the SDK answers a refused start with the existing run,
		// and the refusal would never be said.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("%s/%s @ %s", in.ProjectName, in.FlowName, in.Bizdate),
		TypedSearchAttributes:                    workflows.StartSearchAttributes(in, registered),
	}
}

// registerDAG registers the flags of the DAG run itself, shared by run,
// backfill and schedule create.
func (o *runOptions) registerDAG(fs *flag.FlagSet) {
	fs.StringVar(&o.project, "project", "", "DataWorks project (workspace) name (required)")
	fs.StringVar(&o.flow, "flow", "", "manual business flow name (required)")
	fs.Var(&o.params, "param", "flow parameter k=v (repeatable)")
	fs.Var(&o.nodeParams, "node-param", "node parameter NODEID:k=v (repeatable)")
	fs.StringVar(&o.apiVersion, "api-version", "", "DataWorks API version 2018-06-01, 2020-05-18 or 2024-05-18 (default: the worker's; 2024-05-18 takes --project and --flow as numeric ProjectId and WorkflowId)")
	fs.StringVar(&o.projectEnv, "project-env", "", "PROD or DEV (2020-05-18 and 2024-05-18; default PROD)")
	fs.StringVar(&o.timeout, "timeout", "", "overall deadline, e.g. 6h (default 24h)")
	fs.StringVar(&o.pollInitial, "poll-initial", "", "poll interval where the DAG's end is likely (default 18s), or after a change in backoff mode (default 10s)")
	fs.StringVar(&o.pollMax, "poll-max", "", "longest poll interval, e.g. 5m (default 5m)")
	fs.StringVar(&o.blockedGrace, "blocked-grace", "", "how long a failed DAG with nothing running must stand still before it is FAILED (default 30s)")
	fs.StringVar(&o.failureWatch, "failure-watch", "", "longest gap between two looks at the DAG while it runs: a failure is seen within it (default 1m)")
	fs.StringVar(&o.failFast, "fail-fast", "", "end FAILED at the first failed node: 'leave' the rest running, or 'stop' them (default: wait until the DAG can go no further)")
	fs.StringVar(&o.listSettle, "list-settle", "", "how long after the trigger no verdict is given while DataWorks may still be listing the DAG's nodes (default 5m; 1m once the flow's earlier runs vouch for the node count)")
}

// template is the input without a bizdate, validated as the workflow will
// validate it: schedules and backfills set the bizdate of each run.
func (o *runOptions) template() (workflows.RunManualDagInput, error) {
	in, err := o.input(time.Now())
	in.Bizdate = ""
	return in, err
}

// alreadyStarted explains a refused start: a run that is going on, or one
// that succeeded.
func alreadyStarted(ctx context.Context, c client.Client, id string, in workflows.RunManualDagInput) string {
	what := fmt.Sprintf("%s/%s bizdate %s", in.ProjectName, in.FlowName, in.Bizdate)
	desc, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		return fmt.Sprintf("workflow %s for %s exists and the start was refused (%v); see `starter status %s`, or pass --allow-duplicate to trigger another DAG run", id, what, err, id)
	}
	if desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return fmt.Sprintf("a run of %s is already going on (workflow %s): watch it with `starter status %s`, or pass --allow-duplicate to trigger another DAG run", what, id, id)
	}
	return fmt.Sprintf("%s has already succeeded (workflow %s): pass --allow-duplicate to trigger it again", what, id)
}

// input turns the flags into the workflow input and validates it as the
// workflow will, so that bad input never starts anything.
func (o *runOptions) input(now time.Time) (workflows.RunManualDagInput, error) {
	in := workflows.RunManualDagInput{
		ProjectName:    o.project,
		FlowName:       o.flow,
		APIVersion:     o.apiVersion,
		ProjectEnv:     o.projectEnv,
		DagID:          o.dagID,
		AllowDuplicate: o.allowDuplicate,
		FailFast:       o.failFast,
	}
	if o.project == "" || o.flow == "" {
		return in, errors.New("--project and --flow are required")
	}
	var err error
	if in.Bizdate, err = o.bizdateAt(now); err != nil {
		return in, err
	}
	if in.DagParameters, err = parseParams(o.params); err != nil {
		return in, err
	}
	if in.NodeParameters, err = parseNodeParams(o.nodeParams); err != nil {
		return in, err
	}
	if err := o.setDurations(&in); err != nil {
		return in, err
	}
	// Round-trip through JSON so the checks are exactly the workflow's.
	b, err := json.Marshal(in)
	if err != nil {
		return in, err
	}
	if _, err := workflows.ParseInput(b); err != nil {
		return in, err
	}
	return in, in.Validate()
}

// bizdateAt is --bizdate, or by default yesterday in --timezone.
func (o *runOptions) bizdateAt(now time.Time) (string, error) {
	if o.bizdate != "" {
		d, err := dag.ParseBizdate(o.bizdate)
		if err != nil {
			return "", fmt.Errorf("--bizdate: %w", err)
		}
		return d, nil
	}
	loc, err := time.LoadLocation(o.timezone)
	if err != nil {
		return "", fmt.Errorf("--timezone %q is not an IANA time zone such as Asia/Shanghai", o.timezone)
	}
	return dag.DefaultBizdate(now, loc), nil
}

// parseParams reads --param k=v; nil when none is given.
func parseParams(flags multiFlag) (workflows.Params, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	params := workflows.Params{}
	for _, p := range flags {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: write it as key=value", p)
		}
		if _, dup := params[k]; dup {
			return nil, fmt.Errorf("--param %q is given twice", k)
		}
		params[k] = v
	}
	return params, nil
}

// parseNodeParams reads --node-param NODEID:k=v; nil when none is given.
func parseNodeParams(flags multiFlag) (map[string]workflows.Params, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	params := map[string]workflows.Params{}
	for _, p := range flags {
		node, kv, ok := strings.Cut(p, ":")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || k == "" {
			return nil, fmt.Errorf("--node-param %q: write it as NODEID:key=value, e.g. 103180025:region=east", p)
		}
		if _, err := dag.ParseNodeID(node); err != nil {
			return nil, fmt.Errorf("--node-param %q: %w", p, err)
		}
		if params[node] == nil {
			params[node] = workflows.Params{}
		}
		if _, dup := params[node][k]; dup {
			return nil, fmt.Errorf("--node-param %q is given twice", node+":"+k)
		}
		params[node][k] = v
	}
	return params, nil
}

// setDurations sets the durations given as flags; the others keep the
// workflow's defaults.
func (o *runOptions) setDurations(in *workflows.RunManualDagInput) error {
	for _, d := range []struct {
		flag, value string
		dst         *dag.Duration
	}{
		{"--timeout", o.timeout, &in.Timeout},
		{"--poll-initial", o.pollInitial, &in.Poll.InitialInterval},
		{"--poll-max", o.pollMax, &in.Poll.MaxInterval},
		{"--blocked-grace", o.blockedGrace, &in.BlockedGrace},
		{"--list-settle", o.listSettle, &in.ListSettle},
		{"--failure-watch", o.failureWatch, &in.FailureWatch},
	} {
		if d.value == "" {
			continue
		}
		v, err := time.ParseDuration(d.value)
		if err != nil || v <= 0 {
			return fmt.Errorf("%s %q is not a positive duration such as 30s, 5m or 2h", d.flag, d.value)
		}
		*d.dst = dag.Duration(v)
	}
	return nil
}
