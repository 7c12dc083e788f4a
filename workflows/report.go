package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
)

// ReportFromError extracts the report a failed or cancelled RunManualDag
// carries in its error details (client.WorkflowRun.Get's error, or a child
// workflow's).
func ReportFromError(err error) (dag.DagReport, bool) {
	var r dag.DagReport
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.HasDetails() {
		if appErr.Details(&r) == nil {
			return r, true
		}
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) && canceled.HasDetails() {
		if canceled.Details(&r) == nil {
			return r, true
		}
	}
	return dag.DagReport{}, false
}
