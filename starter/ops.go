package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// rerunCmd sends the rerunFailed update and prints its result once
// DataWorks has accepted the restarts; the workflow goes on watching.
func rerunCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var conn connection
	var nodes multiFlag
	var asJSON bool
	fs := conn.newFlagSet("starter rerun", getenv, stderr)
	fs.Var(&nodes, "node", "failed node to rerun, by name or instance id (repeatable; default: every failed node)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args, 1, "usage: starter rerun WORKFLOW_ID [--node NAME_OR_ID]... [--json]")
	if err != nil {
		return err
	}
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var res workflows.RerunResult
	if err := update(ctx, c, pos[0], workflows.UpdateRerunFailed, workflows.RerunRequest{Nodes: nodes}, &res); err != nil {
		return err
	}
	if asJSON {
		if err := printJSON(stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, res.Message)
		if len(res.Restarted) > 0 {
			fmt.Fprintf(stdout, "follow it: starter status %s\n", pos[0])
		}
	}
	if len(res.Restarted) == 0 {
		return &exitError{code: exitDagFailed, err: errors.New("")}
	}
	return nil
}

// extendCmd sends the extendDeadline update.
func extendCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var conn connection
	var by, timeout, until string
	fs := conn.newFlagSet("starter extend", getenv, stderr)
	fs.StringVar(&by, "by", "", "move the deadline later by this much, e.g. 2h")
	fs.StringVar(&timeout, "timeout", "", "new overall timeout counted from the workflow's start, e.g. 36h")
	fs.StringVar(&until, "until", "", "new deadline, RFC 3339, e.g. 2024-06-03T06:00:00+08:00")
	pos, err := parseFlags(fs, args, 1, "usage: starter extend WORKFLOW_ID --by 2h | --timeout 36h | --until 2024-06-03T06:00:00+08:00")
	if err != nil {
		return err
	}
	req, err := extendRequest(by, timeout, until)
	if err != nil {
		return usageErr("%v", err)
	}
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var res workflows.ExtendDeadlineResult
	if err := update(ctx, c, pos[0], workflows.UpdateExtendDeadline, req, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deadline of %s moved from %s to %s\n", pos[0], res.Previous.Format(time.RFC3339), res.Deadline.Format(time.RFC3339))
	return nil
}

// extendRequest turns the flags into the update's argument: exactly one.
func extendRequest(by, timeout, until string) (workflows.ExtendDeadlineRequest, error) {
	var req workflows.ExtendDeadlineRequest
	set := 0
	for _, d := range []struct {
		flag, value string
		dst         *dag.Duration
	}{{"--by", by, &req.By}, {"--timeout", timeout, &req.Timeout}} {
		if d.value == "" {
			continue
		}
		set++
		v, err := time.ParseDuration(d.value)
		if err != nil || v <= 0 {
			return req, fmt.Errorf("%s %q is not a positive duration such as 30m or 2h", d.flag, d.value)
		}
		*d.dst = dag.Duration(v)
	}
	if until != "" {
		set++
		t, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return req, fmt.Errorf("--until %q is not an RFC 3339 time such as 2024-06-03T06:00:00+08:00", until)
		}
		req.Until = t
	}
	if set != 1 {
		return req, errors.New("give exactly one of --by, --timeout or --until")
	}
	return req, nil
}

// update sends an update and waits for its result. A refusal by the
// workflow's validator is a usage error (exit 2): nothing was done.
func update(ctx context.Context, c client.Client, workflowID, name string, arg, out any) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &appErr):
		return usageErr("%s refused for workflow %s: %s", name, workflowID, strings.TrimSpace(appErr.Message()))
	case errors.As(err, &notFound):
		return usageErr("workflow %s is not running (or does not exist): %v", workflowID, err)
	}
	return infraErr(fmt.Errorf("%s on workflow %s: %w", name, workflowID, err))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return infraErr(err)
	}
	return nil
}
