package main

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/workflows"
)

// deps are what the worker's activities call besides Temporal.
type deps struct {
	DataWorks activities.DataWorks
	// Budget spreads the daily budget of DataWorks calls; used when
	// cfg.DailyBudget > 0.
	Budget *budget
	// OnFatalError receives the SDK's fatal error (once).
	OnFatalError func(error)
}

// newWorker builds the worker of cfg.TaskQueue with everything registered.
// It does not contact the server: Start does.
func newWorker(c client.Client, cfg config, d deps) worker.Worker {
	w := worker.New(c, cfg.TaskQueue, workerOptions(cfg, d.OnFatalError))
	// A backfill looks up earlier runs of each bizdate, and a run its
	// flow's earlier runs, through c.
	register(w, newActivities(cfg, d), &activities.Runs{Client: c})
	return w
}

func workerOptions(cfg config, onFatal func(error)) worker.Options {
	return worker.Options{
		TaskQueueActivitiesPerSecond:       cfg.QPS,
		MaxConcurrentActivityExecutionSize: cfg.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskPollers:   cfg.TaskPollers,
		MaxConcurrentActivityTaskPollers:   cfg.TaskPollers,
		WorkerStopTimeout:                  cfg.ShutdownTimeout,
		OnFatalError:                       onFatal,
	}
}

func newActivities(cfg config, d deps) *activities.Activities {
	acts := &activities.Activities{DW: d.DataWorks, QuotaBackoff: cfg.QuotaBackoff}
	if cfg.DailyBudget > 0 {
		acts.PollFloor = d.Budget.floor
	}
	return acts
}

// register registers the workflows under the names the starter starts them
// by, so that renaming a Go function cannot break the starter, and the
// activity structs under their method names (activities.CreateActivityName
// is the one that histories are searched for).
func register(r worker.Registry, acts *activities.Activities, runs *activities.Runs) {
	r.RegisterWorkflowWithOptions(workflows.RunManualDag, workflow.RegisterOptions{Name: workflows.WorkflowName})
	r.RegisterWorkflowWithOptions(workflows.BackfillManualDag, workflow.RegisterOptions{Name: workflows.BackfillWorkflowName})
	r.RegisterActivity(acts)
	r.RegisterActivity(runs)
}
