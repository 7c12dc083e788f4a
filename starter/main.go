// Command starter is the command line a data engineer uses to run a
// DataWorks manual DAG through manualdag:
//
//	starter run --project P --flow F [--bizdate 2024-06-01] [--param k=v]… [--node-param NODEID:k=v]… [--wait] [--json]
//	starter status WORKFLOW_ID [--json]
//	starter cancel WORKFLOW_ID
//	starter rerun WORKFLOW_ID [--node NAME_OR_ID]... [--json]
//	starter extend WORKFLOW_ID --by 2h | --timeout 36h | --until RFC3339
//	starter backfill --project P --flow F --from 2024-06-01 --to 2024-06-30 [--parallel 3] [--wait] [--json]
//	starter schedule create|list|describe|trigger|pause|unpause|delete …
//	starter search-attributes [--register]
//	starter version
//
// The connection flags (--temporal-address or --address, --temporal-namespace
// or --namespace, --task-queue, --ui-url) go before or after the command.
//
// Exit codes: 0 the DAG succeeded (or the command did what it was asked),
// 1 the DAG failed, timed out or could not be triggered, 4 the trigger's
// outcome is unknown (a DAG run may exist: check DataWorks before starting
// again), 2 invalid usage or
// input (nothing was started), 3 infrastructure (Temporal unreachable, …).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	// The default bizdate is computed in a time zone; carry the data.
	_ "time/tzdata"

	"github.com/manualdag/manualdag/internal/version"
)

// Exit codes, documented in the README.
const (
	exitOK        = 0
	exitDagFailed = 1
	exitUsage     = 2
	exitInfra     = 3
)

// exitError carries the exit code of a failed command; its message is
// printed once by main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}
func infraErr(err error) error     { return &exitError{code: exitInfra, err: err} }
func dagFailedErr(err error) error { return &exitError{code: exitDagFailed, err: err} }

const usage = `usage: starter [connection flags] <command> [flags]
  starter run --project P --flow F [--bizdate 2024-06-01] [--param k=v]... [--node-param NODEID:k=v]... [--wait] [--json]
  starter status WORKFLOW_ID [--json]
  starter cancel WORKFLOW_ID
  starter rerun WORKFLOW_ID [--node NAME_OR_ID]... [--json]
  starter extend WORKFLOW_ID --by 2h | --timeout 36h | --until 2024-06-03T06:00:00+08:00
  starter backfill --project P --flow F --from 2024-06-01 --to 2024-06-30 [--parallel 3] [--wait] [--json]
  starter schedule create|list|describe|trigger|pause|unpause|delete ... ("starter schedule help")
  starter search-attributes [--register]
  starter version
Connection flags go before or after the command: --temporal-address (or --address), --temporal-namespace
(or --namespace), --task-queue, --ui-url. Run "starter <command> -h" for the flags of a command.
Exit codes: 0 succeeded, 1 DAG failed or timed out, 2 invalid usage or input, 3 infrastructure error,
4 trigger outcome unknown (check DataWorks before starting again).`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{code: exitInfra, err: err}
	}
	if ee.err != nil && ee.err.Error() != "" {
		fmt.Fprintln(stderr, "starter:", ee.err)
	}
	return ee.code
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("%s", usage)
	}
	cmd, args, err := splitCommand(args)
	if err != nil {
		return err
	}
	switch cmd {
	case "run":
		return runCmd(ctx, args, getenv, stdout, stderr)
	case "status":
		return statusCmd(ctx, args, getenv, stdout, stderr)
	case "cancel":
		return cancelCmd(ctx, args, getenv, stdout, stderr)
	case "rerun":
		return rerunCmd(ctx, args, getenv, stdout, stderr)
	case "extend":
		return extendCmd(ctx, args, getenv, stdout, stderr)
	case "backfill":
		return backfillCmd(ctx, args, getenv, stdout, stderr)
	case "schedule":
		return scheduleCmd(ctx, args, getenv, stdout, stderr)
	case "search-attributes":
		return searchAttributesCmd(ctx, args, getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "starter", version.Get())
		return nil
	}
	return usageErr("unknown command %q\n%s", cmd, usage)
}

// splitCommand finds the command after any connection flags given before
// it, as the Temporal CLI allows ("starter --address host:7233 status ID"),
// and hands those flags to the command: each command's flag set has them.
// They go right after the command (after "schedule create"), so that the
// same flag given after the command still wins.
func splitCommand(args []string) (cmd string, rest []string, err error) {
	if !strings.HasPrefix(args[0], "-") || slices.Contains([]string{"-h", "-help", "--help", "-version", "--version"}, args[0]) {
		return args[0], args[1:], nil
	}
	var conn connection
	fs := flag.NewFlagSet("starter", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conn.register(fs, func(string) string { return "" })
	if err := fs.Parse(args); err != nil {
		return "", nil, usageErr("%v: only the connection flags (--temporal-address, --address, --temporal-namespace, --namespace, --task-queue, --ui-url) go before the command; put the others after it", err)
	}
	if fs.NArg() == 0 {
		return "", nil, usageErr("no command after the connection flags %q: add one, e.g. starter %s status WORKFLOW_ID", args, strings.Join(args, " "))
	}
	given := args[:len(args)-fs.NArg()]
	cmd, rest = fs.Arg(0), fs.Args()[1:]
	at := 0
	if cmd == "schedule" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		at = 1
	}
	return cmd, slices.Insert(slices.Clone(rest), at, given...), nil
}
