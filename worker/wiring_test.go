package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/workflows"
)

// recordingRegistry notes the names workflows are registered under.
type recordingRegistry struct {
	worker.Registry
	workflows []string
}

func (r *recordingRegistry) RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
	r.Registry.RegisterWorkflowWithOptions(w, o)
}

// The worker registers the workflows under the names the starter and the
// backfill start them by, and the create activity under the name that
// histories are searched for.
func TestRegisterNames(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	r := &recordingRegistry{Registry: env}
	register(r, &activities.Activities{}, &activities.Runs{})
	assert.ElementsMatch(t, []string{workflows.WorkflowName, workflows.BackfillWorkflowName}, r.workflows)
	assert.NotPanics(t, func() { env.OnActivity(activities.CreateActivityName, mock.Anything, mock.Anything) },
		"no activity is registered as %s, the name Runs.LookUpRun searches histories for", activities.CreateActivityName)
}

// newWorker builds and registers without a server: a lazy client connects
// only when the worker starts.
func TestNewWorkerWithoutServer(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	defer c.Close()
	cfg, err := parseConfig([]string{"-dataworks-daily-budget", "100"}, envOf(nil), nil)
	require.NoError(t, err)
	b := &budget{perDay: cfg.DailyBudget}
	w := newWorker(c, cfg, deps{Budget: b, OnFatalError: func(error) {}})
	require.NotNil(t, w)
	acts := newActivities(cfg, deps{Budget: b})
	require.NotNil(t, acts.PollFloor, "a daily budget sets the activities' poll floor")
	assert.Equal(t, b.floor(), acts.PollFloor())
}
