package activities

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/uber-go/tally/v4"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/manualdag/manualdag/dataworks"
)

// Every DataWorks call is counted by action and outcome code, and timed; a
// call refused before any I/O (invalid input, unsupported API version) is
// not a call.
func TestDataWorksCallMetrics(t *testing.T) {
	scope := tally.NewTestScope("", nil)
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s.SetMetricsHandler(sdktally.NewMetricsHandler(scope))
	env := s.NewTestActivityEnvironment()
	dw := &fakeDW{dagID: 7, list: nil}
	ops := &fakeOps{errs: map[int64][]error{
		1: {&dataworks.Error{Action: "StopInstance", Phase: dataworks.PhaseReplied, HTTPStatus: 403, Code: dataworks.CodeForbiddenAccess}},
		2: {&dataworks.Error{Action: "StopInstance", Phase: dataworks.PhaseNotSent, Code: dataworks.CodeInvalidInput}},
	}}
	env.RegisterActivity(&Activities{DW: dw, Ops: ops, Rand: func() float64 { return 0.5 }, RecordIntent: heartbeatIntent})

	_, err := env.ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
	require.NoError(t, err)
	_, err = env.ExecuteActivity((&Activities{}).SearchManualDagNodeInstance, SearchInput{ProjectName: "p", DagID: 7})
	require.NoError(t, err)
	dw.searchErr = &dataworks.Error{Action: "SearchManualDagNodeInstance", Phase: dataworks.PhaseReplied, HTTPStatus: 429, Code: "Throttling.User"}
	_, err = env.ExecuteActivity((&Activities{}).SearchManualDagNodeInstance, SearchInput{ProjectName: "p", DagID: 7})
	require.Error(t, err)
	_, err = env.ExecuteActivity((&Activities{}).StopInstances, InstancesInput{DagID: 7, InstanceIDs: []int64{1, 2, 3}})
	require.NoError(t, err)

	calls := map[string]int64{}
	for _, c := range scope.Snapshot().Counters() {
		if c.Name() == MetricDataWorksCalls {
			calls[c.Tags()["action"]+" "+c.Tags()["code"]] += c.Value()
		}
	}
	assert.Equal(t, map[string]int64{
		"CreateManualDag OK":                          1,
		"SearchManualDagNodeInstance OK":              1,
		"SearchManualDagNodeInstance Throttling.User": 1,
		"StopInstance Forbidden.Access":               1,
		"StopInstance OK":                             1,
	}, calls)
	timed := map[string]int{}
	for _, tm := range scope.Snapshot().Timers() {
		if tm.Name() == MetricDataWorksCallLatency {
			timed[tm.Tags()["action"]] += len(tm.Values())
		}
	}
	assert.Equal(t, map[string]int{"CreateManualDag": 1, "SearchManualDagNodeInstance": 2, "StopInstance": 2}, timed)
}
