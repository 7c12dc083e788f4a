package workflows_test

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// criticalNodes are the nodes whose tables the downstream steps read; a
// failure elsewhere (a report node) leaves their input intact.
var criticalNodes = []string{"ods_orders_sync", "dwd_orders_merge", "dws_sales_daily"}

// SalesPipeline is a larger pipeline: it runs the DataWorks DAG of one
// bizdate as a child, then decides what its downstream steps may do.
func SalesPipeline(ctx workflow.Context, bizdate string) (string, error) {
	ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		// The id `starter run` and backfills use: a bizdate that succeeded
		// is not triggered twice, whoever asks.
		WorkflowID:            workflows.BizdateWorkflowID("demo_project", "daily_sales", bizdate),
		TaskQueue:             workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		// Cancelling the pipeline cancels the DAG's watch, which stops its
		// unfinished instances in DataWorks.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
	})
	in := workflows.RunManualDagInput{ProjectName: "demo_project", FlowName: "daily_sales", Bizdate: bizdate}
	var report dag.DagReport
	err := workflow.ExecuteChildWorkflow(ctx, workflows.WorkflowName, in).Get(ctx, &report)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return fmt.Sprintf("%s: DAG %d succeeded, publishing", bizdate, report.DagID), nil
	case !errors.As(err, &appErr) || appErr.Type() != dag.ErrDagFailed:
		// Timed out, not triggered, outcome unknown: a person looks.
		return "", err
	}
	report, _ = workflows.ReportFromError(err)
	if i := slices.IndexFunc(report.FailedNodes, func(n string) bool { return slices.Contains(criticalNodes, n) }); i >= 0 {
		return fmt.Sprintf("%s: %s failed, downstream skipped (blocked: %v)", bizdate, report.FailedNodes[i], report.BlockedNodes), nil
	}
	return fmt.Sprintf("%s: only %v failed, publishing without them", bizdate, report.FailedNodes), nil
}

// A pipeline workflow runs RunManualDag as a child and reads the DagFailed
// error's report to decide what comes next. Here the child is mocked with
// the reports two DAG runs could end with.
func ExampleRunManualDag_child() {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	for _, failed := range [][]string{{"ads_sales_report"}, {"dwd_orders_merge"}, nil} {
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(SalesPipeline)
		env.OnWorkflow(workflows.RunManualDag, mock.Anything, mock.Anything).Return(
			func(_ workflow.Context, in workflows.RunManualDagInput) (dag.DagReport, error) {
				r := dag.DagReport{DagID: 700019657457, ProjectName: in.ProjectName, FlowName: in.FlowName, Bizdate: in.Bizdate, Outcome: dag.OutcomeSucceeded}
				if failed == nil {
					return r, nil
				}
				r.Outcome, r.FailedNodes = dag.OutcomeFailed, failed
				if failed[0] == "dwd_orders_merge" {
					r.BlockedNodes = []string{"dws_sales_daily", "ads_sales_report"}
				}
				return r, temporal.NewNonRetryableApplicationError("DAG failed", dag.ErrDagFailed, nil, r)
			})
		env.ExecuteWorkflow(SalesPipeline, "2024-06-01")
		var decision string
		if err := env.GetWorkflowResult(&decision); err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(decision)
	}
	// Output:
	// 2024-06-01: only [ads_sales_report] failed, publishing without them
	// 2024-06-01: dwd_orders_merge failed, downstream skipped (blocked: [dws_sales_daily ads_sales_report])
	// 2024-06-01: DAG 700019657457 succeeded, publishing
}
