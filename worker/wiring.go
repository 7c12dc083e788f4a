package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks/aliyun"
	"github.com/manualdag/manualdag/internal/logging"
	"github.com/manualdag/manualdag/internal/temporalclient"
	"github.com/manualdag/manualdag/internal/version"
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

// The client the worker builds is what the activities consume; the checks
// live here because activities must not import the SDK-bound adapter.
var (
	_ activities.DataWorks         = (*aliyun.Client)(nil)
	_ activities.InstanceOps       = (*aliyun.Client)(nil)
	_ activities.WorkflowInstances = (*aliyun.Client)(nil)
)

// newDataWorks builds the DataWorks client and checks, before anything
// polls, that the credential chain yields a key.
func newDataWorks(cfg aliyun.Config) (*aliyun.Client, error) {
	dw, err := aliyun.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := dw.CheckCredentials(); err != nil {
		return nil, err
	}
	return dw, nil
}

// dial connects to Temporal with the worker's logger and metrics.
func dial(ctx context.Context, opts client.Options, logger *zap.Logger, metrics client.MetricsHandler) (client.Client, error) {
	opts.Logger = logging.NewTemporal(logger.Named("temporal"))
	opts.MetricsHandler = metrics
	return temporalclient.Dial(ctx, opts)
}

// logStart says once what this worker is and what it talks to, with a
// warning for each setting an operator should know is weak or going away.
func logStart(logger *zap.Logger, cfg config, accessKeyID string) {
	endpoint := cfg.DataWorks.Endpoint
	if endpoint == "" {
		endpoint = aliyun.EndpointForRegion(cfg.DataWorks.Region)
	}
	build := version.Get()
	logger.Info("worker starting",
		zap.String("version", build.Version),
		zap.String("revision", build.Revision),
		zap.String("temporalAddress", cfg.Temporal.HostPort),
		zap.String("namespace", cfg.Temporal.Namespace),
		zap.String("taskQueue", cfg.TaskQueue),
		zap.String("dataworksEndpoint", endpoint),
		zap.String("dataworksAPIVersion", cfg.DataWorks.APIVersion),
		zap.String("accessKeyId", accessKeyID),
		zap.Float64("qps", cfg.QPS),
		zap.Int("dailyBudget", cfg.DailyBudget),
	)
	for _, w := range cfg.EnvWarnings {
		logger.Warn(w)
	}
	if cfg.DataWorks.APIVersion == dag.APIVersion2018 {
		logger.Warn(weakAPIWarning, zap.String("dataworksAPIVersion", cfg.DataWorks.APIVersion))
	}
}

// weakAPIWarning is said once at start under the default API version, the
// reference design's: what it cannot do, and where the choice is explained.
const weakAPIWarning = "DataWorks API 2018-06-01 (the default) has no StopInstance, GetInstanceLog or RestartInstance: " +
	"a cancelled run or one past its deadline leaves its DataWorks instances running, reports carry no failed-node logs, and rerunFailed is refused; " +
	"set -dataworks-api-version 2020-05-18, or 2024-05-18 on the new Data Studio (MANUALDAG_DATAWORKS_API_VERSION), if the workspace allows it (README: \"Choose the API version\")"

// serve starts w and stops it on the first signal (a second one ends the
// process at once) or a fatal error.
func serve(ctx context.Context, w worker.Worker, fatal <-chan error, ready *readiness, cfg config, logger *zap.Logger) error {
	interrupt := make(chan any)
	go func() {
		<-ctx.Done()
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		logger.Info("signal received: stopping, in-flight activities may finish (a second signal stops at once)", zap.Duration("shutdownTimeout", cfg.ShutdownTimeout))
		close(interrupt)
	}()
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker on task queue %q: %w", cfg.TaskQueue, err)
	}
	ready.started.Store(true)
	var err error
	select {
	case <-interrupt:
	case err = <-fatal:
	}
	ready.started.Store(false)
	w.Stop()
	if err != nil {
		return fmt.Errorf("worker on task queue %q: %w", cfg.TaskQueue, err)
	}
	logger.Info("worker stopped")
	return nil
}
