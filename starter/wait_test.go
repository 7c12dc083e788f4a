package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/dag"
)

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func failedReport() dag.DagReport {
	return dag.DagReport{
		DagID: 700019657457, ProjectName: "demo_project", FlowName: "broken_sales", Bizdate: "2024-06-01",
		Outcome: dag.OutcomeFailed, Polls: 9,
		Nodes: []dag.NodeReport{
			{ID: 1, Name: "load_ods", Status: dag.StatusSuccess, Duration: dag.Duration(2 * time.Minute),
				BeginTime: time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC), FinishTime: time.Date(2024, 6, 2, 1, 2, 0, 0, time.UTC)},
			{ID: 2, Name: "dwd_merge", Status: dag.StatusFailure, ErrorMessage: "ODPS-0130071: Semantic analysis exception"},
			{ID: 3, Name: "ads_report", Status: dag.StatusNotRun},
			{ID: 4, Name: "ads_export", Status: dag.StatusNotRun},
		},
		FailedNodes:    []string{"dwd_merge"},
		BlockedNodes:   []string{"ads_report", "ads_export"},
		CountsByStatus: map[string]int{"SUCCESS": 1, "FAILURE": 1, "NOT_RUN": 2},
		Message:        "DataWorks DAG 700019657457 (demo_project/broken_sales, bizdate 2024-06-01) failed: 1 of 4 nodes failed (dwd_merge), 2 blocked",
	}
}

// asDelivered returns err as client.WorkflowRun.Get delivers a workflow's
// failure: the failure converted to its protobuf form and back (details
// become encoded payloads), inside a *temporal.WorkflowExecutionError. A
// test environment runs a workflow that returns err.
func asDelivered(t *testing.T, err error) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(func(workflow.Context) error { return err }, workflow.RegisterOptions{Name: "Fails"})
	env.ExecuteWorkflow("Fails")
	got := env.GetWorkflowError()
	var wee *temporal.WorkflowExecutionError
	if !errors.As(got, &wee) {
		t.Fatalf("test environment returned %T, not a WorkflowExecutionError", got)
	}
	return got
}

func TestReportExitCodes(t *testing.T) {
	fc := temporal.GetDefaultFailureConverter()
	roundTrip := func(err error) error { return fc.FailureToError(fc.ErrorToFailure(err)) }
	succeeded := dag.DagReport{DagID: 7, ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", Outcome: dag.OutcomeSucceeded,
		Nodes: []dag.NodeReport{{ID: 1, Name: "load_ods", Status: dag.StatusSuccess}}, CountsByStatus: map[string]int{"SUCCESS": 1}}
	failed := failedReport()
	timedOut := failedReport()
	timedOut.Outcome = dag.OutcomeTimedOut
	dagFailed := temporal.NewNonRetryableApplicationError(failed.Message, dag.ErrDagFailed, nil, failed)
	for _, tc := range []struct {
		name     string
		result   dag.DagReport
		err      error
		code     int
		stdout   []string // substrings of the printed report
		message  string   // substring of the error main prints; "" = prints nothing
		noReport bool
	}{
		{name: "succeeded", result: succeeded, code: exitOK, stdout: []string{"SUCCEEDED", "load_ods"}},
		{name: "failed, not failing the workflow", result: failed, code: exitDagFailed, stdout: []string{"FAILED", "failed:  dwd_merge"}},
		{name: "DagFailed", err: asDelivered(t, dagFailed), code: exitDagFailed, stdout: []string{"broken_sales", "dwd_merge", "blocked: ads_report, ads_export"}},
		{name: "DagFailed round trip", err: roundTrip(dagFailed), code: exitDagFailed, stdout: []string{"failed:  dwd_merge"}},
		{name: "DagTimedOut", err: asDelivered(t, temporal.NewNonRetryableApplicationError("timed out", dag.ErrDagTimedOut, nil, timedOut)),
			code: exitDagFailed, stdout: []string{"TIMED_OUT"}},
		{name: "TriggerOutcomeUnknown with report", err: asDelivered(t, temporal.NewNonRetryableApplicationError("may or may not have started",
			dag.ErrTriggerOutcomeUnknown, nil, dag.DagReport{ProjectName: "p", FlowName: "f", Outcome: dag.OutcomeFailed, Message: "may or may not have started"})),
			code: exitOutcomeUnknown, stdout: []string{"may or may not have started"}},
		{name: "WatchLost: a DAG run with no verdict is 4, not 1", err: asDelivered(t, temporal.NewNonRetryableApplicationError("stopped watching DAG 9 with no verdict",
			dag.ErrWatchLost, nil, dag.DagReport{DagID: 9, ProjectName: "p", FlowName: "f", Outcome: dag.OutcomeRunning, Message: "stopped watching DAG 9 with no verdict"})),
			code: exitOutcomeUnknown, stdout: []string{"no verdict"}},
		{name: "DuplicateRefused", err: asDelivered(t, temporal.NewNonRetryableApplicationError("not triggered: a run of this bizdate is going on",
			dag.ErrDuplicateRefused, nil, dag.DagReport{ProjectName: "p", FlowName: "f", Outcome: dag.OutcomeRefused})),
			code: exitUsage, message: "a run of this bizdate is going on", noReport: true},
		{name: "canceled", err: roundTrip(temporal.NewCanceledError(dag.DagReport{DagID: 7, Outcome: dag.OutcomeCanceled})),
			code: exitDagFailed, stdout: []string{"CANCELED"}},
		{name: "InvalidInput", err: asDelivered(t, temporal.NewNonRetryableApplicationError("bizdate \"x\" is not a date", dag.ErrInvalidInput, nil)),
			code: exitUsage, message: `workflow wf refused its input: bizdate "x" is not a date`, noReport: true},
		{name: "InvalidInput with report", err: asDelivered(t, temporal.NewNonRetryableApplicationError("invalid input: x", dag.ErrInvalidInput, nil, dag.DagReport{Outcome: dag.OutcomeFailed})),
			code: exitUsage, message: "refused its input: invalid input: x", noReport: true},
		{name: "workflow failed without report", err: asDelivered(t, errors.New("panic in workflow")),
			code: exitDagFailed, message: "workflow wf failed", noReport: true},
		{name: "NotTriggered", err: asDelivered(t, temporal.NewNonRetryableApplicationError("NotTriggered: nothing started", dag.ErrNotTriggered, nil)),
			code: exitDagFailed, message: "nothing started", noReport: true},
		{name: "timeout without report", err: temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil),
			code: exitInfra, message: "waiting for workflow wf", noReport: true},
		{name: "Temporal unreachable", err: errors.New("rpc error: code = Unavailable desc = connection refused"),
			code: exitInfra, message: "waiting for workflow wf: rpc error: code = Unavailable", noReport: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := report(tc.result, tc.err, "wf", false, &stdout)
			if code := exitCode(err, &stderr); code != tc.code {
				t.Fatalf("exit code %d, want %d (err %v)", code, tc.code, err)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("report does not contain %q:\n%s", s, stdout.String())
				}
			}
			if tc.noReport && stdout.Len() > 0 {
				t.Errorf("printed a report without one:\n%s", stdout.String())
			}
			if tc.message == "" && stderr.Len() > 0 {
				t.Errorf("stderr %q; the report has said it all", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.message) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.message)
			}
		})
	}
}

// --json prints the report carried by the error, decodable as a DagReport.
func TestReportJSON(t *testing.T) {
	want := failedReport()
	var stdout bytes.Buffer
	err := report(dag.DagReport{}, asDelivered(t, temporal.NewNonRetryableApplicationError(want.Message, dag.ErrDagFailed, nil, want)), "wf", true, &stdout)
	if code := exitCode(err, &bytes.Buffer{}); code != exitDagFailed {
		t.Fatalf("exit code %d", code)
	}
	var got dag.DagReport
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, stdout.String())
	}
	if jsonOf(t, got) != jsonOf(t, want) {
		t.Errorf("JSON report\n got %s\nwant %s", jsonOf(t, got), jsonOf(t, want))
	}
}
