package workflows

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/uber-go/tally/v4"
	sdkpb "go.temporal.io/api/sdk/v1"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

func allRegistered(temporal.SearchAttributeKey) bool { return true }

// upserts records every search attribute upsert, each as name=value pairs.
func (s *workflowSuite) upserts() *[]map[string]any {
	var got []map[string]any
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		m := map[string]any{}
		for k, v := range args.Get(0).(temporal.SearchAttributes).GetUntypedValues() {
			m[k.GetName()] = v
		}
		got = append(got, m)
	}).Return(nil)
	return &got
}

// The search attributes the starter set are upserted only when they change:
// the DAG id and RUNNING once triggered, the failed count when a node fails,
// the outcome at the end. Polls that change nothing upsert nothing.
func (s *workflowSuite) TestVisibilitySearchAttributesOnChangeOnly() {
	scope := tally.NewTestScope("", nil)
	s.SetMetricsHandler(sdktally.NewMetricsHandler(scope))
	defer s.SetMetricsHandler(nil)
	s.SetupTest() // a new environment with the metrics handler
	in := input()
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(StartSearchAttributes(in, allRegistered)))
	s.mockCreate()
	s.mockSearch(running, running, running, blocked)
	got := s.upserts()

	rep, err := s.run(in)
	s.Require().Error(err)
	s.Equal(dag.OutcomeFailed, rep.Outcome)
	s.Equal([]map[string]any{
		{"DataWorksDagId": int64(testDagID), "DagOutcome": "RUNNING"},
		{"DagFailedNodes": int64(1)},
		{"DagOutcome": "FAILED"},
	}, *got)

	md := s.metadata()
	s.Contains(md.GetCurrentDetails(), "**demo_project/daily_sales @ 2024-06-01** · DAG 700019657457 · **FAILED**")
	s.Contains(md.GetCurrentDetails(), "| FAILURE | 1 |")
	s.Contains(md.GetCurrentDetails(), "failed: load_ods")

	counters := scope.Snapshot().Counters()
	var runs []string
	for _, c := range counters {
		if c.Name() == MetricDagRuns {
			runs = append(runs, c.Tags()["outcome"])
			s.EqualValues(1, c.Value())
		}
	}
	s.Equal([]string{"FAILED"}, runs)
}

// A run started without the search attributes (the plain CLI, a namespace
// that lacks them) upserts none: the server would refuse them.
func (s *workflowSuite) TestVisibilityNoSearchAttributesNoUpsert() {
	s.mockCreate()
	s.mockSearch(running, succeeded)
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Never()
	rep, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, rep.Outcome)
	s.Contains(s.metadata().GetCurrentDetails(), "| SUCCESS | 2 |")
}

// Only the registered attributes are set at start, and only those are kept
// up to date; a schedule's run (no bizdate yet) gets the date it picked.
func (s *workflowSuite) TestVisibilityPartialRegistration() {
	in := input()
	in.Bizdate = ""
	only := func(k temporal.SearchAttributeKey) bool {
		return k.GetName() == SearchAttributeOutcome.GetName() || k.GetName() == SearchAttributeBizdate.GetName()
	}
	start := StartSearchAttributes(in, only)
	s.Equal(2, start.Size())
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(start))
	s.mockCreate()
	s.mockSearch(succeeded)
	got := s.upserts()
	_, err := s.run(in)
	s.Require().NoError(err)
	// The bizdate is published before the guard looks for other runs of it,
	// so that their guards see this run too.
	s.Equal([]map[string]any{
		{"DataWorksBizdate": "2024-06-01"},
		{"DagOutcome": "RUNNING"},
		{"DagOutcome": "SUCCEEDED"},
	}, *got)
}

func (s *workflowSuite) metadata() *sdkpb.WorkflowMetadata {
	v, err := s.env.QueryWorkflow("__temporal_workflow_metadata")
	s.Require().NoError(err)
	var md sdkpb.WorkflowMetadata
	s.Require().NoError(v.Get(&md))
	return &md
}

func TestStartSearchAttributes(t *testing.T) {
	sa := StartSearchAttributes(RunManualDagInput{ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01 00:00:00"}, allRegistered)
	got := map[string]any{}
	for k, v := range sa.GetUntypedValues() {
		got[k.GetName()] = v
	}
	assert.Equal(t, map[string]any{"DataWorksProject": "p", "DataWorksFlow": "f", "DataWorksBizdate": "2024-06-01",
		"DataWorksDagId": int64(0), "DagOutcome": "TRIGGERING", "DagFailedNodes": int64(0)}, got)
	assert.Equal(t, 0, StartSearchAttributes(input(), func(temporal.SearchAttributeKey) bool { return false }).Size())
}

func TestDetailsTable(t *testing.T) {
	r := &run{report: dag.DagReport{ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", DagID: 7, Outcome: dag.OutcomeRunning}}
	r.report.SetNodes(nil)
	assert.Equal(t, "**p/f @ 2024-06-01** · DAG 7 · **RUNNING**\n", r.details())

	r.report.SetNodes(toNodes(t, nodes(n(1, "a", dag.StatusSuccess), n(2, "b", dag.StatusFailure),
		n(3, "c", dag.StatusNotRun), n(4, "d", dag.Status("CODE_42")), n(5, "e", dag.StatusRunning))))
	want := strings.Join([]string{
		"**p/f @ 2024-06-01** · DAG 7 · **RUNNING**",
		"",
		"| state | nodes |",
		"|---|---:|",
		"| FAILURE | 1 |",
		"| RUNNING | 1 |",
		"| NOT_RUN | 1 |",
		"| SUCCESS | 1 |",
		"| CODE_42 | 1 |",
		"",
		"failed: b",
		"",
		"blocked: c",
		"",
	}, "\n")
	assert.Equal(t, want, r.details())
}

func toNodes(t *testing.T, list []dataworks.NodeInstance) []dag.Node {
	out, err := activities.Compact(list, 200, activities.Known{}).Nodes(nil)
	require.NoError(t, err)
	return out
}
