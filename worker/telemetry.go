package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/internal/version"
	"github.com/manualdag/manualdag/workflows"
)

// latencyBuckets are the histogram buckets of every timer, the SDK's and
// ours: from a fast poll (5ms) to a slow DataWorks call (25s, the longest
// request timeout) and a long schedule-to-start latency.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60}

// sanitizeOptions are the SDK's Prometheus rules for names and label names,
// but label values keep the characters of task queues ("dataworks-manual-dag")
// and DataWorks codes ("Throttling.User"): Prometheus allows any value.
var sanitizeOptions = tally.SanitizeOptions{
	NameCharacters:       sdktally.PrometheusSanitizeOptions.NameCharacters,
	KeyCharacters:        sdktally.PrometheusSanitizeOptions.KeyCharacters,
	ValueCharacters:      tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: []rune{'_', '-', '.', '/', ':', '@'}},
	ReplacementCharacter: tally.DefaultReplacementCharacter,
}

// metricsReportInterval is how often tally hands counters to the Prometheus
// registry: a scrape sees an event at most this much later.
const metricsReportInterval = time.Second

// MetricDagsWaiting is the gauge of RunManualDag workflows open on the task
// queue (manualdag_dags_waiting).
const MetricDagsWaiting = "manualdag_dags_waiting"

// waitingInterval is how often the worker counts the open workflows.
const waitingInterval = 15 * time.Second

// newMetrics builds the Prometheus registry that the SDK's metrics and ours
// are exported from, with Go runtime and process metrics beside them. Close
// the returned closer to stop the reporting loop.
func newMetrics(logger *zap.Logger) (client.MetricsHandler, http.Handler, io.Closer) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo(version.Get()))
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: latencyBuckets,
		// The default panics: a metric registered twice with different tags
		// must not stop DAG runs.
		OnRegisterError: func(err error) { logger.Warn("metric not exported", zap.Error(err)) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sanitizeOptions,
	}, metricsReportInterval)
	handler := sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))
	return handler, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(logger)}), closer
}

// MetricBuildInfo is the constant 1 labelled with the worker's build, the
// Prometheus convention for versions: `count by (version)
// (manualdag_build_info)` shows a rollout's progress.
const MetricBuildInfo = "manualdag_build_info"

func buildInfo(v version.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        MetricBuildInfo,
		Help:        "The worker's build: version, VCS revision and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Revision, "go_version": v.GoVersion},
	})
	g.Set(1)
	return g
}

// readiness answers /readyz: ready once the worker has started, as long as
// Temporal answers its health check.
type readiness struct {
	started atomic.Bool
	client  atomic.Pointer[client.Client]
}

// readyCheckTimeout bounds Temporal's health check in /readyz; a probe's
// own timeout (Kubernetes: 1s by default) should be longer.
const readyCheckTimeout = 800 * time.Millisecond

func (r *readiness) check(ctx context.Context) error {
	c := r.client.Load()
	if c == nil || !r.started.Load() {
		return errors.New("the worker has not started")
	}
	ctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
	defer cancel()
	if _, err := (*c).CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("no answer from Temporal: %w", err)
	}
	return nil
}

// telemetryMux serves /metrics, /healthz (the process answers) and /readyz.
func telemetryMux(metrics http.Handler, ready func(context.Context) error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if err := ready(req.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// serveTelemetry listens on addr and serves mux until shutdown is called.
// It returns the address it listens on (addr may have port 0).
func serveTelemetry(addr string, mux http.Handler, logger *zap.Logger) (net.Addr, func(context.Context), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics-address %s: %w (pick a free port, or \"off\")", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics and health endpoint stopped", zap.Error(err))
		}
	}()
	shutdown := func(ctx context.Context) { _ = srv.Shutdown(ctx) }
	return ln.Addr(), shutdown, nil
}

// reportWaiting counts every waitingInterval, until ctx is done, the
// RunManualDag workflows open on the task queue, and hands the count to
// onCount (MetricDagsWaiting and the daily budget). Temporal's visibility
// store counts them, so every worker of the queue sees the same number
// (aggregate the gauge with max, not sum).
func reportWaiting(ctx context.Context, c client.Client, namespace, taskQueue string, onCount func(int64), logger *zap.Logger) {
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'", workflows.WorkflowName, taskQueue)
	warned := false
	t := time.NewTicker(waitingInterval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.CountWorkflow(cctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		cancel()
		switch {
		case err == nil:
			onCount(resp.GetCount())
			warned = false
		case ctx.Err() == nil && !warned:
			logger.Warn("could not count the open DAG runs for "+MetricDagsWaiting, zap.Error(err))
			warned = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// countWaiting runs reportWaiting for the daily budget and the
// MetricDagsWaiting gauge until stop is called; without either it does
// nothing.
func countWaiting(c client.Client, cfg config, metrics client.MetricsHandler, b *budget, logger *zap.Logger) (stop func()) {
	if metrics == nil && cfg.DailyBudget <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	onCount := func(n int64) { b.waiting.Store(n) }
	if metrics != nil {
		gauge := metrics.WithTags(map[string]string{"namespace": cfg.Temporal.Namespace, "task_queue": cfg.TaskQueue}).Gauge(MetricDagsWaiting)
		onCount = func(n int64) { b.waiting.Store(n); gauge.Update(float64(n)) }
	}
	go reportWaiting(ctx, c, cfg.Temporal.Namespace, cfg.TaskQueue, onCount, logger)
	return cancel
}

// startTelemetry serves the metrics and health endpoints on addr ("" = no
// endpoint: a nil handler, the SDK then reports nothing). stop shuts them
// down.
func startTelemetry(addr string, ready *readiness, logger *zap.Logger) (h client.MetricsHandler, stop func(), err error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	h, metrics, closer := newMetrics(logger)
	bound, shutdown, err := serveTelemetry(addr, telemetryMux(metrics, ready.check), logger)
	if err != nil {
		_ = closer.Close()
		return nil, nil, err
	}
	logger.Info("serving /metrics, /healthz and /readyz", zap.String("address", bound.String()))
	return h, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		shutdown(ctx)
		_ = closer.Close()
	}, nil
}
