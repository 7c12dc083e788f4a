// Command worker runs RunManualDag and its DataWorks activities on a Temporal
// task queue. Configuration: see config.go (flags, environment, defaults);
// wiring: see wiring.go.
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

	"github.com/manualdag/manualdag/internal/logging"
	"github.com/manualdag/manualdag/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
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
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.PrintVersion {
		fmt.Fprintln(stdout, "worker", version.Get())
		return nil
	}
	if err := refuseSDKDebug(getenv("DEBUG")); err != nil {
		return err
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
	dw, err := newDataWorks(cfg.DataWorks)
	if err != nil {
		return err
	}
	c, err := dial(ctx, cfg.Temporal, logger, metrics)
	if err != nil {
		return err
	}
	defer c.Close()
	ready.client.Store(&c)
	checkSearchAttributes(ctx, c, cfg.Temporal.Namespace, logger)
	_, stopEvents, err := startEvents(cfg, c, metrics, logger)
	if err != nil {
		return err
	}
	defer stopEvents()

	fatal := make(chan error, 1) // the SDK reports a fatal error once
	b := &budget{perDay: cfg.DailyBudget}
	w := newWorker(c, cfg, deps{DataWorks: dw, Budget: b, OnFatalError: func(err error) { fatal <- err }})
	logStart(logger, cfg, dw.AccessKeyID())
	defer countWaiting(c, cfg, metrics, b, logger)()
	return serve(ctx, w, fatal, &ready, cfg, logger)
}

// refuseSDKDebug refuses DEBUG=sdk: the Alibaba SDK then prints every signed
// request URL (Signature, SecurityToken) and reply to stdout.
func refuseSDKDebug(debug string) error {
	if strings.Contains(strings.ToLower(debug), "sdk") {
		return fmt.Errorf("DEBUG=%s makes the Alibaba SDK print signed requests and security tokens; unset DEBUG (use -log-level debug for manualdag's own detail)", debug)
	}
	return nil
}
