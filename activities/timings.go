package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/dag"
)

// MemoTimings is the memo key under which a successful RunManualDag keeps its
// RunTimings, for later runs of the same flow to learn from.
const MemoTimings = "timings"

// FlowTimingsInput names the flow whose earlier runs to learn from.
type FlowTimingsInput struct {
	ProjectName string `json:"projectName"`
	FlowName    string `json:"flowName"`
	// WorkflowType is RunManualDag's registered name.
	WorkflowType string `json:"workflowType"`
}

// FlowTimingsResult holds the timings of the flow's latest successful runs,
// the most recent first, and why there are none when there are none.
type FlowTimingsResult struct {
	Runs []dag.RunTimings `json:"runs,omitempty"`
	Note string           `json:"note,omitempty"`
}

// maxTimingPages bounds how many pages of completed runs FlowTimings reads.
const maxTimingPages = 3

// FlowTimings reads the node timings that the flow's latest successful runs
// kept in their memos (MemoTimings), through Temporal's visibility: the
// search attributes DataWorksProject and DataWorksFlow find them. Without
// those attributes (or a readable memo) it returns no runs and a note: the
// workflow then polls without predictions, never fails for it.
func (r *Runs) FlowTimings(ctx context.Context, in FlowTimingsInput) (FlowTimingsResult, error) {
	for _, s := range []string{in.ProjectName, in.FlowName, in.WorkflowType} {
		if s == "" || strings.ContainsAny(s, "'\"\\\n") {
			return FlowTimingsResult{Note: fmt.Sprintf("cannot query earlier runs of a name with quotes or backslashes: %q", s)}, nil
		}
	}
	query := fmt.Sprintf("WorkflowType = '%s' AND DataWorksProject = '%s' AND DataWorksFlow = '%s' AND ExecutionStatus = 'Completed'",
		in.WorkflowType, in.ProjectName, in.FlowName)
	// Completed runs without timings (failed ones with failOnDagFailure
	// false, runs from before timings were kept) are skipped: a few pages.
	var res FlowTimingsResult
	dc := converter.GetDefaultDataConverter()
	var token []byte
	for page := 0; page < maxTimingPages && len(res.Runs) < dag.MaxTimingRuns; page++ {
		resp, err := r.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace:     activity.GetInfo(ctx).Namespace,
			PageSize:      dag.MaxTimingRuns * 3,
			Query:         query,
			NextPageToken: token,
		})
		if err != nil {
			var invalid *serviceerror.InvalidArgument
			if errors.As(err, &invalid) {
				// Most often: the search attributes are not registered.
				return FlowTimingsResult{Note: "cannot list earlier runs (are the search attributes DataWorksProject and DataWorksFlow registered? see deployments/temporal/search-attributes.sh): " + err.Error()}, nil
			}
			return FlowTimingsResult{}, fmt.Errorf("list earlier runs of %s/%s: %w", in.ProjectName, in.FlowName, err)
		}
		for _, e := range resp.GetExecutions() {
			p, ok := e.GetMemo().GetFields()[MemoTimings]
			if !ok {
				continue
			}
			var t dag.RunTimings
			if dc.FromPayload(p, &t) != nil {
				continue
			}
			res.Runs = append(res.Runs, t)
			if len(res.Runs) == dag.MaxTimingRuns {
				break
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	if len(res.Runs) == 0 {
		res.Note = "no earlier successful run of this flow kept its timings"
	}
	return res, nil
}
