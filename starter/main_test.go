package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
