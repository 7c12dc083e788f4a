// Command worker runs RunManualDag and its DataWorks activities on a Temporal
// task queue. Configuration: see config.go (flags, environment, defaults).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	// Workflow code loads time zones (the default bizdate); the same data on
	// every worker, whatever its image, keeps replays deterministic.
	_ "time/tzdata"

	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/internal/logging"
	"github.com/manualdag/manualdag/internal/temporalclient"
	"github.com/manualdag/manualdag/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		// One line, so that log collectors keep the whole reason together.
		fmt.Fprintln(os.Stderr, "worker:", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}

// run serves the task queue until ctx is done (SIGINT/SIGTERM), then stops
// the worker, letting in-flight activities finish within the shutdown timeout.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if strings.Contains(strings.ToLower(getenv("DEBUG")), "sdk") {
		// The Alibaba SDK then prints every signed request URL (Signature,
		// SecurityToken) and reply to stdout.
		return fmt.Errorf("DEBUG=%s makes the Alibaba SDK print signed requests and security tokens; unset DEBUG (use -log-level debug for manualdag's own detail)", getenv("DEBUG"))
	}
	logger, err := logging.New(cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	// Liveness answers from here on; readiness once the worker polls.
	var ready readiness
	metrics, stopTelemetry, err := startTelemetry(cfg.MetricsAddress, &ready, logger)
	if err != nil {
		return err
	}
	defer stopTelemetry()

	dw, err := dataworks.New(cfg.DataWorks)
	if err != nil {
		return err
	}
	if err := dw.CheckCredentials(); err != nil {
		return err
	}
	c, err := temporalclient.Dial(ctx, temporalclient.Options{
		Address:   cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    logging.NewTemporal(logger.Named("temporal")),

		MetricsHandler: metrics,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	ready.client.Store(&c)
	checkSearchAttributes(ctx, c, cfg.TemporalNamespace, logger)

	fatal := make(chan error, 1) // the SDK reports a fatal error once
	w := worker.New(c, cfg.TaskQueue, worker.Options{
		TaskQueueActivitiesPerSecond:       cfg.QPS,
		MaxConcurrentActivityExecutionSize: cfg.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskPollers:   cfg.TaskPollers,
		MaxConcurrentActivityTaskPollers:   cfg.TaskPollers,
		WorkerStopTimeout:                  cfg.ShutdownTimeout,
		OnFatalError:                       func(err error) { fatal <- err },
	})
	w.RegisterWorkflow(workflows.RunManualDag)
	w.RegisterWorkflow(workflows.BackfillManualDag)
	acts := &activities.Activities{DW: dw, QuotaBackoff: cfg.QuotaBackoff}
	budget := &budget{perDay: cfg.DailyBudget}
	if cfg.DailyBudget > 0 {
		acts.PollFloor = budget.floor
	}
	w.RegisterActivity(acts)
	// A backfill looks up earlier runs of each bizdate, and a run its flow's
	// earlier runs, through this client.
	w.RegisterActivity(&activities.Runs{Client: c})

	endpoint := cfg.DataWorks.Endpoint
	if endpoint == "" {
		endpoint = dataworks.EndpointForRegion(cfg.DataWorks.Region)
	}
	logger.Info("worker starting",
		zap.String("temporalAddress", cfg.TemporalAddress),
		zap.String("namespace", cfg.TemporalNamespace),
		zap.String("taskQueue", cfg.TaskQueue),
		zap.String("dataworksEndpoint", endpoint),
		zap.String("dataworksAPIVersion", cfg.DataWorks.APIVersion),
		zap.String("accessKeyId", dw.AccessKeyID()),
		zap.Float64("qps", cfg.QPS),
		zap.Int("dailyBudget", cfg.DailyBudget),
	)
	interrupt := make(chan any)
	go func() {
		<-ctx.Done()
		// A second signal ends the process at once.
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		logger.Info("signal received: stopping, in-flight activities may finish (a second signal stops at once)", zap.Duration("shutdownTimeout", cfg.ShutdownTimeout))
		close(interrupt)
	}()
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker on task queue %q: %w", cfg.TaskQueue, err)
	}
	ready.started.Store(true)
	if metrics != nil || cfg.DailyBudget > 0 {
		waitCtx, stopWaiting := context.WithCancel(context.Background())
		defer stopWaiting()
		onCount := func(n int64) { budget.waiting.Store(n) }
		if metrics != nil {
			gauge := metrics.WithTags(map[string]string{"namespace": cfg.TemporalNamespace, "task_queue": cfg.TaskQueue}).Gauge(MetricDagsWaiting)
			onCount = func(n int64) { budget.waiting.Store(n); gauge.Update(float64(n)) }
		}
		go reportWaiting(waitCtx, c, cfg.TemporalNamespace, cfg.TaskQueue, onCount, logger)
	}
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
