package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

// run refuses bad usage with exit code 2 before it dials Temporal; help is
// not an error.
func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring of stdout
		stderr     string // substring of what main prints (exitCode) plus the flag package's output
		noStderror bool
	}{
		{name: "no args", args: nil, code: exitUsage, stderr: "usage:"},
		{name: "unknown command", args: []string{"trigger"}, code: exitUsage, stderr: `unknown command "trigger"`},
		{name: "-h", args: []string{"-h"}, code: exitOK, stdout: "starter run --project P --flow F", noStderror: true},
		{name: "help", args: []string{"help"}, code: exitOK, stdout: "Exit codes: 0 succeeded, 1 DAG failed or timed out, 2 invalid usage or input, 3 infrastructure error"},
		{name: "run -h", args: []string{"run", "-h"}, code: exitOK, stderr: "-project"},
		{name: "status -h", args: []string{"status", "-h"}, code: exitOK, stderr: "-json"},
		{name: "run unknown flag", args: []string{"run", "--projekt", "p"}, code: exitUsage, stderr: "flag provided but not defined: -projekt"},
		{name: "run positional", args: []string{"run", "--project", "p", "--flow", "f", "extra"}, code: exitUsage, stderr: "run takes flags only"},
		{name: "run without flow", args: []string{"run", "--project", "p"}, code: exitUsage, stderr: "--project and --flow are required"},
		{name: "run bad bizdate", args: []string{"run", "--project", "p", "--flow", "f", "--bizdate", "2024-02-30"}, code: exitUsage, stderr: `--bizdate: bizdate "2024-02-30" is not a date`},
		{name: "run bad param", args: []string{"run", "--project", "p", "--flow", "f", "--param", "k"}, code: exitUsage, stderr: `--param "k": write it as key=value`},
		{name: "status without id", args: []string{"status"}, code: exitUsage, stderr: "usage: starter status WORKFLOW_ID"},
		{name: "status two ids", args: []string{"status", "a", "b"}, code: exitUsage, stderr: "usage: starter status WORKFLOW_ID"},
		{name: "cancel without id", args: []string{"cancel"}, code: exitUsage, stderr: "usage: starter cancel WORKFLOW_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, noEnv, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != tc.code {
				t.Fatalf("exit code %d, want %d (err %v, stderr %q)", code, tc.code, err, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
			if tc.noStderror && stderr.Len() > 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"nil", nil, exitOK, ""},
		{"usage", usageErr("--project and --flow are required"), exitUsage, "starter: --project and --flow are required\n"},
		{"dag failed", dagFailedErr(errors.New("workflow w failed: boom")), exitDagFailed, "starter: workflow w failed: boom\n"},
		{"report said it all", &exitError{code: exitDagFailed, err: errors.New("")}, exitDagFailed, ""},
		{"help", &exitError{code: exitOK, err: errors.New("")}, exitOK, ""},
		{"infra", infraErr(errors.New("dial localhost:7233: connection refused")), exitInfra, "starter: dial localhost:7233: connection refused\n"},
		{"wrapped", fmt.Errorf("context: %w", usageErr("bad")), exitUsage, "starter: bad\n"},
		{"untyped is infrastructure", errors.New("something broke"), exitInfra, "starter: something broke\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := exitCode(tc.err, &stderr); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if stderr.String() != tc.stderr {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// Connection flags may come before the command, as with the Temporal CLI;
// they reach the command's flag set, where a repeat after the command wins.
func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		cmd      string
		rest     []string
		errorHas string
	}{
		{args: []string{"status", "ID"}, cmd: "status", rest: []string{"ID"}},
		{args: []string{"--address", "h:7233", "status", "ID", "--json"}, cmd: "status", rest: []string{"--address", "h:7233", "ID", "--json"}},
		{args: []string{"-namespace=ns", "--temporal-address", "h:7233", "run", "--address", "other:7233"}, cmd: "run",
			rest: []string{"-namespace=ns", "--temporal-address", "h:7233", "--address", "other:7233"}},
		{args: []string{"--namespace", "ns", "schedule", "create", "daily", "--cron", "0 2 * * *"}, cmd: "schedule",
			rest: []string{"create", "--namespace", "ns", "daily", "--cron", "0 2 * * *"}},
		{args: []string{"--ui-url", "http://ui", "--task-queue", "q", "backfill"}, cmd: "backfill", rest: []string{"--ui-url", "http://ui", "--task-queue", "q"}},
		{args: []string{"--version"}, cmd: "--version", rest: []string{}},
		{args: []string{"--project", "p", "run"}, errorHas: "-project: only the connection flags"},
		{args: []string{"--address", "h:7233"}, errorHas: "no command after the connection flags"},
	} {
		cmd, rest, err := splitCommand(tc.args)
		if tc.errorHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errorHas) || exitCode(err, io.Discard) != exitUsage {
				t.Errorf("%q: error %v, want a usage error with %q", tc.args, err, tc.errorHas)
			}
			continue
		}
		if err != nil || cmd != tc.cmd || strings.Join(rest, "|") != strings.Join(tc.rest, "|") {
			t.Errorf("%q: got %q %q %v, want %q %q", tc.args, cmd, rest, err, tc.cmd, tc.rest)
		}
	}
}

// The command sees the flags given before it, under either spelling.
func TestConnectionFlagsBeforeTheCommand(t *testing.T) {
	_, rest, err := splitCommand([]string{"--address", "before:7233", "--namespace", "ns", "status", "ID", "--address", "after:7233"})
	if err != nil {
		t.Fatal(err)
	}
	var conn connection
	fs := conn.newFlagSet("starter status", noEnv, io.Discard)
	if _, err := parseFlags(fs, rest, 1, "usage"); err != nil {
		t.Fatal(err)
	}
	if *conn.temporal.Address != "after:7233" || *conn.temporal.Namespace != "ns" {
		t.Errorf("address %s, namespace %s", *conn.temporal.Address, *conn.temporal.Namespace)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var stdout bytes.Buffer
		if err := run(context.Background(), []string{arg}, noEnv, &stdout, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stdout.String(), "starter ") {
			t.Errorf("%s: %q", arg, stdout.String())
		}
	}
}
