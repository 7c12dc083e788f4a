package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/dag"
)

// listOnly is a WorkflowLookup that answers ListWorkflow from pages.
type listOnly struct {
	pages   [][]*workflowpb.WorkflowExecutionInfo
	err     error
	queries []string
}

func (l *listOnly) DescribeWorkflow(context.Context, string, string) (*client.WorkflowExecutionDescription, error) {
	panic("not used")
}
func (l *listOnly) GetWorkflow(context.Context, string, string) client.WorkflowRun { panic("not used") }
func (l *listOnly) GetWorkflowHistory(context.Context, string, string, bool, enums.HistoryEventFilterType) client.HistoryEventIterator {
	panic("not used")
}
func (l *listOnly) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	l.queries = append(l.queries, req.GetQuery())
	if l.err != nil {
		return nil, l.err
	}
	page := 0
	if len(req.GetNextPageToken()) > 0 {
		page = int(req.GetNextPageToken()[0])
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{Executions: l.pages[page]}
	if page+1 < len(l.pages) {
		resp.NextPageToken = []byte{byte(page + 1)}
	}
	return resp, nil
}

func withMemo(t *testing.T, v any) *workflowpb.WorkflowExecutionInfo {
	t.Helper()
	if v == nil {
		return &workflowpb.WorkflowExecutionInfo{}
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return &workflowpb.WorkflowExecutionInfo{Memo: &commonpb.Memo{Fields: map[string]*commonpb.Payload{MemoTimings: p}}}
}

func TestFlowTimings(t *testing.T) {
	good := dag.RunTimings{Names: []string{"a"}, Begin: []int32{1}, Finish: []int32{9}}
	in := FlowTimingsInput{ProjectName: "demo_project", FlowName: "daily_sales", WorkflowType: "RunManualDag"}
	run := func(l *listOnly, in FlowTimingsInput) FlowTimingsResult {
		env := newActivityEnvWith(t, &Activities{})
		env.RegisterActivity(&Runs{Client: l})
		v, err := env.ExecuteActivity((&Runs{}).FlowTimings, in)
		require.NoError(t, err)
		var res FlowTimingsResult
		require.NoError(t, v.Get(&res))
		return res
	}

	// Runs without timings and an unreadable memo are skipped, over pages.
	l := &listOnly{pages: [][]*workflowpb.WorkflowExecutionInfo{
		{withMemo(t, nil), withMemo(t, good), withMemo(t, nil)},
		{withMemo(t, "not timings"), withMemo(t, good)},
	}}
	res := run(l, in)
	require.Equal(t, []dag.RunTimings{good, good}, res.Runs)
	require.Empty(t, res.Note)
	require.Len(t, l.queries, 2)
	require.Equal(t, "WorkflowType = 'RunManualDag' AND DataWorksProject = 'demo_project' AND DataWorksFlow = 'daily_sales' AND ExecutionStatus = 'Completed'", l.queries[0])

	// Search attributes not registered: no runs, a note, no failure.
	res = run(&listOnly{err: serviceerror.NewInvalidArgument("invalid search attribute: DataWorksProject")}, in)
	require.Empty(t, res.Runs)
	require.Contains(t, res.Note, "search attributes DataWorksProject and DataWorksFlow registered")

	// A name that would need quoting is not queried at all.
	l = &listOnly{}
	bad := in
	bad.FlowName = "x' OR WorkflowType != '"
	res = run(l, bad)
	require.Empty(t, l.queries)
	require.Contains(t, res.Note, "quotes")
}
